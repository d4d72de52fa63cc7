"""Lesson 07's exercise: the smallest whole bound passes (5 and 5.0); too small, too big,
a near miss (4.5 s), a negative bound, an empty topic and the placeholder get a hint."""

from __future__ import annotations

from labkit import checks
from labkit.reference import watermark_sim


def test_lesson_07_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    name = topic("l07-exercise")
    empty = checks.lesson_07_bound(lab, solution.ANSWER, topic=name)
    assert not empty.ok and "empty" in empty.message
    lab.produce(name, solution.exercise_events(), key="user_id", timestamp="ts")
    assert checks.lesson_07_bound(lab, solution.ANSWER, topic=name).ok
    assert checks.lesson_07_bound(lab, float(solution.ANSWER), topic=name).ok  # 5.0 is 5
    small = checks.lesson_07_bound(lab, solution.WRONG_TOO_SMALL, topic=name)
    assert not small.ok and "window closed" in small.message and small.hints
    big = checks.lesson_07_bound(lab, solution.WRONG_TOO_BIG, topic=name)
    assert not big.ok and "smaller" in big.hints[0]
    placeholder = checks.lesson_07_bound(lab, None, topic=name)
    assert not placeholder.ok and placeholder.message == "No bound yet."


def test_lesson_07_near_miss_is_rejected_with_a_hint(lab, topic, solution):
    """4.5 s loses no event either - the old check passed it while reporting "5 s"."""
    arrived = solution.exercise_events()
    assert not watermark_sim(arrived, solution.NEAR_MISS, 5)[0]["late"].any()  # really a near miss
    name = topic("l07-exercise")
    lab.produce(name, arrived, key="user_id", timestamp="ts")
    near = checks.lesson_07_bound(lab, solution.NEAR_MISS, topic=name)
    assert not near.ok and "whole" in near.message and "whole seconds" in near.hints[0]
    negative = checks.lesson_07_bound(lab, -1, topic=name)
    assert not negative.ok and negative.hints
