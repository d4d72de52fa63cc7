"""Lesson 04's exercise: the reference solution (offsets_for_times + seek) passes; the
placeholder, a dict instead of the function, and right numbers got without the seek are
rejected with a hint."""

from __future__ import annotations

from exercises import KEEP_FOREVER, assert_hint

from labkit import checks, events


def ledger(lab, topic) -> tuple[str, int, dict[str, int]]:
    """A 3-partition ledger stamped with the transactions' times, the exercise's `since`
    and the change per account since then."""
    name = topic("l04ex", partitions=3, **KEEP_FOREVER)
    txs = list(events.ledger(90, seed=9))
    lab.produce(name, txs, key="account_id", timestamp="ts")  # the records carry the transactions' times
    since = txs[30]["ts"]
    expected: dict[str, int] = {}
    for tx in txs:
        if tx["ts"] >= since:
            expected[tx["account_id"]] = expected.get(tx["account_id"], 0) + tx["amount_cents"]
    return name, since, expected


def test_lesson_04_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    name, since, expected = ledger(lab, topic)
    assert_hint(checks.lesson_04_since(lab, name, since, lambda consumer, since: {}))  # the placeholder
    result = checks.lesson_04_since(lab, name, since, solution.changes_since)
    assert result.ok, result
    assert_hint(checks.lesson_04_since(lab, name, since, expected))  # a dict, not the function


def test_lesson_04_rejects_right_numbers_without_a_seek(lab, topic, solution):
    """Reading everything (and filtering in Python) or summing lab.read() gives the right
    numbers; the check still fails, with a hint naming offsets_for_times and seek."""
    name, since, _ = ledger(lab, topic)
    everything = checks.lesson_04_since(lab, name, since, solution.wrong_read_everything)
    assert_hint(everything)
    assert "from before the fix" in everything.message and "offsets_for_times" in everything.hints[0]
    python_only = checks.lesson_04_since(lab, name, since, solution.wrong_pure_python(lab, name))
    assert_hint(python_only)
    assert "read nothing" in python_only.message and "seek" in python_only.hints[0]
