"""Lesson 01's exercise: the reference solution passes; a producer that forgets the
record timestamps, and the untouched placeholder, get a hint."""

from __future__ import annotations

from exercises import KEEP_FOREVER, assert_hint

from labkit import checks


def test_lesson_01_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    empty = topic("l01ex", partitions=2, **KEEP_FOREVER)
    assert_hint(checks.lesson_01_produce(lab, empty))  # the untouched placeholder
    right = topic("l01ex", partitions=2, **KEEP_FOREVER)
    solution.answer(lab, right)
    result = checks.lesson_01_produce(lab, right)
    assert result.ok, result
    wrong = topic("l01ex", partitions=2, **KEEP_FOREVER)
    solution.wrong_no_timestamp(lab, wrong)
    result = checks.lesson_01_produce(lab, wrong)
    assert_hint(result)
    assert "timestamp" in result.hints[0] and "payment['ts']" not in result.hints[0]
