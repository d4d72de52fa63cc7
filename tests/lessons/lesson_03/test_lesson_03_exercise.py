"""Lesson 03's exercise, against a real group: the reference solution passes both parts;
Kafka's default reset, reading in another group, redoing what was done, forgetting to
commit, a count typed in, records made by hand, odd answers and a set-up run while a
consumer of the group is still open get a hint (or a clear error) instead."""

from __future__ import annotations

import time

import pytest
from exercises import assert_hint

from labkit import checks, events


def lesson_03_state(lab, topic) -> tuple[str, str]:
    """Exercise 03's starting point on a fresh topic and group: the stopped service."""
    name = topic("l03ex", partitions=3)
    group = f"{name}-group"  # as fresh as its topic
    lab.produce(name, events.clicks(300, seed=8), key="user_id")
    checks.lesson_03_stopped_service(lab, name, group)
    return name, group


def test_lesson_03_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    where = {"topic": name, "group": group}
    assert_hint(checks.lesson_03_lag(lab, {}, **where))  # the placeholder
    none = checks.lesson_03_lag(lab, solution.wrong_none(lab, name, group), **where)
    assert_hint(none)
    assert "None" in none.hints[0] and "earliest" in none.hints[0]
    measured = solution.lag(lab, name, group)
    assert str(measured[2]) not in none.message  # the message does not give the lag away
    result = checks.lesson_03_lag(lab, measured, **where)
    assert result.ok, result
    assert_hint(checks.lesson_03_catch_up(lab, [], **where))  # the placeholder: nothing done yet
    typed = checks.lesson_03_catch_up(lab, sum(measured.values()), **where)  # the right count, typed in
    assert_hint(typed)
    assert "list of records" in typed.message
    processed = solution.catch_up(lab, name, group)
    assert len(processed) == sum(measured.values())  # exactly the lag measured in part 1
    result = checks.lesson_03_catch_up(lab, processed, **where)
    assert result.ok, result
    caught_up = checks.lesson_03_lag(lab, measured, **where)  # measuring again after part 2
    assert_hint(caught_up)
    assert "set-up" in caught_up.hints[0]


def test_lesson_03_kafkas_default_reset_skips_events_and_gets_the_hint(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    where = {"topic": name, "group": group}
    skipped = checks.lesson_03_catch_up(lab, solution.wrong_latest(lab, name, group), **where)
    assert_hint(skipped)
    assert "skipped" in skipped.message and "latest" in skipped.hints[0]


def test_lesson_03_reading_in_another_group_gets_the_hint(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    elsewhere = solution.catch_up(lab, name, group + "-other")  # reads everything, commits elsewhere
    result = checks.lesson_03_catch_up(lab, elsewhere, topic=name, group=group)
    assert_hint(result)
    assert "group_id" in result.hints[0]


def test_lesson_03_redoing_what_was_done_gets_the_hint(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    redone = solution.wrong_from_beginning(lab, name, group)
    again = checks.lesson_03_catch_up(lab, redone, topic=name, group=group)
    assert_hint(again)
    assert "already processed" in again.message and "seek_to_beginning" in again.hints[0]


def test_lesson_03_processing_without_a_commit_gets_the_hint(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    uncommitted = solution.catch_up(lab, name, group, commit=False)
    result = checks.lesson_03_catch_up(lab, uncommitted, topic=name, group=group)
    assert_hint(result)
    assert "commit()" in result.hints[0]


def test_lesson_03_records_made_by_hand_are_not_kafkas(lab, topic, solution):
    name, group = lesson_03_state(lab, topic)
    solution.catch_up(lab, name, group)  # the group did catch up...
    forged = checks.lesson_03_catch_up(lab, solution.wrong_forged(lab, name), topic=name, group=group)
    assert_hint(forged)  # ...but these records are not what Kafka stores
    assert "not what Kafka stores" in forged.message


def test_lesson_03_set_up_again_with_a_consumer_still_open_says_so(lab, topic):
    name, group = lesson_03_state(lab, topic)
    left_open = lab.consumer(name, group_id=group)
    try:
        deadline = time.monotonic() + 30
        while not left_open.assignment() and time.monotonic() < deadline:
            left_open.poll(timeout_ms=200)
        with pytest.raises(ValueError, match="still open"):
            checks.lesson_03_stopped_service(lab, name, group)
    finally:
        left_open.close()
    assert checks.lesson_03_stopped_service(lab, name, group)  # closed: the set-up works again


@pytest.mark.parametrize("placeholder", [None, 0, [], "x", {"x": 1}, [1, 2]])
def test_lesson_03_odd_answers_do_not_crash(lab, topic, placeholder):
    name, group = lesson_03_state(lab, topic)
    assert_hint(checks.lesson_03_lag(lab, placeholder, topic=name, group=group))
    assert_hint(checks.lesson_03_catch_up(lab, placeholder, topic=name, group=group))
