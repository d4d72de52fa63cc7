"""Lesson 08's exercise: the reference configuration passes through a real TaskManager kill
(and the cluster is as it was afterwards); shortcuts, what the lesson's cells show (copied),
and wrong configurations get a hint, most of them before any job runs."""

from __future__ import annotations

from labkit import checks
from labkit.checks.lesson_08 import TIMEOUT


def solution_missing_timeout_message() -> str:
    return (
        f"No {TIMEOUT}: Flink's exactly-once sink then asks for 1-hour transactions, and a stock broker "
        "(transaction.max.timeout.ms at its default) refuses the sink at start-up."
    )


def test_lesson_08_reference_passes_through_a_taskmanager_kill(lab, topic, solution):
    """The check runs the job with the reference configuration, kills the TaskManager halfway
    and reads read_committed: the reference passes, and the cluster is as it was afterwards."""
    pay, out = topic("l08-payments"), topic("l08-totals")  # the check recreates them empty
    before = lab.flink_api("overview")
    answer = (solution.INTERVAL, solution.SINK_OPTIONS)
    result = checks.lesson_08_exactly_once(lab, *answer, payments=pay, totals=out)
    assert result.ok, result
    assert "Restored from checkpoint" in result.message
    after = lab.flink_api("overview")
    shape = lambda o: (o["taskmanagers"], o["slots-total"])  # noqa: E731
    assert shape(after) == shape(before)


def test_lesson_08_shortcuts_and_wrong_configurations_get_hints(lab, topic, solution):
    """Answers that show their mistake are rejected before any job runs; Flink's own error
    is the hint for an exactly-once sink without a transactional id prefix."""
    placeholder = checks.lesson_08_exactly_once(lab, None, {})
    assert not placeholder.ok and placeholder.message == "No answer yet."
    truth = solution.shortcut_balances()  # the old exercise's `my_balances = truth`
    interval = solution.INTERVAL
    for answer in ((None, truth), (truth, {}), (interval, truth), (interval, list(truth.items()))):
        shortcut = checks.lesson_08_exactly_once(lab, *answer)
        assert not shortcut.ok and "balances" in shortcut.message and "running your job" in shortcut.hints[0]
    alo = checks.lesson_08_exactly_once(lab, *solution.WRONG_AT_LEAST_ONCE)
    assert not alo.ok and "'at-least-once'" in alo.message and "transactions" in alo.hints[0]
    default = checks.lesson_08_exactly_once(lab, *solution.WRONG_DEFAULT_GUARANTEE)
    assert not default.ok and "not set" in default.message and "default is 'at-least-once'" in default.message
    no_checkpoints = checks.lesson_08_exactly_once(lab, *solution.WRONG_NO_CHECKPOINTS)
    assert not no_checkpoints.ok and "no checkpoints" in no_checkpoints.message
    short = checks.lesson_08_exactly_once(lab, *solution.WRONG_SHORT_TIMEOUT)
    assert not short.ok and "longer than the time between two checkpoints" in short.hints[0]
    assert "900000" not in " ".join(short.hints)  # a hint says what to look at, not the answer
    unit = checks.lesson_08_exactly_once(lab, *solution.WRONG_TIMEOUT_UNIT)
    assert not unit.ok and "whole number of milliseconds" in unit.message and "900000" not in unit.hints[0]
    acks = {**solution.SINK_OPTIONS, "properties.acks": "1"}
    other = checks.lesson_08_exactly_once(lab, solution.INTERVAL, acks)
    assert not other.ok and "'properties.acks' is not one of the sink's options" in other.message
    slow = checks.lesson_08_exactly_once(lab, "11 s", solution.SINK_OPTIONS)
    assert not slow.ok and "within 10 s" in slow.message and "invisible" in slow.hints[0]
    copied = checks.lesson_08_exactly_once(lab, *solution.COPIED_FROM_THE_LESSON)  # the lesson's cells fail
    assert not copied.ok and "within 10 s" in copied.message
    copied_options = checks.lesson_08_exactly_once(lab, solution.INTERVAL, solution.COPIED_FROM_THE_LESSON[1])
    assert not copied_options.ok and copied_options.message == solution_missing_timeout_message()
    no_timeout = checks.lesson_08_exactly_once(lab, *solution.WRONG_NO_TIMEOUT)
    assert not no_timeout.ok and "refuses the sink at start-up" in no_timeout.message
    too_long = checks.lesson_08_exactly_once(lab, *solution.WRONG_FLINK_TIMEOUT)
    assert not too_long.ok and "stock broker" in too_long.message
    for hinted in (no_timeout, too_long, slow, short, unit):
        assert not any("900000" in h or "900 000" in h for h in hinted.hints)  # no hint gives the value
    pay, out = topic("l08-payments"), topic("l08-totals")
    no_prefix = checks.lesson_08_exactly_once(lab, *solution.WRONG_NO_PREFIX, payments=pay, totals=out)
    assert not no_prefix.ok and "sink.transactional-id-prefix must be specified" in no_prefix.message
