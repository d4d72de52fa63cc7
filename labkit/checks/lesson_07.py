"""Lesson 07's exercise (notebooks/07_event_time_watermarks.ipynb, "Exercise": the cell
``checks.lesson_07_bound(lab, my_bound)``): the smallest watermark bound that loses nothing.

Checked with `labkit.reference.watermark_sim` on the events of the lesson's topic, in the
order they arrived: only the smallest whole number of seconds that drops no event passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..reference import watermark_sim
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab


def lesson_07_bound(lab: Lab, seconds: Any, *, topic: str = "l07-exercise", size: float = 5) -> Result:
    """The smallest whole number of seconds of watermark bound for which the 5 s tumbling
    windows over ``topic`` (events in the order they arrived) drop no event as late.

    Checked exactly: only that whole number passes. A bound that loses nothing but is not
    a whole number (or not the smallest) gets a hint, not a tick."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return failed("No bound yet.", "Answer with a whole number of seconds, e.g. my_bound = 2.")
    arrived = lab.read(topic).sort_values(["partition", "offset"]).to_dict("records")
    if not arrived:
        return failed(f"{topic!r} is empty.", "Run the cell above the exercise first: it fills the topic.")

    def late(bound: float) -> int:
        return int(watermark_sim(arrived, bound, size)[0]["late"].sum())

    best = next(b for b in range(0, 3600) if late(b) == 0)
    if seconds < 0:
        return failed("A bound cannot be negative.", "The bound is how long the watermark stays behind.")
    if seconds != int(seconds):
        return failed(
            f"{seconds} is not a whole number of seconds.",
            "The question asks for whole seconds: which whole number is the smallest that loses nothing?",
        )
    lost = late(seconds)
    if lost > 0:
        return failed(
            f"With {int(seconds)} s, {lost} event(s) still arrive after their window closed.",
            "Try larger bounds: look at the largest gap between an event's time and the watermark "
            "when it arrived.",
        )
    if seconds > best:
        return failed(
            f"No event is late with {int(seconds)} s - but every result then waits longer than it needs to.",
            "Try smaller bounds: which is the smallest that still loses nothing?",
        )
    return passed(f"{best} s: the smallest bound that loses no event - complete, and as fast as that allows.")
