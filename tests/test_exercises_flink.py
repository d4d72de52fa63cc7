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
    sol = solution("lesson_07")
    name = f"test-l07-exercise-{uuid.uuid4().hex[:8]}"
    lab.create_topic(name, partitions=1, replace=True)
    try:
        empty = checks.lesson_07_bound(lab, sol.ANSWER, topic=name)
        assert not empty.ok and "empty" in empty.message
        lab.produce(name, sol.exercise_events(), key="user_id", timestamp="ts")
        assert checks.lesson_07_bound(lab, sol.ANSWER, topic=name).ok
        assert checks.lesson_07_bound(lab, float(sol.ANSWER), topic=name).ok  # 5.0 is 5
        small = checks.lesson_07_bound(lab, sol.WRONG_TOO_SMALL, topic=name)
        assert not small.ok and "window closed" in small.message and small.hints
        big = checks.lesson_07_bound(lab, sol.WRONG_TOO_BIG, topic=name)
        assert not big.ok and "smaller" in big.hints[0]
        placeholder = checks.lesson_07_bound(lab, None, topic=name)
        assert not placeholder.ok and placeholder.message == "No bound yet."
    finally:
        lab.delete_topic(name)


def test_lesson_07_near_miss_is_rejected_with_a_hint(lab):
    """4.5 s loses no event either - the old check passed it while reporting "5 s"."""
    from labkit.flink_panels import watermark_sim

    sol = solution("lesson_07")
    arrived = sol.exercise_events()
    assert not watermark_sim(arrived, sol.NEAR_MISS, 5)[0]["late"].any()  # really a near miss
    name = f"test-l07-exercise-{uuid.uuid4().hex[:8]}"
    lab.create_topic(name, partitions=1, replace=True)
    try:
        lab.produce(name, arrived, key="user_id", timestamp="ts")
        near = checks.lesson_07_bound(lab, sol.NEAR_MISS, topic=name)
        assert not near.ok and "whole" in near.message and "whole seconds" in near.hints[0]
        negative = checks.lesson_07_bound(lab, -1, topic=name)
        assert not negative.ok and negative.hints
    finally:
        lab.delete_topic(name)


def test_lesson_08_reference_passes_through_a_taskmanager_kill(lab):
    """The check runs the job with the reference configuration, kills the TaskManager halfway
    and reads read_committed: the reference passes, and the cluster is as it was afterwards."""
    from labkit.flink_panels import rest

    sol = solution("lesson_08")
    uid = uuid.uuid4().hex[:8]
    pay, out = f"test-l08-payments-{uid}", f"test-l08-totals-{uid}"
    before = rest(lab, "overview")
    try:
        result = checks.lesson_08_exactly_once(lab, sol.INTERVAL, sol.SINK_OPTIONS, payments=pay, totals=out)
        assert result.ok, result
        assert "Restored from checkpoint" in result.message
        after = rest(lab, "overview")
        shape = lambda o: (o["taskmanagers"], o["slots-total"])  # noqa: E731
        assert shape(after) == shape(before)
    finally:
        lab.delete_topic(pay, out)


def test_lesson_08_shortcuts_and_wrong_configurations_get_hints(lab):
    """Answers that show their mistake are rejected before any job runs; Flink's own error
    is the hint for an exactly-once sink without a transactional id prefix."""
    sol = solution("lesson_08")
    placeholder = checks.lesson_08_exactly_once(lab, None, {})
    assert not placeholder.ok and placeholder.message == "No answer yet."
    truth = sol.shortcut_balances()  # the old exercise's `my_balances = truth`
    for answer in ((None, truth), (truth, {}), (sol.INTERVAL, truth), (sol.INTERVAL, list(truth.items()))):
        shortcut = checks.lesson_08_exactly_once(lab, *answer)
        assert not shortcut.ok and "balances" in shortcut.message and "running your job" in shortcut.hints[0]
    alo = checks.lesson_08_exactly_once(lab, *sol.WRONG_AT_LEAST_ONCE)
    assert not alo.ok and "'at-least-once'" in alo.message and "transactions" in alo.hints[0]
    default = checks.lesson_08_exactly_once(lab, *sol.WRONG_DEFAULT_GUARANTEE)
    assert not default.ok and "not set" in default.message and "default is 'at-least-once'" in default.message
    no_checkpoints = checks.lesson_08_exactly_once(lab, *sol.WRONG_NO_CHECKPOINTS)
    assert not no_checkpoints.ok and "no checkpoints" in no_checkpoints.message
    slow = checks.lesson_08_exactly_once(lab, "5 min", sol.SINK_OPTIONS)
    assert not slow.ok and "a few seconds" in slow.hints[0]
    uid = uuid.uuid4().hex[:8]
    pay, out = f"test-l08-payments-{uid}", f"test-l08-totals-{uid}"
    try:
        no_prefix = checks.lesson_08_exactly_once(lab, *sol.WRONG_NO_PREFIX, payments=pay, totals=out)
        assert not no_prefix.ok and "sink.transactional-id-prefix must be specified" in no_prefix.message
    finally:
        lab.delete_topic(pay, out)


def test_lesson_10_reference_passes_and_wrong_answers_get_hints(lab):
    """The tools table, and the window prediction read from a topic of clicks (closing
    clicks left out, as in the lesson)."""
    sol = solution("lesson_10")
    assert checks.lesson_10_tools(sol.TOOLS).ok
    wrong = checks.lesson_10_tools(sol.WRONG_ALL_FLINK)
    assert not wrong.ok and "library" in wrong.hints[0]
    empty = checks.lesson_10_tools({})
    assert not empty.ok and "not answered" in empty.message
    name = f"test-l10-clicks-{uuid.uuid4().hex[:8]}"
    lab.create_topic(name, partitions=3, replace=True)
    try:
        clicks = list(events.clicks(120, seed=31, rate=3, users=7))
        closer = {**clicks[-1], "event_id": "closer-0", "ts": clicks[-1]["ts"] + 60_000}
        lab.produce(name, [*clicks, closer], key="user_id", timestamp="ts")
        for window_s in (5, 13):
            right = sol.window_rows(clicks, window_s)
            assert checks.lesson_10_windows(lab, right, window_s=window_s, topic=name).ok
        as_clicks = checks.lesson_10_windows(lab, len(clicks), window_s=5, topic=name)
        assert not as_clicks.ok and "number of clicks" in as_clicks.message
        placeholder = checks.lesson_10_windows(lab, None, window_s=5, topic=name)
        assert not placeholder.ok and placeholder.message == "No prediction yet."
    finally:
        lab.delete_topic(name)
