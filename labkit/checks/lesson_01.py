"""Lesson 01's exercise (notebooks/01_events.ipynb, "Exercise": the cell
``checks.lesson_01_produce(lab, EXERCISE)``): produce the first 20 payments of seed 7.

Checked by reading the learner's topic back: the events, their keys, their record
timestamps and a header, each compared with `labkit.events.payments(20, seed=7)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import events
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab


def lesson_01_produce(lab: Lab, topic: str) -> Result:
    """Exercise 01: the first 20 of ``events.payments(seed=7)`` in ``topic``, keyed by
    account_id, record timestamp = the event's ``ts``, header ``source=exercise``."""
    expected = list(events.payments(20, seed=7))
    df = lab.read(topic)
    if df.empty:
        return failed(
            f"{topic!r} is empty.",
            "Send each payment with producer.send(...), then call producer.flush() so the "
            "producer does not keep them in its buffer.",
        )
    if len(df) != len(expected):
        extra = ""
        if len(df) > 20:
            extra = " Run the cell that creates the topic (replace=True) again, then send once."
        return failed(f"Found {len(df)} events, expected 20.{extra}", "Use events.payments(20, seed=7).")
    by_id = {e["tx_id"]: e for e in expected}
    if "tx_id" not in df or set(df["tx_id"]) != set(by_id):
        return failed("These are not the first 20 payments of seed 7.", "Use events.payments(20, seed=7).")
    rows = df.to_dict("records")
    if any(r["key"] != by_id[r["tx_id"]]["account_id"] for r in rows):
        return failed(
            "The keys are not the account ids.",
            "producer.send takes a record's key as well as its value: which field names a payment's account?",
        )
    stamps = {r["tx_id"]: int(r["timestamp"].value // 1_000_000) for r in rows}
    if any(stamps[t] != by_id[t]["ts"] for t in stamps):
        return failed(
            "The record timestamps are the send time, not when the payment happened.",
            "producer.send can set each record's timestamp (in milliseconds); each payment says when it "
            "happened.",
        )
    if "headers" not in df or any((r.get("headers") or {}).get("source") != "exercise" for r in rows):
        return failed(
            "The header is missing or different.",
            "Headers are a list of (name, value) pairs, each value bytes; the exercise names the header "
            "and its value.",
        )
    return passed("20 payments, keyed by account, stamped with when they happened, with a header.")
