"""The exercise checks' pure logic, without a lab: how `Result` shows itself, how a
checkpoint interval is read (lesson 08, as Flink reads a duration), how Flink's complaint
becomes a hint, and the answers every check rejects before it touches Kafka or Flink.
(Each check against the real stack: tests/lessons/lesson_NN/test_lesson_NN_exercise.py.)"""

from __future__ import annotations

import pytest

from labkit import checks
from labkit.checks.lesson_08 import flink_duration_ms
from labkit.checks.sql import could_not_run, flink_cause


def test_a_result_is_true_only_when_passed_and_shows_its_hints():
    ok, wrong = checks.passed("right"), checks.failed("not yet", "look here", "then there")
    assert ok and not wrong
    assert str(ok) == "\u2705 right"
    assert str(wrong) == "\u274c not yet\n   hint: look here\n   hint: then there"
    assert repr(wrong) == str(wrong)
    assert "Correct" in ok._repr_html_() and "<li>look here</li>" in wrong._repr_html_()


@pytest.mark.parametrize(
    ("interval", "ms"),
    [
        ("2 s", 2000),
        ("500 ms", 500),
        ("500ms", 500),
        ("1 min", 60_000),
        ("2000", 2000),
        (2000, 2000),
        ("10 seconds", 10_000),
        ("two seconds", None),
        ("1.5 s", None),
        (1.5, None),
        (True, None),
    ],
)
def test_the_exercise_reads_intervals_as_flink_does(interval, ms):
    assert flink_duration_ms(interval) == ms


def test_lesson_08_rejects_an_unreadable_or_out_of_range_interval_before_running_anything(untouchable):
    options = {"sink.delivery-guarantee": "exactly-once", "sink.transactional-id-prefix": "x"}
    unreadable = checks.lesson_08_exactly_once(untouchable, "1.5 s", options)
    assert not unreadable.ok and "would not read" in unreadable.message
    tiny = checks.lesson_08_exactly_once(untouchable, "5 ms", options)
    assert not tiny.ok and "10 ms" in tiny.message


def test_flinks_complaint_is_the_hint_without_the_stack_trace():
    exc = RuntimeError(
        "An error occurred while calling o1.executeSql.\n"
        ": org.apache.flink.table.api.ValidationException: Column 'nope' not found\n"
        "\tat org.apache.flink.Something.method(Something.java:1)\n"
    )
    result = could_not_run(exc)
    assert not result.ok and result.message == "Flink could not run that query."
    assert result.hints == [": org.apache.flink.table.api.ValidationException: Column 'nope' not found"]
    assert could_not_run(ValueError("")).hints == ["ValueError"]


def test_a_rejected_job_is_explained_by_its_innermost_cause():
    exc = RuntimeError(
        "org.apache.flink.table.api.TableException: Could not plan\n"
        "Caused by: org.apache.flink.table.api.ValidationException: Unable to create a sink\n"
        "Caused by: java.lang.IllegalArgumentException: sink.transactional-id-prefix must be specified\n"
        "\tat org.apache.flink.Something(Something.java:1)\n"
    )
    assert flink_cause(exc) == "sink.transactional-id-prefix must be specified"
    assert flink_cause(RuntimeError("no cause here: just this")) == "no cause here: just this"
    assert flink_cause(RuntimeError("")) == "RuntimeError"


@pytest.mark.parametrize("sql", [None, "", "   ", 42])
def test_lessons_05_and_06_ask_for_a_query_before_running_anything(sql, untouchable):
    for check in (checks.lesson_05_filter, checks.lesson_06_hop):
        result = check(untouchable, sql)
        assert not result.ok and result.message == "No query yet."


def test_the_quizzes_reject_what_is_not_a_dict_and_name_a_task_still_to_answer():
    assert not checks.lesson_00_roles(["kafka"]).ok
    assert not checks.lesson_10_tools("flink").ok
    first = next(iter(checks.LESSON_00_TASKS))
    assert first in checks.lesson_00_roles({}).hints[0]
    assert checks.lesson_00_roles(dict(checks.LESSON_00_TASKS)).ok
    assert checks.lesson_10_tools(dict(checks.LESSON_10_TOOLS)).ok


def test_lesson_09_runs_its_answers_on_the_documented_cases():
    rows = checks.lesson_09_rows()
    assert {r["account_id"] for r in rows} == set(checks.LESSON_09_CASES)
    assert checks.LESSON_09_ALERTS <= set(checks.LESSON_09_CASES)
    assert min(r["timestamp"] for r in rows) == checks.T09
