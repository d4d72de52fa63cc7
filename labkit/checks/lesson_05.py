"""Lesson 05's exercise (notebooks/05_flink_first_job.ipynb, "Exercise": the cell
``checks.lesson_05_filter(lab, my_sql)``): a Flink SQL filter over the lesson's clicks.

The check runs the learner's query itself over the topic (`sql.run_sql`) and compares its
rows with the same filter done in pandas on the events in that topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .result import Result, failed, passed
from .sql import run_sql

if TYPE_CHECKING:
    from ..lab import Lab

LESSON_05_SCHEMA = "event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT"


def lesson_05_filter(lab: Lab, sql: Any, *, topic: str = "l05-clicks") -> Result:
    """Mobile views of product pages: event_id, user_id, page of every click whose device
    is 'mobile' and whose page starts with '/product/'."""
    df = run_sql(lab, sql, LESSON_05_SCHEMA, topic)
    if isinstance(df, Result):  # Flink did not run it: the result says why
        return df
    events = lab.read(topic)
    want = events[(events["device"] == "mobile") & events["page"].str.startswith("/product/")]
    if list(df.columns) != ["event_id", "user_id", "page"]:
        return failed(
            f"Your columns are {list(df.columns)}.", "Select exactly event_id, user_id, page - in that order."
        )
    got, expected = set(df["event_id"]), set(want["event_id"])
    if got == expected and len(df) == len(want):
        return passed(f"{len(df)} mobile product views - the same as counting them by hand in pandas.")
    if got > expected:
        return failed(
            f"{len(got - expected)} row(s) too many.", "Both conditions must hold: combine them with AND."
        )
    if got < expected:
        return failed(
            f"{len(expected - got)} row(s) missing.",
            "Are you matching every product page - /product/1, /product/2 and the rest - and not just one?",
        )
    return failed(
        "Not the right rows.",
        "Look at the device and page columns of a few clicks: which values make a mobile view of a "
        "product page?",
    )
