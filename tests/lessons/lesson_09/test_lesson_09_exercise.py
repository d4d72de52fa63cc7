"""Lesson 09's exercises: the reference solutions pass, wrong answers get hints.

* labkit.checks.lesson_09_replay (the lesson's exercise): tomorrow's rule over yesterday,
  from Kafka offset 0 - the check runs the new rule itself as a real Flink job;
* labkit.checks.lesson_09.lesson_09_two_tiny (optional): MATCH_RECOGNIZE through
  labkit.fraud.run_sql.
"""

from __future__ import annotations

import pandas as pd
import pytest

from labkit import checks, fraud
from labkit.checks.lesson_09 import (
    LESSON_09_NEW_RULE_N,
    lesson_09_day,
    lesson_09_outage_ids,
    lesson_09_two_tiny,
)


@pytest.fixture(scope="module")
def day(lab):
    """The lesson's day of payments in a topic of its own, as section 2 sends them."""
    name = lab.scratch_topic("test-l09-day", partitions=3)
    txs = lesson_09_day()
    lab.produce(name, txs.to_dict("records"), key="account_id", timestamp="timestamp")
    yield name
    lab.delete_topic(name)


# --- the lesson's exercise: lesson_09_replay -------------------------------------------------


def test_replay_placeholder_and_non_alerts_get_a_hint_without_running_anything(untouchable):
    for answer in (None, "SELECT 1", [], pd.DataFrame({"x": [1]})):
        result = checks.lesson_09_replay(untouchable, answer)
        assert not result.ok and "No alerts yet" in result.message and "first offset" in result.hints[0]


def test_replay_other_rules_and_alerts_the_socket_saw_get_hints_without_running_anything(untouchable):
    outage = sorted(lesson_09_outage_ids())
    other_rule = pd.DataFrame({"rule": ["card_testing"], "tx_ids": [outage[:2]]})
    result = checks.lesson_09_replay(untouchable, other_rule)
    assert not result.ok and "card_testing" in result.message and "which rule" in result.hints[0]
    result = checks.lesson_09_replay(untouchable, [["t9-1", "t9-2", "t9-3", "t9-4"]])  # morning payments
    assert not result.ok and "no payment of the outage" in result.message
    assert "never receive" in result.hints[0]


def test_replay_reference_solution_passes(lab, day, solution):
    answer = solution.lost_alerts(lab, day)
    assert len(answer) > 0
    result = checks.lesson_09_replay(lab, answer, transactions=day)
    assert result.ok, str(result)
    # a list of tx_id lists is an answer too
    assert checks.lesson_09_replay(lab, [list(ids) for ids in answer["tx_ids"]], transactions=day).ok


def test_replay_copying_section_6_misses_the_new_alerts(lab, day, solution):
    """Section 6's replay ran yesterday's threshold: its alerts are some of the right ones,
    not all; the hint says where to look, not the threshold."""
    result = checks.lesson_09_replay(lab, solution.copied_from_section_6(lab, day), transactions=day)
    assert not result.ok and "missing" in result.message
    assert "first offset" in result.hints[0] and f"velocity_n={LESSON_09_NEW_RULE_N}" not in result.hints[0]


def test_replay_on_a_topic_without_the_day_says_so(lab, topic):
    empty = topic("l09-empty", partitions=3)
    result = checks.lesson_09_replay(lab, [sorted(lesson_09_outage_ids())[:4]], transactions=empty)
    assert not result.ok and "does not hold the lesson's 3000 payments" in result.message


def test_replay_an_alert_that_is_no_alert_gets_a_hint(lab, day, solution):
    made_up = [sorted(lesson_09_outage_ids())[:4]]
    result = checks.lesson_09_replay(lab, made_up, transactions=day)
    assert not result.ok and "not alerts of the new rule" in result.message


def test_the_day_and_the_outage_are_the_lessons():
    txs = fraud.transactions(3000, seed=9, fraud_rate=0.03)
    assert lesson_09_outage_ids() == set(txs["tx_id"].iloc[1000:2000])


# --- the optional exercise: lesson_09_two_tiny -------------------------------------------------


def test_exercise_placeholder_gets_a_hint_without_running_anything(untouchable):
    result = lesson_09_two_tiny(untouchable, None)
    assert not result.ok and result.hints and "match_recognize_sql" in result.hints[0]


def test_exercise_reference_solution_passes(lab, solution):
    result = lesson_09_two_tiny(lab, solution.ANSWER)
    assert result.ok, str(result)


def test_exercise_wrong_answer_gets_a_hint(lab, solution):
    result = lesson_09_two_tiny(lab, solution.WRONG_NO_WITHIN)
    assert not result.ok
    assert "x4" in result.message and "within a minute" in result.hints[0]
    assert "INTERVAL" not in result.hints[0]  # where to look, not the clause


def test_exercise_sql_error_is_explained(lab, solution):
    broken = solution.ANSWER.replace("PARTITION BY account_id", "PARTITION BY acount_id")
    result = lesson_09_two_tiny(lab, broken)
    assert not result.ok and "could not run" in result.message
    assert "acount_id" in result.hints[0]  # Flink's own complaint, naming the column
