"""Lesson 07's exercise, checked on Flink: the smallest whole bound and an event that needs it
pass (5 and 5.0); too small, too big, a near miss (4.5 s), a negative bound, a missing, unknown
or wrong event, an empty topic and the placeholder get a hint - and no hint says which way to go."""

from __future__ import annotations

from labkit import checks
from labkit.checks.lesson_07 import flink_late
from labkit.reference import watermark_sim

DIRECTIONS = ("larger", "smaller", "bigger", "lower", "higher")


def no_direction(result) -> bool:
    return not any(word in hint.lower() for hint in result.hints for word in DIRECTIONS)


def test_lesson_07_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    name = topic("l07-exercise")
    empty = checks.lesson_07_bound(lab, solution.ANSWER, solution.answer_event(), topic=name)
    assert not empty.ok and "empty" in empty.message
    lab.produce(name, solution.exercise_events(), key="user_id", timestamp="ts")
    flink_says = flink_late(lab, name, solution.WRONG_TOO_SMALL)
    assert sorted(flink_says) == sorted(solution.late_with(solution.WRONG_TOO_SMALL))  # Flink = the sim
    event = solution.answer_event()
    right = checks.lesson_07_bound(lab, solution.ANSWER, event, topic=name)
    assert right.ok, right
    assert checks.lesson_07_bound(lab, float(solution.ANSWER), event, topic=name).ok  # 5.0 is 5
    small = checks.lesson_07_bound(lab, solution.WRONG_TOO_SMALL, event, topic=name)
    assert not small.ok and "drops 3 event(s)" in small.message and small.hints and no_direction(small)
    big = checks.lesson_07_bound(lab, solution.WRONG_TOO_BIG, event, topic=name)
    assert not big.ok and "nothing with 5 s either" in big.message and big.hints and no_direction(big)
    missing = checks.lesson_07_bound(lab, solution.ANSWER, None, topic=name)
    assert not missing.ok and "my_event" in missing.message and no_direction(missing)
    told = " ".join([missing.message, *missing.hints])
    assert not any(e in told for e in flink_says)  # the events are not given away
    unknown = checks.lesson_07_bound(lab, solution.ANSWER, "nope-1", topic=name)
    assert not unknown.ok and "not an event" in unknown.message
    wrong = checks.lesson_07_bound(lab, solution.ANSWER, solution.wrong_event(), topic=name)
    assert not wrong.ok and "does not need the extra second" in wrong.message and no_direction(wrong)
    placeholder = checks.lesson_07_bound(lab, None, None, topic=name)
    assert not placeholder.ok and placeholder.message == "No bound yet."


def test_lesson_07_near_miss_is_rejected_with_a_hint(lab, topic, solution):
    """4.5 s loses no event either - the old check passed it while reporting "5 s"."""
    arrived = solution.exercise_events()
    assert not watermark_sim(arrived, solution.NEAR_MISS, 5)[0]["late"].any()  # really a near miss
    name = topic("l07-exercise")
    lab.produce(name, arrived, key="user_id", timestamp="ts")
    near = checks.lesson_07_bound(lab, solution.NEAR_MISS, solution.answer_event(), topic=name)
    assert not near.ok and "whole" in near.message and "whole seconds" in near.hints[0]
    negative = checks.lesson_07_bound(lab, -1, None, topic=name)
    assert not negative.ok and negative.hints
