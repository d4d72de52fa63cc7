"""Reference solution of lesson 09's exercise (checked by labkit.checks.lesson_09_two_tiny)."""

ANSWER = """
SELECT *
FROM transactions
MATCH_RECOGNIZE (
  PARTITION BY account_id
  ORDER BY event_time
  MEASURES
    T1.ts AS first_ts, L.ts AS large_ts, L.amount AS large_amount
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (T1 T2 L) WITHIN INTERVAL '1' MINUTE
  DEFINE
    T1 AS T1.amount < 1.00,
    T2 AS T2.amount < 1.00,
    L AS L.amount > 500.00
)
"""

# the same without WITHIN: what a learner might write first (used by the tests)
WRONG_NO_WITHIN = ANSWER.replace(" WITHIN INTERVAL '1' MINUTE", "")
