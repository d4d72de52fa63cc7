"""The Flink lessons' exercises (05-08): the hidden reference solutions pass their
checks, and typical wrong answers get a hint instead."""

from __future__ import annotations

import uuid

import pytest
from solutions import load as solution

from labkit import checks, events


@pytest.fixture(scope="module")
def clicks_topic(lab):
    """One topic of deterministic clicks (with event time) for the 05 and 06 checks."""
    name = f"test-l0506-clicks-{uuid.uuid4().hex[:8]}"
    lab.create_topic(name, partitions=2, replace=True)
    lab.produce(name, list(events.clicks(200, seed=11, rate=4, users=8)), key="user_id", timestamp="ts")
    yield name
    lab.delete_topic(name)


def test_lesson_05_reference_passes_and_wrong_answers_get_hints(lab, clicks_topic):
    sol = solution("lesson_05")
    assert checks.lesson_05_filter(lab, sol.ANSWER, topic=clicks_topic).ok
    wrong = checks.lesson_05_filter(lab, sol.WRONG_OR, topic=clicks_topic)
    assert not wrong.ok and "AND" in wrong.hints[0]
    placeholder = checks.lesson_05_filter(lab, None, topic=clicks_topic)
    assert not placeholder.ok and placeholder.message == "No query yet."
    broken = checks.lesson_05_filter(lab, "SELECT nope FROM clicks", topic=clicks_topic)
    assert not broken.ok and broken.hints and "nope" in broken.hints[0]


def test_lesson_06_reference_passes_and_wrong_answers_get_hints(lab, clicks_topic):
    sol = solution("lesson_06")
    assert checks.lesson_06_hop(lab, sol.ANSWER, topic=clicks_topic).ok
    tumble = checks.lesson_06_hop(lab, sol.WRONG_TUMBLE, topic=clicks_topic)
    assert not tumble.ok and "HOP" in tumble.hints[0]
    swapped = checks.lesson_06_hop(lab, sol.WRONG_SWAPPED, topic=clicks_topic)
    assert not swapped.ok and "slide" in swapped.hints[0]


def test_lesson_07_reference_passes_and_wrong_answers_get_hints(lab):
    from labkit.flink_panels import arrival_order

    sol = solution("lesson_07")
    name = f"test-l07-clicks-{uuid.uuid4().hex[:8]}"
    lab.create_topic(name, partitions=1, replace=True)
    try:
        arrived = arrival_order(events.clicks(300, seed=7, rate=10, users=8), disorder=3, seed=1)
        lab.produce(name, arrived, key="user_id", timestamp="ts")
        assert checks.lesson_07_bound(lab, sol.ANSWER, topic=name).ok
        small = checks.lesson_07_bound(lab, sol.WRONG_TOO_SMALL, topic=name)
        assert not small.ok and "window closed" in small.message and small.hints
        big = checks.lesson_07_bound(lab, sol.WRONG_TOO_BIG, topic=name)
        assert not big.ok and "smaller" in big.hints[0]
        placeholder = checks.lesson_07_bound(lab, None, topic=name)
        assert not placeholder.ok and placeholder.message == "No bound yet."
    finally:
        lab.delete_topic(name)


def test_lesson_08_reference_passes_and_wrong_answers_get_hints(lab):
    """The check only reads topics: fake the job's at-least-once output, replay included."""
    sol = solution("lesson_08")
    uid = uuid.uuid4().hex[:8]
    pay, out = f"test-l08-payments-{uid}", f"test-l08-totals-{uid}"
    for name in (pay, out):
        lab.create_topic(name, partitions=1, replace=True)
    try:
        payments = list(events.payments(60, seed=8, accounts=4))
        lab.produce(pay, payments, key="account_id")
        totals, records = {}, []
        for p in payments:
            totals[p["account_id"]] = round(totals.get(p["account_id"], 0.0) + p["amount"], 2)
            records.append({**p, "total": totals[p["account_id"]]})
        replayed = records[:40] + records[30:]  # a crash after #40, restored from a checkpoint at #30
        lab.produce(out, replayed, key="account_id")
        assert checks.lesson_08_totals(lab, sol.answer(lab, out), payments=pay, totals=out).ok
        wrong = checks.lesson_08_totals(lab, sol.wrong_summed_amounts(lab, out), payments=pay, totals=out)
        assert not wrong.ok and "twice" in wrong.message and "last" in wrong.hints[0]
        placeholder = checks.lesson_08_totals(lab, None, payments=pay, totals=out)
        assert not placeholder.ok and placeholder.message == "No answer yet."
    finally:
        lab.delete_topic(pay, out)
