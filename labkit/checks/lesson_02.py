"""Lesson 02's exercise (notebooks/02_topics_partitions_keys.ipynb, "Exercise": the cell
``checks.lesson_02_order(lab, EXERCISE)``): send deliveries so each order stays in order.

Checked by reading the learner's topic back: every order's events must sit in one
partition, in the generator's order, keyed by the order (not by a field with few values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import events
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab


def lesson_02_order(lab: Lab, topic: str) -> Result:
    """Exercise 02: ``events.deliveries(60, seed=2)`` in ``topic`` so that every order's
    status changes are read back in order."""
    expected = list(events.deliveries(60, seed=2))
    df = lab.read(topic)
    if df.empty:
        return failed(f"{topic!r} is empty.", "Send the 60 deliveries, then producer.flush().")
    if len(df) != len(expected) or "order_id" not in df:
        return failed(
            f"Found {len(df)} events, expected 60 deliveries.",
            "Recreate the topic (run its cell again) and send events.deliveries(60, seed=2) once.",
        )
    spread = df.groupby("order_id")["partition"].nunique()
    if (spread > 1).any():
        order = spread[spread > 1].index[0]
        parts = sorted(df.loc[df["order_id"] == order, "partition"].unique().tolist())
        hint = (
            "Without a key the producer spreads events over partitions, and Kafka keeps order only "
            "inside one partition."
            if df["key"].isna().all()
            else "Which field is the same for all the events that must stay in order?"
        )
        return failed(f"{order}'s events landed in partitions {parts}: they can be read out of order.", hint)
    for order, part in df.sort_values("offset").groupby("order_id"):
        if list(part["step"]) != sorted(part["step"]):
            return failed(
                f"{order}'s statuses are out of order in its partition.",
                "Send the events in the order the generator gives them.",
            )
    if not (df["key"] == df["order_id"]).all():
        return failed(
            f"Each order stays in one partition, but there are only {df['key'].nunique()} distinct keys.",
            "Few keys means few busy partitions. Key by the field that names the thing whose order matters.",
        )
    return passed("Every order lives in one partition, so its status changes are read in order.")
