"""Lesson 06's exercise (notebooks/06_windows.ipynb, "Exercise": the cell
``checks.lesson_06_hop(lab, my_sql)``): hopping windows in Flink SQL.

The check runs the learner's query itself over the topic (`sql.run_sql`) and compares the
window rows with `labkit.reference.windows_pandas` on the events in that topic; the usual
mistakes (tumbling windows, slide and size swapped) are recognised by computing them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..reference import same_windows, windows_pandas
from .result import Result, failed, passed
from .sql import run_sql

if TYPE_CHECKING:
    from ..lab import Lab

LESSON_06_SCHEMA = (
    "event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT, "
    "ev_time AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR ev_time AS ev_time - INTERVAL '1' SECOND"
)


def lesson_06_hop(lab: Lab, sql: Any, *, topic: str = "l06-clicks") -> Result:
    """Page views per device in hopping windows of 20 s that slide every 10 s: columns
    window_start, window_end, device, n."""
    df = run_sql(lab, sql, LESSON_06_SCHEMA, topic)
    if isinstance(df, Result):  # Flink did not run it: the result says why
        return df
    cols = ["window_start", "window_end", "device", "n"]
    if sorted(df.columns) != sorted(cols):
        return failed(f"Your columns are {list(df.columns)}.",
                      "Return window_start, window_end, device and the count AS n.")
    events = lab.read(topic)
    want = windows_pandas(events, "hop", 20, 10, key="device")
    if same_windows(df, want):
        return passed(f"{len(df)} window rows, the same as pandas computes - each event counted twice.")
    if same_windows(df, windows_pandas(events, "tumble", 20, key="device")) or same_windows(
        df, windows_pandas(events, "tumble", 10, key="device")
    ):
        return failed(
            "Those windows do not overlap.", "A hopping window is HOP(TABLE t, DESCRIPTOR(col), slide, size)."
        )
    if same_windows(df, windows_pandas(events, "hop", 10, 20, key="device")):
        return failed("Slide and size are swapped.", "HOP takes the slide first, then the size.")
    return failed("The counts differ from pandas'.",
                  "Group by window_start, window_end and device, and count with COUNT(*) AS n.")
