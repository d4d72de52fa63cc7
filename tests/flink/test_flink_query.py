"""lab.query (the bounded query helper) and lab.stopping_offsets against the real engine
and broker: the answers the Flink lessons (05-08) rely on."""

from __future__ import annotations

import json

from labkit import events
from labkit import reference as ref
from labkit.panels.lesson06 import window_sql

SCHEMA = (
    "event_id STRING, user_id STRING, ts BIGINT, ev_time AS TO_TIMESTAMP_LTZ(ts, 3), "
    "WATERMARK FOR ev_time AS ev_time - INTERVAL '1' SECOND"
)


def test_query_sees_events_sent_after_a_first_query(lab, topic):
    """Bounded at the *current* end each time: a second query sees the new events."""
    name = topic("grow", partitions=2)
    lab.produce(name, list(events.clicks(50, seed=1)), key="user_id")
    first = lab.query("SELECT COUNT(*) AS n FROM t", {"t": "event_id STRING"}, topics={"t": name})
    lab.produce(name, list(events.clicks(70, seed=2)), key="user_id")
    second = lab.query("SELECT COUNT(*) AS n FROM t", {"t": "event_id STRING"}, topics={"t": name})
    assert (first["n"].iloc[0], second["n"].iloc[0]) == (50, 120)


def test_query_windows_in_batch_and_sessions_in_streaming_mode_match_pandas(lab, topic):
    name = topic("win")
    sent = list(events.clicks(150, seed=4, rate=4, users=5))
    lab.produce(name, sent, key="user_id", timestamp="ts")
    hop = lab.query(window_sql("hop", 10, 5), {"clicks": SCHEMA}, topics={"clicks": name})
    assert ref.same_windows(hop, ref.windows_pandas(sent, "hop", 10, 5))
    sessions = lab.query(
        window_sql("session", 0, gap=4), {"clicks": SCHEMA}, topics={"clicks": name}, streaming=True
    )
    assert ref.same_windows(sessions, ref.windows_pandas(sent, "session", gap=4, key="user_id"))


def test_query_streaming_with_on_event_watermarks_drops_exactly_the_simulated_late_events(lab, topic):
    name = topic("late")
    arrived = ref.arrival_order(events.clicks(200, seed=9, rate=10), disorder=2, seed=3)
    lab.produce(name, arrived, key="user_id", timestamp="ts")
    df = lab.query(
        window_sql("tumble", 5),
        {"clicks": SCHEMA},
        topics={"clicks": name},
        streaming=True,
        options={"scan.watermark.emit.strategy": "on-event"},
    )
    sim_events, sim_windows = ref.watermark_sim(arrived, bound=1, size=5)
    assert df.sort_values("window_start")["n"].tolist() == sim_windows["n"].tolist()
    assert len(arrived) - df["n"].sum() == sim_events["late"].sum() > 0


def test_stopping_offsets_bounds_a_datastream_kafka_source(lab, topic):
    from pyflink.common import WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    name = topic("ds", partitions=3)
    sent = list(events.clicks(90, seed=6))
    lab.produce(name, sent, key="user_id")
    env = lab.stream_env()
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(lab.flink_bootstrap_servers)
        .set_topics(name)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(lab.stopping_offsets(name))
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    got = [
        json.loads(v)["event_id"]
        for v in env.from_source(source, WatermarkStrategy.no_watermarks(), "s").execute_and_collect()
    ]
    assert sorted(got) == sorted(e["event_id"] for e in sent)
