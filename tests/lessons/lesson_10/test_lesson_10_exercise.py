"""Lesson 10's exercises: the tools table, and the late-event exercise run on the real Kafka
Streams app and Flink (the reference passes; copied or wrong answers, a grace too small or
too large each get a hint)."""

from __future__ import annotations

import pytest

from labkit import checks, streams
from labkit.checks import lesson_10


def test_lesson_10_tools_reference_passes_and_wrong_answers_get_hints(solution):
    assert checks.lesson_10_tools(solution.TOOLS).ok
    wrong = checks.lesson_10_tools(solution.WRONG_ALL_FLINK)
    assert not wrong.ok and "library" in wrong.hints[0]
    empty = checks.lesson_10_tools({})
    assert not empty.ok and "not answered" in empty.message


def test_lesson_10_late_refuses_bad_input_before_running_anything(untouchable, solution):
    placeholder = {"a at 8 s": None, "b at 4 s": None, "why": None}
    cases = [
        (placeholder, 22, "No prediction yet."),
        ({**solution.LATE, "why": None}, 22, "'why' is not answered yet."),
        ({**solution.LATE, "b at 4 s": "kafka"}, 22, "'kafka' is not one of the answers."),
        ({**solution.LATE, "why": "D"}, 22, "'D' is not one of the reasons."),
        (solution.LATE, 2.5, "GRACE_S is 2.5."),
        (solution.LATE, 600, "GRACE_S is 600."),
    ]
    for answer, grace, message in cases:
        result = checks.lesson_10_late(untouchable, answer, grace_s=grace)
        assert not result.ok and result.message == message and result.hints


def test_the_smallest_grace_follows_kafka_streams_rule():
    def sent(arrivals):
        import pandas as pd

        return pd.DataFrame(arrivals, columns=["user", "partition", "event time (s)"])

    assert lesson_10.smallest_grace(sent(streams.LATE_ARRIVALS)) == 16  # the lesson's: 25 s - 10 s, and more
    assert lesson_10.smallest_grace(sent(streams.EXERCISE_ARRIVALS)) == 22  # the exercise's: 31 s - 10 s
    assert lesson_10.smallest_grace(sent([("a", 0, 1), ("a", 0, 2)])) == 0


@pytest.fixture
def late_topic(lab, topic):
    name = topic("l10-late-ex", partitions=2)
    yield name
    lab.delete_topic(*[t for t in lab.topics() if t.startswith(f"{name}-counts-")])


def test_lesson_10_late_reference_passes_on_the_real_engines(lab, late_topic, solution):
    result = checks.lesson_10_late(lab, solution.LATE, grace_s=solution.GRACE_S, topic=late_topic)
    assert result.ok, result
    assert not streams.running(f"{late_topic}-grace-2")  # the check leaves no app running


def test_lesson_10_late_wrong_answers_get_hints_from_the_real_runs(lab, late_topic, solution):
    run = lesson_10.run_late(lab, {2, 21, 30}, topic=late_topic)
    # what the engines really did with 2 s of grace: only Kafka Streams dropped, and only a at 8 s
    assert run.dropped_by(2, "a", 8) == "kafka streams" and run.dropped_by(2, "b", 4) == "neither"
    assert run.streams_dropped[2][["partition", "stream_time"]].values.tolist() == [[0, run.t0 + 31_000]]
    assert run.streams_dropped[30].empty and run.dropped_by(30, "a", 8) == "neither"
    assert lesson_10.judge_late(solution.LATE, 22 - 1, run).message.startswith("With 21 s of grace")
    for answer, grace, hinted in [
        (solution.WRONG_COPIED, 22, "partition"),  # the lesson's answer for both stragglers
        (solution.WRONG_GLOBAL_CLOCK, 22, "partition"),
        ({**solution.LATE, "why": "A"}, 22, "b at 4 s"),
        (solution.LATE, 21, "stream time reaches its end plus the grace"),  # too small: the log's numbers
        (solution.LATE, 30, "least grace"),  # counts both, but every window waits longer than needed
    ]:
        result = lesson_10.judge_late(answer, grace, run)
        assert not result.ok and hinted in result.hints[0], (answer, grace, result)
        assert str(solution.GRACE_S) not in " ".join(result.hints)  # a hint never gives the answer
