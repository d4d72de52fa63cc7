"""Lesson 07's exercise (notebooks/07_event_time_watermarks.ipynb, "Exercise": the cell
``checks.lesson_07_bound(lab, my_bound, my_event)``): the smallest watermark bound that loses
nothing, and one event that makes it necessary.

Checked on Flink, not with the simulation: `flink_late` runs the lesson's late-event query
(section 3's ``late_clicks``: an event whose window's end the watermark has already passed
when it arrives) over the topic as a streaming job, with the learner's bound and with one
second less. The bound passes if Flink drops nothing with it and something with one second
less; the event must be one that Flink drops with one second less. A search over bounds
alone does not pass: the event says the learner looked at the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab

#: Section 3's late-event query: the watermark has passed the end of the event's window.
LATE_SQL = (
    "SELECT event_id FROM clicks "
    "WHERE CURRENT_WATERMARK(ev_time) >= TO_TIMESTAMP_LTZ(ts - MOD(ts, {ms}) + {ms} - 1, 3)"
)

_runs: dict[tuple, list[str]] = {}  # (topic, its events, bound, size) -> what Flink found late


def flink_late(lab: Lab, topic: str, bound: int, size: float = 5) -> list[str]:
    """The ids of the events of ``topic`` that Flink finds late for windows of ``size`` s and
    a watermark ``bound`` s behind the newest event time (moved after every event, as in the
    lesson), in the order Flink read them. One streaming Flink job per topic content and
    bound (a repeated question is answered from the first run)."""
    from ..panels.lesson07 import clicks_schema  # the lesson's table, with this bound

    events = lab.read(topic)
    key = (topic, tuple(events["event_id"]) if "event_id" in events else (), bound, size)
    if key not in _runs:
        rows = lab.query(
            LATE_SQL.format(ms=int(size * 1000)),
            {"clicks": clicks_schema(bound)},
            topics={"clicks": topic},
            streaming=True,
            options={"scan.watermark.emit.strategy": "on-event"},
        )
        _runs[key] = [str(x) for x in rows["event_id"]]
    return _runs[key]


def lesson_07_bound(
    lab: Lab, seconds: Any, event: Any = None, *, topic: str = "l07-exercise", size: float = 5
) -> Result:
    """The smallest whole number of seconds of watermark bound for which the 5 s tumbling
    windows over ``topic`` drop no event as late, and ``event``: the id of one event that
    a bound one second smaller drops. Both checked on Flink (`flink_late`)."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return failed("No bound yet.", "Answer with a whole number of seconds, e.g. my_bound = 2.")
    events = lab.read(topic)
    if events.empty:
        return failed(f"{topic!r} is empty.", "Run the cell above the exercise first: it fills the topic.")
    if seconds < 0:
        return failed("A bound cannot be negative.", "The bound is how long the watermark stays behind.")
    if seconds != int(seconds):
        return failed(
            f"{seconds} is not a whole number of seconds.",
            "The question asks for whole seconds, and Flink's INTERVAL '...' SECOND takes a whole number.",
        )
    bound = int(seconds)
    late = flink_late(lab, topic, bound, size)
    look = (
        "Read the topic in offset order (the order Flink reads it): for each event, how far past the end "
        "of its own window is the newest event time seen before it? The bound must cover that gap."
    )
    if late:
        return failed(f"With {bound} s Flink drops {len(late)} event(s) as late, {late[0]} first.", look)
    if bound == 0:
        return passed("0 s: Flink drops nothing even without slack - this stream arrives in order.")
    below = flink_late(lab, topic, bound - 1, size)
    if not below:
        return failed(
            f"Flink drops nothing with {bound} s - and nothing with {bound - 1} s either: every result "
            "would wait longer than this stream needs.",
            look,
        )
    if event is None or (isinstance(event, str) and not event.strip()):
        return failed(
            f"Flink drops nothing with {bound} s. Now my_event: which event needs that last second?",
            "Run section 3's late query over the topic with one second less of bound "
            "(lab.query(..., streaming=True)), or find the event with the largest gap described above.",
        )
    if str(event) not in set(events["event_id"].astype(str)):
        return failed(
            f"{event!r} is not an event of {topic!r}.", "Use an event_id from lab.read(...) of that topic."
        )
    if str(event) not in below:
        return failed(
            f"Flink keeps {event} with {bound - 1} s as well: that event does not need the extra second.",
            look,
        )
    return passed(
        f"{bound} s: Flink drops nothing; with {bound - 1} s it drops {len(below)} event(s), {event} among "
        "them. Complete, and no result waits longer than this stream needs."
    )
