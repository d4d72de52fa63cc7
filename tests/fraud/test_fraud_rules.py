"""labkit.fraud.rules: rule 2's SQL literal and query, rule 3's velocity function against
PyFlink's own window operator."""

from __future__ import annotations

from collections import Counter

import pytest

from labkit import fraud


def test_sql_interval_literal_holds_any_window():
    assert fraud.sql_interval(1) == "INTERVAL '0.001' SECOND(2, 3)"
    assert fraud.sql_interval(60_000) == "INTERVAL '60.000' SECOND(2, 3)"
    assert fraud.sql_interval(1_740_000) == "INTERVAL '1740.000' SECOND(4, 3)"  # the reported bug
    assert fraud.sql_interval(86_400_000 - 1) == "INTERVAL '86399.999' SECOND(5, 3)"
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError):
            fraud.sql_interval(bad)


def test_flink_accepts_every_window_literal(lab):
    """The planner takes rule 2's WITHIN for windows from 1 ms to a week (no job runs)."""
    t_env = lab.table_env()
    lab.kafka_table(t_env, "transactions", fraud.TX_SCHEMA, topic="l09-never-read", bounded=True)
    for ms in (1, 59_999, 99_999, 100_000, 1_740_000, 3_600_000, 86_400_000, 7 * 86_400_000):
        t_env.explain_sql(fraud.match_recognize_sql("transactions", 1.0, 500.0, ms))


def test_velocity_function_matches_the_window_operator(lab, topic):
    """The KeyedProcessFunction velocity rule raises exactly the alerts PyFlink's sliding
    window operator does (one bounded job runs both on the same keyed stream)."""
    from pyflink.common import Time, Types
    from pyflink.datastream.window import SlidingEventTimeWindows

    txs = fraud.transactions(600, seed=5, fraud_rate=0.1)
    name = topic("l09-velocity", partitions=2)
    lab.produce(name, txs.to_dict("records"), key="account_id", timestamp="timestamp")
    env = lab.stream_env()
    source = fraud.kafka_source(lab, name, bounded=True, group_id=name)
    pickled = Types.PICKLED_BYTE_ARRAY()
    keyed = (
        env.from_source(source, fraud.watermarks(), "tx")
        .map(fraud.parse, output_type=pickled)
        .key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
    )
    size, slide = Time.milliseconds(10_000), Time.milliseconds(5_000)
    ours = keyed.process(fraud.velocity_function(3, 10_000, 5_000), output_type=pickled)
    windowed = keyed.window(SlidingEventTimeWindows.of(size, slide)).process(
        fraud.velocity_window_function(3), output_type=pickled
    )
    tagged = ours.map(lambda a: ("ours", a), output_type=pickled).union(
        windowed.map(lambda a: ("window", a), output_type=pickled)
    )
    with tagged.execute_and_collect("l09 test velocity") as results:
        got = list(results)
    by = {
        side: Counter((a["account_id"], a["window_end"], tuple(a["tx_ids"])) for s, a in got if s == side)
        for side in ("ours", "window")
    }
    assert sum(by["window"].values()) > 5
    assert by["ours"] == by["window"]
