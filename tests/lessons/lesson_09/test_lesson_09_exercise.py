"""Lesson 09's exercise (labkit.checks.lesson_09_two_tiny, which runs the answer through
labkit.fraud.run_sql): the reference solution passes, wrong answers get hints."""

from __future__ import annotations

from labkit import checks


def test_exercise_placeholder_gets_a_hint_without_running_anything(untouchable):
    result = checks.lesson_09_two_tiny(untouchable, None)
    assert not result.ok and result.hints and "match_recognize_sql" in result.hints[0]


def test_exercise_reference_solution_passes(lab, solution):
    result = checks.lesson_09_two_tiny(lab, solution.ANSWER)
    assert result.ok, str(result)


def test_exercise_wrong_answer_gets_a_hint(lab, solution):
    result = checks.lesson_09_two_tiny(lab, solution.WRONG_NO_WITHIN)
    assert not result.ok
    assert "x4" in result.message and "within a minute" in result.hints[0]
    assert "INTERVAL" not in result.hints[0]  # where to look, not the clause


def test_exercise_sql_error_is_explained(lab, solution):
    broken = solution.ANSWER.replace("PARTITION BY account_id", "PARTITION BY acount_id")
    result = checks.lesson_09_two_tiny(lab, broken)
    assert not result.ok and "could not run" in result.message
    assert "acount_id" in result.hints[0]  # Flink's own complaint, naming the column
