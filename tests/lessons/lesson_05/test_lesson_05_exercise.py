"""Lesson 05's exercise: the reference query passes; OR instead of AND, the placeholder and
a query Flink cannot run get a hint."""

from __future__ import annotations

from labkit import checks


def test_lesson_05_reference_passes_and_wrong_answers_get_hints(lab, clicks_topic, solution):
    assert checks.lesson_05_filter(lab, solution.ANSWER, topic=clicks_topic).ok
    wrong = checks.lesson_05_filter(lab, solution.WRONG_OR, topic=clicks_topic)
    assert not wrong.ok and "AND" in wrong.hints[0]
    placeholder = checks.lesson_05_filter(lab, None, topic=clicks_topic)
    assert not placeholder.ok and placeholder.message == "No query yet."
    broken = checks.lesson_05_filter(lab, "SELECT nope FROM clicks", topic=clicks_topic)
    assert not broken.ok and broken.hints and "nope" in broken.hints[0]
