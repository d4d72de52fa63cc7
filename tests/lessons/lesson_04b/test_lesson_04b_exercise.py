"""Lesson 04b's exercise: the learner's rule ``settings(brokers, may_lose)`` is asked about
several clusters (no broker needed), then the 3-broker case runs live on a replication trio
beside the suite's lab: the check kills a leader while producing with the rule's settings."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks, replication


def test_lesson_04b_wrong_rules_get_hints_before_any_broker_is_touched(solution):
    nobody = None  # the rule's mistakes are found before the trio is used
    assert_hint(checks.lesson_04b_durable(nobody, None))  # the placeholder
    assert_hint(checks.lesson_04b_durable(nobody, (3, 2, "all")))  # numbers, not a rule
    copied = checks.lesson_04b_durable(nobody, solution.copied)
    assert_hint(copied)
    assert "settings(5, 2)" in copied.message and "refused" in copied.message
    assert_hint(checks.lesson_04b_durable(nobody, solution.too_few_in_sync))
    assert_hint(checks.lesson_04b_durable(nobody, solution.acks_1))
    assert_hint(checks.lesson_04b_durable(nobody, lambda b, k: (b + 1, k + 1, "all")))  # copies > brokers
    for wrong in (solution.copied, solution.too_few_in_sync, solution.acks_1):
        for hint in checks.lesson_04b_durable(nobody, wrong).hints:
            assert "2 * may_lose" not in hint and "may_lose + 1" not in hint  # a hint never gives the rule


def test_lesson_04b_reference_passes_live(lab, solution):
    trio = replication.start(quiet=True)
    try:
        result = checks.lesson_04b_durable(trio, solution.settings)
        assert result.ok, result
    finally:
        trio.stop(quiet=True)
