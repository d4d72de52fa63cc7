"""Lesson 04b's exercise, live on a replication trio beside the suite's lab: the check
kills a leader while producing with the answer's settings."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks, replication


def test_lesson_04b_reference_passes_and_wrong_answers_get_hints(lab, solution):
    trio = replication.start(quiet=True)
    try:
        assert_hint(checks.lesson_04b_durable(trio, None, None, None))  # the placeholder
        assert_hint(checks.lesson_04b_durable(trio, 4, 2, "all"))
        result = checks.lesson_04b_durable(trio, **solution.ANSWER)
        assert result.ok, result
        # two copies, min.insync.replicas=2: writes refused once a broker dies
        two = checks.lesson_04b_durable(trio, **solution.WRONG_TWO_COPIES)
        assert_hint(two)
        assert "writes failed" in two.message and "min.insync.replicas=2" in two.hints[0]
    finally:
        trio.stop(quiet=True)
