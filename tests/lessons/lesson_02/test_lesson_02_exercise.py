"""Lesson 02's exercise: the reference solution passes; keying by status, and the
untouched placeholder, get a hint."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks


def test_lesson_02_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    assert_hint(checks.lesson_02_order(lab, topic("l02ex", partitions=4)))
    right = topic("l02ex", partitions=4)
    solution.answer(lab, right)
    result = checks.lesson_02_order(lab, right)
    assert result.ok, result
    wrong = topic("l02ex", partitions=4)
    solution.wrong_key_by_status(lab, wrong)
    result = checks.lesson_02_order(lab, wrong)
    assert_hint(result)
    assert "partitions" in result.message
