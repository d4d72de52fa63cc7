"""Lesson 09's plumbing: "Kafka alone" (`read_as_group`), and "Flink alone": a payment app
with no Kafka, feeding Flink over a socket.

Flink can read from sources that keep nothing: a socket is the classic one (Flink's
``socketTextStream``; PyFlink does not wrap it, so :func:`socket_stream` does). The
payment app (:class:`SocketFeed`) writes each payment as one JSON line to whichever Flink
source is connected *right now*; when none is (the job is stopped), the payment goes
nowhere - exactly what happens to a live feed nobody records. The lesson runs the same
Flink job on this socket and on a Kafka topic and stops both mid-stream.

Also used here: stopping a job with a savepoint and starting its successor from it
(:func:`~labkit.flink.jobs.stop_with_savepoint`, :func:`~labkit.flink.jobs.resume_from`,
shared with the rescale drill), so both jobs keep their *state* across the stop - the only
difference left between them is whether the input was kept; and the drill itself
(:class:`Drill`), wired from :func:`payments_from_kafka`, :func:`payments_from_socket`,
:func:`alerts_to_kafka` and :func:`rule_1_job`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import LabError
from ..flink.client import java_object
from ..flink.jobs import resume_from, stop_with_savepoint
from ..waiting import wait_for
from .data import LARGE, SMALL, WITHIN, marker_pair, parse
from .rules import Rules, event_time, rules_stream, small_then_large_function, within_ms

if TYPE_CHECKING:
    from ..flink import Job
    from ..lab import Lab


class SocketFeed:
    """A payment app that has no Kafka: it serves its live payments on a TCP socket
    (127.0.0.1, a free port) to whichever reader is connected at the moment.

    ``delivered`` and ``dropped`` list the tx_ids written to a reader and those sent while
    nobody was connected (gone for good). One reader at a time: a new connection (a
    restarted Flink job) replaces the old one.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._connected = threading.Condition(self._lock)
        self._closed = False
        self.delivered: list[str] = []
        self.dropped: list[str] = []
        self._thread = threading.Thread(target=self._accept, name=f"socket feed :{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:  # the server socket was closed
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._client is not None:
                    self._client.close()
                self._client = conn
                self._connected.notify_all()

    def _reader(self) -> socket.socket | None:
        """The connected reader, or None once it has hung up (checked without blocking)."""
        client = self._client
        if client is None:
            return None
        try:
            client.setblocking(False)
            try:
                gone = client.recv(1, socket.MSG_PEEK) == b""  # b"": the reader closed its end
            except BlockingIOError:
                gone = False  # open, and it never writes to us
            finally:
                client.setblocking(True)
        except OSError:
            gone = True
        if gone:
            client.close()
            self._client = None
            return None
        return client

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._reader() is not None

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Block until a reader (a Flink socket source) is connected."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._reader() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(
                        f"no Flink source connected to 127.0.0.1:{self.port} within {timeout:.0f} s"
                    )
                self._connected.wait(min(left, 0.1))

    def wait_disconnected(self, timeout: float = 30.0) -> None:
        """Block until the reader has hung up (its job was stopped)."""
        deadline = time.monotonic() + timeout
        while self.connected:
            if time.monotonic() > deadline:
                raise LabError(f"the reader of 127.0.0.1:{self.port} still holds on after {timeout:.0f} s")
            time.sleep(0.02)

    def send(self, payments: Iterable[Mapping[str, Any]]) -> int:
        """Write each payment as a JSON line to the connected reader, or drop it if there
        is none; returns how many were delivered."""
        n = 0
        with self._lock:
            for tx in payments:
                client = self._reader()
                line = (json.dumps(dict(tx), default=str) + "\n").encode()
                if client is not None:
                    try:
                        client.sendall(line)
                        self.delivered.append(str(tx.get("tx_id")))
                        n += 1
                        continue
                    except OSError:
                        client.close()
                        self._client = None
                self.dropped.append(str(tx.get("tx_id")))
        return n

    def close(self) -> None:
        self._closed = True
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        self._server.close()

    def __repr__(self) -> str:
        state = "a reader connected" if self.connected else "nobody listening"
        return (
            f"<SocketFeed 127.0.0.1:{self.port}: {state}; {len(self.delivered)} delivered, "
            f"{len(self.dropped)} dropped>"
        )


def socket_stream(env: Any, feed: SocketFeed) -> Any:
    """Flink's socket source (``socketTextStream``) on ``feed``: one string per line.

    PyFlink has no wrapper for it, so this calls the Java environment. The source runs on
    the TaskManager and connects to the feed's port; it keeps nothing - a line sent while
    it is not connected never reaches Flink - and it cannot start "from the beginning".
    """
    from pyflink.datastream import DataStream

    return DataStream(java_object(env).socketTextStream(feed.host, feed.port, "\n", 0))


# --- Kafka alone: applications read the topic, each in its own group ---------------------------


def read_as_group(
    lab: Lab, topic: str, group_id: str, n: int, timeout: float = 60.0
) -> tuple[list[dict], int]:
    """One application: a ``KafkaConsumer`` in its own group polls ``topic`` until it has
    ``n`` records (or ``timeout`` passes), commits, and returns the values it read and the
    group's committed position (the sum of its committed offsets)."""
    consumer = lab.consumer(topic, group_id=group_id)
    values: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(values) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values += [r.value for r in records]
    consumer.commit()  # the group's position: where it would resume
    position = sum(consumer.committed(tp) or 0 for tp in consumer.assignment())
    consumer.close()
    return values, position


# --- the drill: the same rule-1 job on a socket and on Kafka ----------------------------------
#
# The wiring of a DataStream job, piece by piece (lesson 09 shows these functions in its
# optional section "the wiring"): a source with its watermark strategy, the rule, a sink.


def payments_from_kafka(lab: Lab, env: Any, topic: str, group_id: str) -> Any:
    """Flink on Kafka: a ``KafkaSource`` of ``topic``, parsed payments with event time."""
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(lab.flink_bootstrap_servers)
        .set_topics(lab.kafka_name(topic))  # a classroom: the learner's own topic
        .set_group_id(lab.kafka_name(group_id))
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())  # a resumed job: from its savepoint
        .set_value_only_deserializer(SimpleStringSchema())
    )
    for key, value in lab.kafka_client_properties().items():  # a secured Kafka's TLS and login
        builder.set_property(key, value)
    source = builder.build()
    # event time = the Kafka record's timestamp (the producer set it to the payment's time);
    # per account the payments arrive in time order, so the watermark follows the newest one
    watermarks = WatermarkStrategy.for_monotonous_timestamps()
    payments = env.from_source(source, watermarks, "payments from Kafka")
    return payments.map(parse, output_type=Types.PICKLED_BYTE_ARRAY())


def payments_from_socket(env: Any, feed: SocketFeed) -> Any:
    """Flink alone: the socket's lines, parsed payments with event time."""
    from pyflink.common import Types, WatermarkStrategy

    # a line of text carries no record timestamp: event time comes from the payment's own field
    watermarks = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(event_time())
    return (
        socket_stream(env, feed)
        .map(parse, output_type=Types.PICKLED_BYTE_ARRAY())
        .assign_timestamps_and_watermarks(watermarks)
    )


def alerts_to_kafka(lab: Lab, alerts: Any, topic: str) -> None:
    """A ``KafkaSink``: each alert as one JSON record of ``topic``."""
    from pyflink.common import Types
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(lab.flink_bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(lab.kafka_name(topic))
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
    )
    for key, value in lab.kafka_client_properties().items():  # a secured Kafka's TLS and login
        builder.set_property(key, value)
    sink = builder.build()
    alerts.map(json.dumps, output_type=Types.STRING()).sink_to(sink)


def rule_1_job(lab: Lab, source: str, feed: SocketFeed, savepoint: str | None = None) -> Job:
    """Start rule 1 reading ``source`` ("socket" or "kafka"), alerts to ``l09-alerts-<source>``;
    from ``savepoint`` (its state, and a Kafka source's offsets) if given."""
    from pyflink.common import Types

    env = lab.stream_env()
    if savepoint:
        resume_from(env, savepoint)
    if source == "kafka":
        payments = payments_from_kafka(lab, env, Drill.PAYMENTS, "l09-rule-1")
    else:
        payments = payments_from_socket(env, feed)
    alerts = payments.key_by(lambda tx: tx["account_id"], key_type=Types.STRING()).process(
        small_then_large_function(SMALL, LARGE, within_ms(WITHIN)), output_type=Types.PICKLED_BYTE_ARRAY()
    )
    alerts_to_kafka(lab, alerts, f"l09-alerts-{source}")
    return lab.start(env.execute_async(f"l09 rule 1 on {source}"), f"l09 rule 1 on {source}")


class Drill:
    """Lesson 09's drill, "Flink alone, and Flink on Kafka": rule 1 runs twice, one job
    reading the payment app's socket (`SocketFeed`), one reading the Kafka topic
    ``l09-payments``; both write alerts to Kafka (``l09-alerts-socket``, ``l09-alerts-kafka``),
    so they are read the same way. The only difference between the two is the input.

    ``send`` is the payment app: the same payments to the socket and to Kafka, then a
    *marker pair* (a tiny and a large payment on an account of its own); ``alerts`` waits
    for the marker's alert - the job has then read everything sent before it - and returns
    the job's alerts without the markers. ``stop`` stops both jobs with a savepoint;
    ``start`` starts them (again: from those savepoints).
    """

    PAYMENTS = "l09-payments"
    SOURCES = ("socket", "kafka")

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        for topic in (self.PAYMENTS, *(f"l09-alerts-{s}" for s in self.SOURCES)):
            lab.create_topic(topic, partitions=1, replace=True)
        self.feed = SocketFeed()  # the payment app's socket on 127.0.0.1, a free port
        self.jobs: dict[str, Job] = {}
        self.savepoints: dict[str, str] = {}

    def start(self) -> Drill:
        """Start both jobs - from their savepoints if `stop` took some - and wait until the
        socket job has connected."""
        for source in self.SOURCES:
            self.jobs[source] = rule_1_job(self.lab, source, self.feed, self.savepoints.get(source))
        self.feed.wait_connected()
        return self

    def stop(self) -> dict[str, str]:
        """Stop both jobs the way you stop a job you mean to resume: with a savepoint."""
        for source in self.SOURCES:
            self.savepoints[source] = stop_with_savepoint(self.jobs.pop(source))
        self.feed.wait_disconnected()
        return self.savepoints

    def send(self, payments: list[dict], marker: str) -> None:
        """The payment app: ``payments`` and a marker pair, to the socket and to Kafka."""
        payments = payments + marker_pair(marker, payments[-1]["timestamp"] + 1)
        self.feed.send(payments)
        self.lab.produce(self.PAYMENTS, payments, key="account_id", timestamp="timestamp")

    def alerts(self, source: str, marker: str, timeout: float = 120.0) -> pd.DataFrame:
        """The alerts of the job on ``source`` once ``marker``'s alert shows it has read
        everything sent before it (without the markers' alerts)."""
        return _alerts_after(self.lab, f"l09-alerts-{source}", marker, timeout)

    def alert_pairs(self, source: str, marker: str, timeout: float = 120.0) -> list[tuple[str, str]]:
        """`alerts` as sorted (small tx_id, large tx_id) pairs: easy to compare."""
        alerts = self.alerts(source, marker, timeout)
        return sorted(zip(alerts["small_tx_id"], alerts["large_tx_id"], strict=True))

    def new_rules_on_socket(self, rules: Rules, marker_ts: int, timeout: float = 120.0) -> pd.DataFrame:
        """Tomorrow's rules as a new job on the socket (the old socket job makes way: one
        reader at a time): its alerts once a marker pair sent now has come through - all it
        can ever see of yesterday is nothing."""
        topic = "l09-alerts-socket-new"
        self.lab.create_topic(topic, partitions=1, replace=True)
        env = self.lab.stream_env()
        alerts_to_kafka(self.lab, rules_stream(payments_from_socket(env, self.feed), rules), topic)
        if "socket" in self.jobs:
            self.jobs.pop("socket").stop()
            self.feed.wait_disconnected()
        name = "l09 new rules on socket"
        self.jobs["socket-new"] = self.lab.start(env.execute_async(name), name)
        self.feed.wait_connected()
        self.feed.send(marker_pair("marker-tomorrow", marker_ts))
        return _alerts_after(self.lab, topic, "marker-tomorrow", timeout)

    def close(self) -> None:
        """Stop every job of the drill and close the socket."""
        for job in self.jobs.values():
            job.stop()
        self.jobs.clear()
        self.feed.close()


def _alerts_after(lab: Lab, topic: str, marker: str, timeout: float) -> pd.DataFrame:
    def arrived() -> pd.DataFrame | None:
        alerts = lab.read(topic)
        return alerts if len(alerts) and marker in set(alerts["account_id"]) else None

    alerts = wait_for(arrived, f"the alert on {marker} in {topic}", timeout=timeout, every=0.2)
    return alerts[~alerts["account_id"].str.startswith("marker-")].reset_index(drop=True)
