"""Lesson 09's Flink jobs: the rules of `labkit.fraud.rules` run on real Kafka topics.

* bounded jobs that read a topic up to its current end and return rows:
  `detect` (rule 1 on a list of transactions, on either engine: DataStream or SQL - the
  input travels through a scratch topic), `run_sql` (your own SQL the same way) and
  `replay` (every rule over what a topic already holds);
* unbounded jobs between a transactions topic and an alerts topic, restartable with new
  rules (each start is a new ``generation``): `LivePipeline` (all three rules, DataStream)
  and `SqlPipeline` (rule 2 alone, Flink SQL, all inside the JVM);
* the two pieces every DataStream job here starts from: `kafka_source` and `watermarks`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..flink.client import flink_sql
from ..flink.jobs import forget
from ..lab import connect
from .alerts import alerts_frame, common_alerts_frame
from .data import LARGE, SMALL, TX_SCHEMA, WITHIN, parse, prepared
from .rules import Rules, match_recognize_sql, rules_stream, small_then_large_function, within_ms

if TYPE_CHECKING:
    from ..flink import Job
    from ..lab import Lab

#: The prefix of the throw-away topic each `detect` / `run_sql` call creates (and deletes
#: when done): it says what the topic is in ``lab.topics()`` and the Web UI, should a
#: crash leave one behind.
SCRATCH_PREFIX = "l09-scratch"


def kafka_source(lab: Lab, topic: str, *, bounded: bool, group_id: str | None = None) -> Any:
    """A DataStream ``KafkaSource`` of ``topic``'s values as text, from its earliest offset;
    ``bounded=True`` stops at the end of the topic as it is when the job starts. Without
    ``group_id`` the job reads in no consumer group (nothing committed anywhere)."""
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(lab.flink_bootstrap_servers)
        .set_topics(lab.kafka_name(topic))  # a classroom: the learner's own topic
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_value_only_deserializer(SimpleStringSchema())
    )
    for key, value in lab.kafka_client_properties().items():  # a secured Kafka's TLS and login
        builder.set_property(key, value)
    if group_id is not None:
        builder.set_group_id(lab.kafka_name(group_id))
    if bounded:
        builder.set_bounded(lab.stopping_offsets(topic))
    return builder.build()


def watermarks(out_of_order_ms: int = 0) -> Any:
    """The watermark strategy of the fraud jobs: event time never goes back per account
    (``out_of_order_ms=0``: monotonous), or may by up to ``out_of_order_ms``."""
    from pyflink.common import Duration, WatermarkStrategy

    if out_of_order_ms <= 0:
        return WatermarkStrategy.for_monotonous_timestamps()
    return WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(out_of_order_ms))


def _pickled() -> Any:
    from pyflink.common import Types

    return Types.PICKLED_BYTE_ARRAY()


# --- bounded jobs: detect, run_sql, replay ------------------------------------------------


def detect(
    transactions: Iterable[Mapping] | pd.DataFrame,
    *,
    small: float = SMALL,
    large: float = LARGE,
    within: timedelta = WITHIN,
    engine: str = "datastream",
    lab: Lab | None = None,
) -> pd.DataFrame:
    """Run rule 1 ("a transaction under ``small`` immediately followed, on the same
    account, by one over ``large`` within ``within``") as a real Flink job.

    The transactions (dicts or a DataFrame with ``account_id``, ``amount``, ``timestamp``;
    a timestamp may be epoch ms, a datetime or an ISO string) are checked first, then
    sent in event-time order to a *scratch topic* (``l09-scratch-<random>``, one
    partition, keyed by account; see `SCRATCH_PREFIX`), read back by a bounded Flink
    job (``engine="datastream"``: KeyedProcessFunction with ValueState and an event-time
    timer; ``engine="sql"``: MATCH_RECOGNIZE), and the scratch topic is deleted again.

    Returns one row per alert: account_id, small_amount, small_time, large_amount,
    large_time (UTC), small_row and large_row (positions in the input).
    """
    if engine not in ("datastream", "sql"):
        raise ValueError(f"engine must be 'datastream' or 'sql', not {engine!r}")
    if not small >= 0 or not large >= 0:
        raise ValueError(f"thresholds must be amounts >= 0, not small={small!r}, large={large!r}")
    if small > large:
        # a transaction could then be both "tiny" and "large", and the two engines would
        # disagree on whether it may also start the next pattern
        raise ValueError(f"small ({small}) must not be more than large ({large})")
    ms = within_ms(within)
    txs = prepared(transactions)
    lab = lab or connect(quiet=True)
    topic = lab.scratch_topic(SCRATCH_PREFIX)
    try:
        lab.produce(topic, txs, key="account_id", timestamp="ts")
        run = _detect_datastream if engine == "datastream" else _detect_sql
        found = run(lab, topic, float(small), float(large), ms) if txs else []
    finally:
        lab.delete_topic(topic)
    return alerts_frame(found)


def _detect_datastream(lab: Lab, topic: str, small: float, large: float, within: int) -> list[dict]:
    from pyflink.common import Types

    env = lab.stream_env()
    source = kafka_source(lab, topic, bounded=True)
    alerts = (
        env.from_source(source, watermarks(), "transactions")
        .map(json.loads, output_type=Types.PICKLED_BYTE_ARRAY())
        .key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
        .process(small_then_large_function(small, large, within), output_type=Types.PICKLED_BYTE_ARRAY())
    )
    with alerts.execute_and_collect(f"l09 detect (DataStream) {topic}") as results:
        return list(results)


def _detect_sql(lab: Lab, topic: str, small: float, large: float, within: int) -> list[dict]:
    return _sql_on_topic(lab, topic, match_recognize_sql("transactions", small, large, within))


def _sql_on_topic(lab: Lab, topic: str, sql: str) -> list[dict]:
    """Run ``sql`` (over a table ``transactions`` with `TX_SCHEMA`, bounded at the
    topic's current end) as a streaming job; its rows as dicts."""
    t_env = lab.table_env()
    lab.kafka_table(t_env, "transactions", TX_SCHEMA, topic=topic, bounded=True)
    with flink_sql(sql):  # a learner's SQL (run_sql): Flink's message and position, not a Java trace
        result = t_env.execute_sql(sql)
        names = result.get_table_schema().get_field_names()
        with result.collect() as rows:
            return [dict(zip(names, row, strict=True)) for row in rows]


def run_sql(
    transactions: Iterable[Mapping] | pd.DataFrame, sql: str, *, lab: Lab | None = None
) -> pd.DataFrame:
    """Run your own Flink SQL over some transactions, the way ``detect(engine="sql")``
    runs rule 2: they are checked, sent through a fresh Kafka topic, and readable in
    ``sql`` as the table ``transactions`` (columns tx_id, account_id, amount, `row`, ts
    in epoch ms, and event_time, the event-time attribute). One Flink job; the rows come
    back as a DataFrame (TIMESTAMP columns are best returned as ``ts`` numbers)."""
    txs = prepared(transactions)
    lab = lab or connect(quiet=True)
    topic = lab.scratch_topic(SCRATCH_PREFIX)
    try:
        lab.produce(topic, txs, key="account_id", timestamp="ts")
        return pd.DataFrame(_sql_on_topic(lab, topic, sql))
    finally:
        lab.delete_topic(topic)


def replay(lab: Lab, topic: str, rules: Rules | None = None) -> pd.DataFrame:
    """Kafka + Flink: run every rule over *everything already in* ``topic`` (a bounded
    job from the earliest offset to the current end) and return the alerts. This is
    "replay yesterday's transactions through a new rule"."""
    env = lab.stream_env()
    source = kafka_source(lab, topic, bounded=True)
    stream = env.from_source(source, watermarks(), f"replay {topic}").map(parse, output_type=_pickled())
    alerts = rules_stream(stream, rules or Rules())
    with alerts.execute_and_collect(f"l09 replay {topic}") as results:
        return common_alerts_frame(list(results))


# --- unbounded jobs: Kafka -> Flink -> Kafka ------------------------------------------------


class Pipeline:
    """An unbounded fraud job between two topics that can be restarted with new rules;
    each restart is a new ``generation`` (its alerts say which rules produced them)."""

    def __init__(self, lab: Lab, tx_topic: str, alerts_topic: str, rules: Rules | None = None) -> None:
        self.lab = lab
        self.tx_topic = tx_topic
        self.alerts_topic = alerts_topic
        self.rules = rules or Rules()
        self.generation = 0
        self.job: Job | None = None

    def start(self, rules: Rules | None = None) -> Job:
        """(Re)start the job with ``rules``; returns the labkit `Job`."""
        raise NotImplementedError

    def _next_generation(self, rules: Rules | None) -> None:
        # the new generation counts from now: the old job's alerts are old from this moment,
        # even while cancelling it takes a while
        self.generation += 1
        self.stop()
        if rules is not None:
            self.rules = rules

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()
            forget(self.job)
            self.job = None


class LivePipeline(Pipeline):
    """All three rules as one unbounded Flink job: reads ``tx_topic`` from its earliest
    offset, writes one JSON alert per line to ``alerts_topic``. Restarting with new
    rules (a new ``generation``) re-reads the topic from the start: Kafka kept it all.
    ``windowed=True`` runs the velocity rule on PyFlink's window operator (the same alerts)."""

    def __init__(
        self,
        lab: Lab,
        tx_topic: str,
        alerts_topic: str,
        rules: Rules | None = None,
        *,
        windowed: bool = False,
    ) -> None:
        super().__init__(lab, tx_topic, alerts_topic, rules)
        self.windowed = windowed

    def start(self, rules: Rules | None = None) -> Job:
        """(Re)start the job with ``rules``; returns the labkit `Job`."""
        from pyflink.common import Duration, Types
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.base import DeliveryGuarantee
        from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

        self._next_generation(rules)
        env = self.lab.stream_env()
        source = kafka_source(
            self.lab, self.tx_topic, bounded=False, group_id=f"{self.tx_topic}-g{self.generation}"
        )
        marks = watermarks().with_idleness(Duration.of_seconds(2))
        stream = env.from_source(source, marks, self.tx_topic).map(parse, output_type=_pickled())
        alerts = rules_stream(stream, self.rules, self.generation, windowed=self.windowed).map(
            lambda a: json.dumps(a, separators=(",", ":")), output_type=Types.STRING()
        )
        builder = (
            KafkaSink.builder()
            .set_bootstrap_servers(self.lab.flink_bootstrap_servers)
            .set_record_serializer(
                KafkaRecordSerializationSchema.builder()
                .set_topic(self.lab.kafka_name(self.alerts_topic))
                .set_value_serialization_schema(SimpleStringSchema())
                .build()
            )
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        )
        for key, value in self.lab.kafka_client_properties().items():  # a secured Kafka's TLS and login
            builder.set_property(key, value)
        alerts.sink_to(builder.build())
        name = f"l09 fraud rules g{self.generation}"
        self.job = self.lab.start(env.execute_async(name), name)
        return self.job


class SqlPipeline(Pipeline):
    """Rule 2 alone as an unbounded Flink SQL job (``INSERT INTO alerts ... MATCH_RECOGNIZE``):
    the same card-testing alerts as `LivePipeline`, in the same JSON shape, but computed
    entirely inside the JVM - no Python operator. Used by `measure` to show what the
    Python operators cost. It reads `TX_SCHEMA`, so the transactions need ``ts``
    (`with_ts`). Its alerts wait for the watermark (MATCH_RECOGNIZE sorts rows by event
    time first), so they need later transactions on every partition."""

    ALERTS = """
  rule STRING, account_id STRING, tx_ids ARRAY<STRING>, amounts ARRAY<DOUBLE>,
  event_ts BIGINT, detail STRING, generation INT, detected_at BIGINT
"""

    def sql(self) -> str:
        """The job's statement: rule 2's pairs (`match_recognize_sql`) as common alerts."""
        r = self.rules
        pairs = match_recognize_sql("transactions", r.small, r.large, within_ms(r.within))
        return f"""
INSERT INTO alerts
SELECT 'card_testing', account_id, ARRAY[small_tx_id, large_tx_id], ARRAY[small_amount, large_amount],
       large_ts, 'MATCH_RECOGNIZE', {self.generation}, UNIX_TIMESTAMP() * 1000
FROM ({pairs}) AS pairs"""

    def start(self, rules: Rules | None = None) -> Job:
        """(Re)start the job with ``rules``; returns the labkit `Job`."""
        self._next_generation(rules)
        t_env = self.lab.table_env()
        self.lab.kafka_table(
            t_env, "transactions", TX_SCHEMA, topic=self.tx_topic, **{"scan.watermark.idle-timeout": "2 s"}
        )
        self.lab.kafka_table(t_env, "alerts", self.ALERTS, topic=self.alerts_topic)
        name = f"l09 card testing (SQL) g{self.generation}"
        self.job = self.lab.start(t_env.execute_sql(self.sql()), name)
        return self.job
