"""Lesson 06's exercise: the reference HOP query passes; tumbling windows and slide and
size swapped get a hint."""

from __future__ import annotations

from labkit import checks


def test_lesson_06_reference_passes_and_wrong_answers_get_hints(lab, clicks_topic, solution):
    assert checks.lesson_06_hop(lab, solution.ANSWER, topic=clicks_topic).ok
    tumble = checks.lesson_06_hop(lab, solution.WRONG_TUMBLE, topic=clicks_topic)
    assert not tumble.ok and "HOP" in tumble.hints[0]
    swapped = checks.lesson_06_hop(lab, solution.WRONG_SWAPPED, topic=clicks_topic)
    assert not swapped.ok and "slide" in swapped.hints[0]
