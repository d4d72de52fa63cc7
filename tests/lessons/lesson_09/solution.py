"""Reference solutions of lesson 09's exercises.

`lost_alerts` - the lesson's exercise (labkit.checks.lesson_09_replay): tomorrow's rule over
yesterday, as a new Flink job reading the Kafka topic from its first offset, keeping the
alerts that hold a payment the socket job never received.

`ANSWER` - the optional exercise (labkit.checks.lesson_09.lesson_09_two_tiny): card
testing twice, in MATCH_RECOGNIZE.
"""

from labkit import fraud


def lost_alerts(lab, topic="l09-transactions"):
    txs = fraud.transactions(3000, seed=9, fraud_rate=0.03)  # the lesson's txs
    midday = txs.iloc[1000:2000].to_dict("records")  # the lesson's midday: the socket job was down
    replayed = fraud.replay(lab, topic, fraud.Rules(velocity_n=3))  # a new job, from offset 0
    new_rule = replayed[replayed["rule"] == "velocity"]
    never_received = {tx["tx_id"] for tx in midday}
    return new_rule[[bool(set(ids) & never_received) for ids in new_rule["tx_ids"]]]


def copied_from_section_6(lab, topic="l09-transactions"):
    """A wrong answer: section 6's replay (yesterday's thresholds), filtered the same way."""
    never_received = set(fraud.transactions(3000, seed=9, fraud_rate=0.03)["tx_id"].iloc[1000:2000])
    replayed = fraud.replay(lab, topic, fraud.Rules())
    old_rule = replayed[replayed["rule"] == "velocity"]
    return old_rule[[bool(set(ids) & never_received) for ids in old_rule["tx_ids"]]]


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
