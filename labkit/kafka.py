"""Kafka helpers: a thin layer over kafka-python that notebooks reach through the lab handle.

The helpers return real kafka-python objects (``KafkaProducer``, ``KafkaConsumer``,
``KafkaAdminClient``) configured with the lab's defaults, so lessons show the real API.
The defaults exist for reasons a learner would otherwise trip over:

* fail within seconds when the broker is down (kafka-python waits 30-60 s by default);
* ``session_timeout_ms=6000``, ``heartbeat_interval_ms=1000``: a consumer that dies is
  noticed in seconds (kafka-python's defaults: 45 s and 3 s, as the Java client's);
* ``auto_offset_reset="earliest"``: a new group starts at the oldest event. Kafka's
  default is ``"latest"`` (only events produced after the consumer joins); lessons say
  so where it matters, and pass ``auto_offset_reset="latest"`` to show it.
"""

from __future__ import annotations

import copy as copy_module
import functools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResourceType
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.serializer import Serializer, SerializeWrapper

from . import kafka_python_fix
from .errors import LabError, UnknownTopic
from .records import (
    FieldOrFn,
    decode,
    encode,
    key_bytes,
    record_row,
    records_frame,
    timestamp_ms,
    value_bytes,
)
from .runtime import profile as profiles
from .runtime.net import require_broker
from .waiting import wait_for

if TYPE_CHECKING:
    from .explorer.panel import Explorer

#: Applied to every client labkit creates (overridable per call).
CLIENT_DEFAULTS: dict[str, Any] = {
    "bootstrap_timeout_ms": 5000,
    "request_timeout_ms": 10000,
}
CONSUMER_DEFAULTS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "auto_offset_reset": "earliest",
}

kafka_python_fix.install()  # before any consumer of the lab joins a group


class KafkaHelpers:
    """Mixed into the lab handle, which provides the address declared here."""

    @property
    def bootstrap_servers(self) -> str:
        """Kafka, as this notebook reaches it (the lab handle says)."""
        raise NotImplementedError

    # --- clients ----------------------------------------------------------------

    def client_config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The settings every labkit client gets (address, fail-fast timeouts) plus ``overrides``:
        for building a kafka-python client yourself with the lab's defaults.

        A lab with a connection profile (a Kafka that wants SASL_SSL, `Endpoints.kafka_profile`)
        adds its TLS and login settings, the password as a `profile.Secret` (shown as
        ``******``), and logs in once first: a wrong password or an untrusted CA is the
        profile's clear `ProfileError` within seconds, not kafka-python's "Unable to bootstrap"."""
        require_broker(self.bootstrap_servers)
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers, **CLIENT_DEFAULTS}
        found = profiles.of_endpoints(getattr(self, "endpoints", None))
        if found is not None:
            timeout = CLIENT_DEFAULTS["bootstrap_timeout_ms"] / 1000
            profiles.ensure_login(found, self.bootstrap_servers, timeout)
            config = {**profiles.client_options(found), **config}
        return {**config, **(overrides or {})}

    # --- names on a shared Kafka ----------------------------------------------------

    @property
    def topic_prefix(self) -> str:
        """What this lab's topics, consumer groups and transactional ids are called by with
        Kafka's own names, on a shared (classroom) Kafka: the learner's prefix
        (``learner-01.``, from the connection profile). "" on a Kafka of the lab's own."""
        found = profiles.of_endpoints(getattr(self, "endpoints", None))
        return found.topic_prefix if found is not None else ""

    def kafka_name(self, name: str) -> str:
        """The name Kafka knows ``name`` by - a topic, a consumer group, a transactional id:
        with the lab's `topic_prefix`, unless it has it already or names a shared topic
        (``shared.``). labkit's helpers call it, so a lesson's ``"l01-clicks"`` is the learner's
        own ``learner-01.l01-clicks`` in a classroom and ``l01-clicks`` everywhere else."""
        return profiles.kafka_name(profiles.of_endpoints(getattr(self, "endpoints", None)), name)

    def lab_name(self, name: str) -> str:
        """The name a lesson uses for Kafka's ``name`` (`kafka_name` undone)."""
        return profiles.lab_name(profiles.of_endpoints(getattr(self, "endpoints", None)), name)

    def _renaming(self) -> tuple[Callable[[str], str], Callable[[str], str]] | None:
        """`kafka_name` and `lab_name` bound to the lab's profile as it is now, for a client
        that renames every record and call (no profile lookup each time); None without a prefix."""
        found = profiles.of_endpoints(getattr(self, "endpoints", None))
        if found is None or not found.topic_prefix:
            return None
        return functools.partial(profiles.kafka_name, found), functools.partial(profiles.lab_name, found)

    def admin(self, **overrides: Any) -> KafkaAdminClient:
        """A ``KafkaAdminClient`` for this lab's broker, speaking the lesson's names: on a shared
        (classroom) Kafka a `NamedAdmin`, so ``create_partitions({"l02-grown": 4})`` grows the
        learner's own topic and ``list_groups()`` answers ``l03-analytics``, as on a lab's own."""
        renaming = self._renaming()
        if renaming:
            return NamedAdmin(*renaming, **self.client_config(overrides))
        return KafkaAdminClient(**self.client_config(overrides))

    def kafka_admin(self, **overrides: Any) -> KafkaAdminClient:
        """A plain ``KafkaAdminClient`` that speaks Kafka's own names (``learner-01.l02-grown``
        in a classroom): for labkit's helpers, which name topics and groups with `kafka_name`
        themselves and must see Kafka's names in what comes back."""
        return KafkaAdminClient(**self.client_config(overrides))

    def producer(self, **overrides: Any) -> KafkaProducer:
        """A ``KafkaProducer`` that sends bytes as they are, text as UTF-8, dicts and lists as JSON.

        Keys and values follow `records.value_bytes` / `records.key_bytes`: a learner's
        own bytes (kafka-python's examples send ``b"raw"``) arrive unchanged, ``None`` is
        no key / a tombstone, and a value with no faithful form (a set, an object) makes
        ``send`` raise a ValueError naming it instead of sending its Python repr.
        """
        config = {
            "value_serializer": value_bytes,
            "key_serializer": key_bytes,
            "max_block_ms": 10000,
            "acks": "all",
            "linger_ms": 5,
            **overrides,
        }
        # kafka-python 3 warns (into the learner's notebook) about plain functions as
        # serializers; wrapping them the way it would itself keeps lessons quiet.
        for name in ("key_serializer", "value_serializer"):
            if callable(config[name]) and not isinstance(config[name], Serializer):
                config[name] = SerializeWrapper(config[name])
        renaming = self._renaming()
        if renaming:
            return NamedProducer(renaming[0], **self.client_config(config))
        return KafkaProducer(**self.client_config(config))

    def consumer(self, *topics: str, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
        """A ``KafkaConsumer`` decoding JSON values (malformed ones arrive as text).

        Subscribes to ``topics`` (with ``group_id``, the group shares the partitions);
        pass no topics to ``assign`` partitions yourself.
        """
        for topic in topics:
            self.require_topic(topic)
        config = {
            "group_id": self.kafka_name(group_id) if group_id else None,
            "value_deserializer": lambda raw: decode(raw)[0],
            "key_deserializer": lambda raw: None if raw is None else raw.decode("utf-8", "replace"),
            **CONSUMER_DEFAULTS,
            **overrides,
        }
        renaming = self._renaming()
        if renaming:
            return NamedConsumer(*renaming, *topics, **self.client_config(config))
        return KafkaConsumer(*topics, **self.client_config(config))

    def explore(self, tab: str = "topics", *, every: float = 2.0, internal: bool = False) -> Explorer:
        """The Kafka explorer: topics, messages at an offset or a time (live tail), consumer
        groups with their lag per partition, and which broker leads and holds each partition -
        refreshed every ``every`` seconds (Pause stops it), read-only. ``tab`` is the one it
        opens on ("topics", "messages", "groups", "brokers"); ``internal=True`` also lists
        Kafka's own topics (``__consumer_offsets``...)."""
        from .explorer.panel import Explorer  # ipywidgets: loaded when a notebook asks for it

        return Explorer(self, every=every, internal=internal, tab=tab)

    # --- topics -----------------------------------------------------------------

    def topics(self) -> list[str]:
        """The topics on the broker, sorted."""
        with closing(self.kafka_admin()) as admin:
            return sorted(self.lab_name(t) for t in admin.list_topics() if not t.startswith("__"))

    def require_topic(self, topic: str) -> None:
        """Raise `UnknownTopic` (with the topics that do exist) unless ``topic`` exists.

        Checked before producing too: Kafka (``auto.create.topics.enable``, on by default)
        would otherwise silently create a misspelt topic with one partition.
        """
        existing = self.topics()
        if self.lab_name(topic) not in existing:  # a lesson's name, or Kafka's own for it
            raise UnknownTopic(
                f"Topic {topic!r} does not exist. Existing topics: "
                f"{', '.join(existing) or '(none)'}. Create it with "
                f"lab.create_topic({topic!r}, partitions=...)."
            )

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        replace: bool = False,
        replication_factor: int | None = None,
        config: Mapping[str, str] | None = None,
        assignments: Mapping[int, list[int]] | None = None,
    ) -> str:
        """Create a topic and return its name.

        ``replace=True`` first deletes a topic of that name, so a lesson that is run twice
        starts from an empty topic instead of mixing in the earlier run's events.
        ``replication_factor`` defaults to the broker's ``default.replication.factor``
        (1 on one broker, 3 with ``labkit up --brokers 3``); ``config`` sets topic
        configs such as ``{"retention.ms": "5000"}`` or ``{"cleanup.policy": "compact"}``.
        ``assignments`` places each partition's replicas yourself (``{0: [2]}``: partition 0,
        one replica, on broker 2); the partitions and replication factor then follow from it.
        """
        if not isinstance(partitions, int) or not 1 <= partitions <= 64:
            raise ValueError(f"partitions must be a whole number from 1 to 64, not {partitions!r}")
        options: dict[str, Any] = {"configs": dict(config or {})}
        if assignments:
            options["assignments"] = {int(p): list(replicas) for p, replicas in assignments.items()}
        else:
            options.update(num_partitions=partitions, replication_factor=replication_factor or -1)
        shown, name = name, self.kafka_name(name)
        new = {name: options}
        with closing(self.kafka_admin()) as admin:
            deleted = replace and name in admin.list_topics()
            if deleted:
                admin.delete_topics([name])
                gone = lambda: name not in admin.list_topics()  # noqa: E731
                wait_for(gone, f"topic {name!r} to be deleted", timeout=15, every=0.05)
            # Kafka deletes a topic in the background: for a moment after it has gone from
            # the topic list, creating it again still answers "already exists".
            deadline = time.monotonic() + (15 if deleted else 0)
            while True:
                try:
                    admin.create_topics(new)
                    break
                except TopicAlreadyExistsError:
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise LabError(
                        f"Topic {shown!r} already exists. Use replace=True to start it afresh "
                        f"(this deletes its events), or pick another name."
                    ) from None
            wait_for(
                lambda: name in admin.list_topics(), f"topic {shown!r} to appear", timeout=15, every=0.05
            )
        return shown

    def delete_topic(self, *names: str) -> None:
        """Delete topics; names that do not exist are ignored."""
        with closing(self.kafka_admin()) as admin:
            existing = set(admin.list_topics())
            doomed = [self.kafka_name(n) for n in names if self.kafka_name(n) in existing]
            if doomed:
                admin.delete_topics(doomed)

    def delete_groups(self, *group_ids: str) -> None:
        """Forget consumer groups (and their committed offsets); unknown ones are ignored."""
        with closing(self.kafka_admin()) as admin:
            known = {g["group_id"] for g in admin.list_groups()}
            doomed = [self.kafka_name(g) for g in group_ids if self.kafka_name(g) in known]
            if doomed:
                admin.delete_groups(doomed)

    def partitions(self, topic: str) -> list[int]:
        self.require_topic(topic)
        with closing(KafkaConsumer(**self.client_config({}))) as consumer:
            return sorted(consumer.partitions_for_topic(self.kafka_name(topic)) or [])

    def end_offsets(self, topic: str) -> dict[int, int]:
        """The log end offset of each partition: the offset the *next* event will get."""
        named = self.kafka_name(topic)
        tps = [TopicPartition(named, p) for p in self.partitions(topic)]
        with closing(KafkaConsumer(**self.client_config({"enable_auto_commit": False}))) as c:
            ends = c.end_offsets(tps)
        return {p: ends[TopicPartition(named, p)] for p in sorted(tp.partition for tp in tps)}

    def reader(
        self,
        topic: str,
        *,
        start: str | int | datetime | pd.Timestamp = "beginning",
        raw: bool = False,
        **overrides: Any,
    ) -> KafkaConsumer:
        """A consumer in no group, assigned every partition of ``topic`` and positioned at ``start``.

        ``start``: ``"beginning"`` (the oldest event kept), ``"end"`` (only what arrives
        from now on), an offset (the same in every partition, capped at each partition's
        end) or a time (each partition's first event at or after it, the end where none is).
        Without a group nothing is committed: reading this way changes nobody's position.
        ``raw=True`` leaves keys and values as bytes (for `record_row`). Use it in a
        ``with`` block so it is closed.
        """
        if isinstance(start, bool) or not isinstance(start, (str, int, datetime, pd.Timestamp)):
            raise TypeError(f"start must be 'beginning', 'end', an offset or a time, not {start!r}")
        if isinstance(start, str) and start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning', 'end', an offset or a time, not {start!r}")
        if isinstance(start, int) and start < 0:
            raise ValueError(f"an offset is 0 or more, not {start}")
        self.require_topic(topic)  # a clear error for an unknown topic, before any client
        config: dict[str, Any] = {"enable_auto_commit": False, **overrides}
        if raw:
            config["value_deserializer"] = config["key_deserializer"] = None
            consumer = KafkaConsumer(**self.client_config(config))
        else:
            consumer = self.consumer(**config)
        # a NamedConsumer (a classroom) speaks the lesson's names; a plain one, Kafka's
        named = topic if isinstance(consumer, NamedConsumer) else self.kafka_name(topic)
        tps = [TopicPartition(named, p) for p in sorted(consumer.partitions_for_topic(named) or [])]
        consumer.assign(tps)
        if start == "beginning":
            consumer.seek_to_beginning(*tps)
            return consumer
        ends = consumer.end_offsets(tps)
        if start == "end":
            for tp in tps:
                consumer.seek(tp, ends[tp])
        elif isinstance(start, int):
            for tp in tps:
                consumer.seek(tp, min(start, ends[tp]))
        else:
            found = consumer.offsets_for_times({tp: timestamp_ms(start) for tp in tps})
            for tp in tps:
                hit = found.get(tp)
                consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        return consumer

    def scratch_topic(self, prefix: str, partitions: int = 1, **settings: Any) -> str:
        """Create a new, empty topic named ``<prefix>-<random>`` and return its name.

        For a topic that must not meet an earlier run's events or another notebook's (a
        check's private input, a benchmark's output). ``settings`` go to `create_topic`
        (``replication_factor``, ``config``); delete it with `delete_topic` when done.
        """
        if not prefix or not all(c.isalnum() or c in "._-" for c in prefix):
            raise ValueError(f"a topic prefix uses letters, digits, '.', '_' and '-' only, not {prefix!r}")
        return self.create_topic(f"{prefix.rstrip('-')}-{uuid.uuid4().hex[:10]}", partitions, **settings)

    def describe_topic(self, topic: str) -> pd.DataFrame:
        """One row per partition: where its log starts and ends and how many events it holds."""
        ends = self.end_offsets(topic)
        named = self.kafka_name(topic)
        tps = [TopicPartition(named, p) for p in ends]
        with closing(KafkaConsumer(**self.client_config({}))) as c:
            starts = c.beginning_offsets(tps)
        rows = [
            {"partition": p, "start_offset": starts[TopicPartition(named, p)], "end_offset": end}
            for p, end in ends.items()
        ]
        df = pd.DataFrame(rows, columns=["partition", "start_offset", "end_offset"])
        df["events"] = df["end_offset"] - df["start_offset"]
        return df

    # --- produce and read --------------------------------------------------------

    def produce(
        self,
        topic: str,
        events: Iterable[Mapping[str, Any] | bytes | None],
        *,
        key: FieldOrFn = None,
        timestamp: FieldOrFn = None,
        headers: Callable[[dict], Mapping[str, str]] | Mapping[str, str] | None = None,
        producer: KafkaProducer | None = None,
    ) -> int:
        """Send dicts to ``topic`` as JSON and wait until the broker has them all.

        Bytes are sent as they are and None is a tombstone (`records.encode`).
        ``key`` and ``timestamp`` name a field of each event (or are functions of it);
        ``timestamp`` becomes the record's CreateTime, which Flink can use as event time.
        A list of events is checked in full before the first one is sent, so a bad event
        raises an error that names it and nothing is half-sent. A generator cannot be
        checked ahead: the events before a bad one are sent (and flushed, so they are all
        in Kafka when the error names how many). Returns the count sent.
        """
        self.require_topic(topic)
        named = self.kafka_name(topic)
        records: Iterable = (encode(i, e, key, timestamp, headers) for i, e in enumerate(events))
        if isinstance(events, (Sequence, pd.DataFrame)):
            records = list(records)  # validate every event before sending the first
        own = producer is None
        producer = producer or self.producer(value_serializer=None, key_serializer=None)
        try:
            count = 0
            try:
                for k, v, ts, hdrs in records:
                    producer.send(named, key=k, value=v, timestamp_ms=ts, headers=hdrs)
                    count += 1
            except ValueError as exc:  # a generator's bad event: the ones before it are sent
                producer.flush(timeout=30)
                raise ValueError(f"{exc} (the {count} events before it were sent)") from None
            producer.flush(timeout=30)
            return count
        finally:
            if own:
                producer.close(timeout=5)

    def read(self, topic: str, *, limit: int | None = None, timeout: float = 30.0) -> pd.DataFrame:
        """Everything currently in ``topic`` as a DataFrame, one row per event.

        Rows are in partition order, then offset order: Kafka orders events within a
        partition only. Columns: partition, offset, timestamp (UTC), key, then the JSON
        fields of the value; ``headers`` when any event has some. A value that is not valid JSON keeps
        its text in ``_raw`` with the reason in ``_error``: nothing is dropped.
        """
        rows: list[dict] = []
        with closing(self.reader(topic, start="beginning", raw=True)) as c:
            # what "currently" means: each partition's end as this reader starts
            ends = {tp.partition: end for tp, end in c.end_offsets(list(c.assignment())).items()}
            pending = {tp for tp in c.assignment() if ends[tp.partition] > 0}
            deadline = time.monotonic() + timeout
            while pending and (limit is None or len(rows) < limit):
                if time.monotonic() > deadline:
                    raise LabError(f"Reading {topic!r} took longer than {timeout} s.")
                for tp, records in c.poll(200).items():
                    rows.extend(record_row(r) for r in records if r.offset < ends[tp.partition])
                # every pending partition, not only those that returned records: one emptied by
                # retention or delete_records, or ending in a transaction marker, has none to return
                pending = {tp for tp in pending if c.position(tp) < ends[tp.partition]}
        rows.sort(key=lambda r: (r["partition"], r["offset"]))
        return records_frame(rows[:limit] if limit else rows)

    def tail(
        self,
        topic: str,
        *,
        seconds: float = 10.0,
        last: int = 10,
        from_beginning: bool = False,
        until: Callable[[pd.DataFrame], bool] | None = None,
    ) -> pd.DataFrame:
        """Watch ``topic`` live for ``seconds``: a table of the newest ``last`` events
        refreshes as they arrive. Returns every event seen, as `read` would.

        ``until`` stops early once it returns True for the events seen so far.
        """
        from .panels.base import live_table

        rows: list[dict] = []
        with (
            live_table(f"tail {topic}", last) as show,
            closing(self.reader(topic, start="beginning" if from_beginning else "end", raw=True)) as c,
        ):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                batch = c.poll(200)
                new = [record_row(r) for records in batch.values() for r in records]
                if new:
                    rows.extend(new)
                    show(records_frame(rows))
                if until and rows and until(records_frame(rows)):
                    break
        return records_frame(rows)


class NamedProducer(KafkaProducer):
    """A ``KafkaProducer`` on a shared (classroom) Kafka that sends to the learner's own topic
    when a lesson names one (`KafkaHelpers.kafka_name`): ``send("l02-orders", ...)`` writes
    ``learner-01.l02-orders``. Everything else is kafka-python's."""

    def __init__(self, rename: Callable[[str], str], **config: Any) -> None:
        self._rename = rename
        super().__init__(**config)

    def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        return super().send(self._rename(topic), *args, **kwargs)

    def partitions_for(self, topic: str) -> Any:
        return super().partitions_for(self._rename(topic))


class NamedConsumer(KafkaConsumer):
    """A ``KafkaConsumer`` on a shared (classroom) Kafka that speaks a lesson's topic names:
    ``assign([TopicPartition("l01-one-event", 0)])`` reads the learner's own
    ``learner-01.l01-one-event``, and what comes back - `poll`'s partitions and records,
    `assignment`, offsets by partition - names it ``l01-one-event`` again, so the lesson's
    ``batch[partition0]`` finds it. Everything else is kafka-python's."""

    def __init__(
        self, rename: Callable[[str], str], unname: Callable[[str], str], *topics: str, **config: Any
    ) -> None:
        self._rename, self._unname = rename, unname
        super().__init__(*(rename(t) for t in topics), **config)

    def _in(self, tp: TopicPartition) -> TopicPartition:
        return TopicPartition(self._rename(tp.topic), tp.partition)

    def _out(self, tp: TopicPartition) -> TopicPartition:
        return TopicPartition(self._unname(tp.topic), tp.partition)

    def _out_keys(self, found: Mapping[TopicPartition, Any] | None) -> Any:
        return found if found is None else {self._out(tp): v for tp, v in found.items()}

    # each is kafka-python's method of that name, the names translated
    def assign(self, partitions: Iterable[TopicPartition]) -> Any:
        return super().assign([self._in(tp) for tp in partitions])

    def assignment(self) -> set[TopicPartition]:
        return {self._out(tp) for tp in super().assignment()}

    def subscribe(self, topics: Iterable[str] = (), pattern: str | None = None, listener: Any = None) -> Any:
        return super().subscribe([self._rename(t) for t in topics], pattern, listener)

    def subscription(self) -> set[str] | None:
        found = super().subscription()
        return None if found is None else {self._unname(t) for t in found}

    def topics(self) -> set[str]:
        return {self._unname(t) for t in super().topics()}

    def partitions_for_topic(self, topic: str) -> Any:
        return super().partitions_for_topic(self._rename(topic))

    def poll(self, timeout_ms: int = 0, max_records: int | None = None, update_offsets: bool = True) -> Any:
        batch = super().poll(timeout_ms, max_records, update_offsets)
        return {
            self._out(tp): [r._replace(topic=self._unname(r.topic)) for r in records]
            for tp, records in batch.items()
        }

    def __next__(self) -> Any:
        record = super().__next__()
        return record._replace(topic=self._unname(record.topic))

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> Any:
        return super().position(self._in(partition), timeout_ms)

    def highwater(self, partition: TopicPartition) -> Any:
        return super().highwater(self._in(partition))

    def committed(
        self, partition: TopicPartition, metadata: bool = False, timeout_ms: int | None = None
    ) -> Any:
        return super().committed(self._in(partition), metadata, timeout_ms)

    def commit(
        self, offsets: Mapping[TopicPartition, Any] | None = None, timeout_ms: int | None = None
    ) -> Any:
        named = None if offsets is None else {self._in(tp): v for tp, v in offsets.items()}
        return super().commit(named, timeout_ms)

    def commit_async(self, offsets: Mapping[TopicPartition, Any] | None = None, callback: Any = None) -> Any:
        named = None if offsets is None else {self._in(tp): v for tp, v in offsets.items()}
        return super().commit_async(named, callback)

    def seek(self, partition: TopicPartition, offset: int) -> Any:
        return super().seek(self._in(partition), offset)

    def seek_to_beginning(self, *partitions: TopicPartition) -> Any:
        return super().seek_to_beginning(*(self._in(tp) for tp in partitions))

    def seek_to_end(self, *partitions: TopicPartition) -> Any:
        return super().seek_to_end(*(self._in(tp) for tp in partitions))

    def pause(self, *partitions: TopicPartition) -> Any:
        return super().pause(*(self._in(tp) for tp in partitions))

    def resume(self, *partitions: TopicPartition) -> Any:
        return super().resume(*(self._in(tp) for tp in partitions))

    def paused(self) -> set[TopicPartition]:
        return {self._out(tp) for tp in super().paused()}

    def beginning_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: int | None = None) -> Any:
        return self._out_keys(super().beginning_offsets([self._in(tp) for tp in partitions], timeout_ms))

    def end_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: int | None = None) -> Any:
        return self._out_keys(super().end_offsets([self._in(tp) for tp in partitions], timeout_ms))

    def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], timeout_ms: int | None = None
    ) -> Any:
        found = super().offsets_for_times({self._in(tp): t for tp, t in timestamps.items()}, timeout_ms)
        return self._out_keys(found)


class NamedAdmin(KafkaAdminClient):
    """A ``KafkaAdminClient`` on a shared (classroom) Kafka that speaks a lesson's names, as
    `NamedConsumer` does: the topics, groups and ``TopicPartition``s a lesson passes are the
    learner's own (``create_partitions({"l02-grown": 4})`` grows ``learner-01.l02-grown``), and
    the names that come back (`list_topics`, `describe_topics`, `list_groups`, offsets by
    partition...) are the lesson's again, so ``g["group_id"].startswith("l03-")`` finds the
    learner's groups. The methods not translated here are kafka-python's, with Kafka's names."""

    def __init__(self, rename: Callable[[str], str], unname: Callable[[str], str], **config: Any) -> None:
        self._rename, self._unname = rename, unname
        super().__init__(**config)

    def _in(self, name: Any) -> Any:
        return self._rename(name) if isinstance(name, str) else name  # a topic id (uuid) as it is

    def _tp_in(self, tp: TopicPartition) -> TopicPartition:
        return TopicPartition(self._rename(tp.topic), tp.partition)

    def _tp_out(self, found: Any) -> Any:
        """``found`` with each ``TopicPartition`` key named the lesson's way (other answers as they are)."""
        if not isinstance(found, Mapping):
            return found
        return {
            TopicPartition(self._unname(k.topic), k.partition) if isinstance(k, TopicPartition) else k: v
            for k, v in found.items()
        }

    # each is kafka-python's method of that name, the names translated
    def list_topics(self) -> list[str]:
        return [self._unname(t) for t in super().list_topics()]

    def describe_topics(self, topics: Iterable[Any] | None = None) -> list[dict]:
        named = None if topics is None else [self._in(t) for t in topics]
        return [{**t, "name": self._unname(t["name"])} for t in super().describe_topics(named)]

    def create_topics(self, new_topics: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(new_topics, Mapping):
            named: Any = {self._rename(name): options for name, options in new_topics.items()}
        else:  # names, or kafka-python's (deprecated) NewTopic objects
            named = [self._rename(t) if isinstance(t, str) else _renamed(t, self._rename) for t in new_topics]
        return super().create_topics(named, *args, **kwargs)

    def delete_topics(self, topics: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        return super().delete_topics([self._in(t) for t in topics], *args, **kwargs)

    def create_partitions(self, topic_partitions: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        named = {self._rename(name): count for name, count in topic_partitions.items()}
        return super().create_partitions(named, *args, **kwargs)

    def delete_records(
        self, records_to_delete: Mapping[TopicPartition, int], *args: Any, **kwargs: Any
    ) -> Any:
        named = {self._tp_in(tp): offset for tp, offset in records_to_delete.items()}
        return self._tp_out(super().delete_records(named, *args, **kwargs))

    def list_partition_offsets(
        self, topic_partition_specs: Mapping[TopicPartition, Any], *args: Any, **kwargs: Any
    ) -> Any:
        named = {self._tp_in(tp): spec for tp, spec in topic_partition_specs.items()}
        return self._tp_out(super().list_partition_offsets(named, *args, **kwargs))

    def list_groups(self, *args: Any, **kwargs: Any) -> Any:
        return [{**g, "group_id": self._unname(g["group_id"])} for g in super().list_groups(*args, **kwargs)]

    def describe_groups(self, group_ids: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        found = super().describe_groups([self._rename(g) for g in group_ids], *args, **kwargs)
        return {
            self._unname(g): {**d, "group_id": self._unname(d["group_id"])} if "group_id" in d else d
            for g, d in found.items()
        }

    def list_group_offsets(self, group_specs: Any) -> Any:
        if isinstance(group_specs, str):
            group_specs = [group_specs]
        if isinstance(group_specs, Mapping):
            named: Any = {
                self._rename(g): None if tps is None else [self._tp_in(tp) for tp in tps]
                for g, tps in group_specs.items()
            }
        else:
            named = [self._rename(g) for g in group_specs]
        found = super().list_group_offsets(named)
        return {self._unname(g): self._tp_out(offsets) for g, offsets in found.items()}

    def delete_groups(self, group_ids: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        return super().delete_groups([self._rename(g) for g in group_ids], *args, **kwargs)

    def alter_group_offsets(
        self, group_id: str, offsets: Mapping[TopicPartition, Any], *args: Any, **kwargs: Any
    ) -> Any:
        named = {self._tp_in(tp): offset for tp, offset in offsets.items()}
        return self._tp_out(super().alter_group_offsets(self._rename(group_id), named, *args, **kwargs))

    def delete_group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition], *args: Any, **kwargs: Any
    ) -> Any:
        named = [self._tp_in(tp) for tp in partitions]
        return self._tp_out(super().delete_group_offsets(self._rename(group_id), named, *args, **kwargs))

    def describe_configs(self, config_resources: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        found = super().describe_configs([self._resource_in(r) for r in config_resources], *args, **kwargs)
        return {
            kind: {self._unname(name): data for name, data in by_name.items()}
            if kind in ("topic", "group")
            else by_name
            for kind, by_name in found.items()
        }

    def alter_configs(self, config_resources: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        return super().alter_configs([self._resource_in(r) for r in config_resources], *args, **kwargs)

    def _resource_in(self, resource: Any) -> Any:
        """A ``ConfigResource`` of a topic or group under Kafka's name (a broker's as it is)."""
        if getattr(resource, "resource_type", None) not in (
            ConfigResourceType.TOPIC,
            ConfigResourceType.GROUP,
        ):
            return resource
        return _renamed(resource, self._rename)


def _renamed(topic: Any, rename: Callable[[str], str]) -> Any:
    """A copy of a kafka-python ``NewTopic`` (or ``ConfigResource``) under Kafka's name for it."""
    copy = copy_module.copy(topic)
    copy.name = rename(topic.name)
    return copy


class closing:
    """``with`` for kafka-python clients that never lets an error from ``close()`` hide the
    real one (kafka-python's own ``with`` re-raises it, e.g. while the broker is down)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing must never mask the real error
            pass


__all__ = [
    "KafkaHelpers",
    "NamedAdmin",
    "NamedConsumer",
    "NamedProducer",
    "UnknownTopicOrPartitionError",
    "closing",
]
