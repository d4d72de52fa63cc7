"""The Kafka lessons' exercises (01-04): the hidden reference solutions pass their checks,
and typical wrong answers (including the untouched placeholder) get a hint instead."""

from __future__ import annotations

import time
import uuid

import pytest
from solutions import load as solution

from labkit import checks, events


def assert_hint(result: checks.Result) -> None:
    assert not result.ok
    assert result.hints, f"a wrong answer must come with a hint: {result}"


@pytest.fixture
def kept_topic(lab):
    """Topics for lesson 01's payments, stamped 2026-01-01: like the lesson's, they keep
    events for ever (``retention.ms=-1``), or Kafka's time-based retention (7 days by
    default, judged by the records' timestamps) would delete them within seconds."""
    made: list[str] = []

    def make(prefix: str, partitions: int = 1) -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(lab.create_topic(name, partitions=partitions, config={"retention.ms": "-1"}))
        return name

    yield make
    lab.delete_topic(*made)


def test_lesson_01_reference_passes_and_wrong_answers_get_hints(lab, kept_topic):
    sol = solution("lesson_01")
    empty = kept_topic("l01ex", partitions=2)
    assert_hint(checks.lesson_01_produce(lab, empty))  # the untouched placeholder
    right = kept_topic("l01ex", partitions=2)
    sol.answer(lab, right)
    result = checks.lesson_01_produce(lab, right)
    assert result.ok, result
    wrong = kept_topic("l01ex", partitions=2)
    sol.wrong_no_timestamp(lab, wrong)
    result = checks.lesson_01_produce(lab, wrong)
    assert_hint(result)
    assert "timestamp_ms" in result.hints[0]


def test_lesson_02_reference_passes_and_wrong_answers_get_hints(lab, topic):
    sol = solution("lesson_02")
    assert_hint(checks.lesson_02_order(lab, topic("l02ex", partitions=4)))
    right = topic("l02ex", partitions=4)
    sol.answer(lab, right)
    result = checks.lesson_02_order(lab, right)
    assert result.ok, result
    wrong = topic("l02ex", partitions=4)
    sol.wrong_key_by_status(lab, wrong)
    result = checks.lesson_02_order(lab, wrong)
    assert_hint(result)
    assert "partitions" in result.message


def test_lesson_03_reference_passes_and_wrong_answers_get_hints():
    sol = solution("lesson_03")
    assert checks.lesson_03_lag(sol.lag).ok
    assert_hint(checks.lesson_03_lag(lambda ends, committed: {}))  # the placeholder
    none = checks.lesson_03_lag(sol.wrong_none)
    assert_hint(none)
    assert "None" in none.hints[0]
    sign = checks.lesson_03_lag(sol.wrong_sign)
    assert_hint(sign)
    assert "behind" in sign.hints[0]


def test_lesson_04_reference_passes_and_wrong_answers_get_hints(lab, topic):
    sol = solution("lesson_04")
    name = topic("l04ex", partitions=3)
    txs = list(events.ledger(90, seed=9))
    marks = []
    for n in range(3):
        marks.append(int(time.time() * 1000))
        time.sleep(0.2)
        lab.produce(name, txs[n * 30 : (n + 1) * 30], key="account_id")
        time.sleep(0.2)
    since = marks[1]
    assert_hint(checks.lesson_04_since(lab, name, since, {}))  # the placeholder
    got = sol.answer(lab, name, since)
    expected: dict[str, int] = {}
    for tx in txs[30:]:
        expected[tx["account_id"]] = expected.get(tx["account_id"], 0) + tx["amount_cents"]
    assert got == expected  # the check's notion of "since" matches the batches
    result = checks.lesson_04_since(lab, name, since, got)
    assert result.ok, result
    result = checks.lesson_04_since(lab, name, since, sol.wrong_everything(lab, name, since))
    assert_hint(result)
    assert "every event" in result.message


@pytest.mark.parametrize("placeholder", [None, [], "x"])
def test_lesson_03_odd_answers_do_not_crash(placeholder):
    assert_hint(checks.lesson_03_lag(lambda ends, committed: placeholder))
