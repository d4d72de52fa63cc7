"""Kafka helpers against the lab's real Kafka broker."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from kafka import KafkaConsumer, TopicPartition

import labkit
from labkit import events
from labkit.errors import BrokerUnavailable, LabError, UnknownTopic


def test_produce_read_round_trip_keeps_keys_order_and_timestamps(lab, topic):
    # the events are stamped 2026-01-01: the lab's broker keeps them (log.retention.ms=-1)
    name = topic("rt", partitions=3)
    sent = list(events.clicks(300, seed=7))
    assert lab.produce(name, sent, key="user_id", timestamp="ts") == 300
    df = lab.read(name)
    assert len(df) == 300
    assert sorted(df["event_id"]) == sorted(e["event_id"] for e in sent)
    # one key -> one partition, and within it the order the events were sent
    assert (df.groupby("key")["partition"].nunique() == 1).all()
    for _, part in df.sort_values("offset").groupby("partition"):
        ids = [int(e.split("-")[1]) for e in part["event_id"]]
        assert ids == sorted(ids)
    assert (df["timestamp"].astype("int64") // 10**6 == df["ts"]).all()


def test_end_offsets_are_the_true_log_end(lab, topic):
    name = topic("ends", partitions=2)
    lab.produce(name, [{"i": i} for i in range(37)], key=lambda e: "same")
    ends = lab.end_offsets(name)
    assert sum(ends.values()) == 37  # one batch of 37 into one partition: its end is 37
    assert lab.describe_topic(name)["events"].sum() == 37


def test_read_returns_at_once_when_a_partition_holds_nothing_any_more(lab, topic):
    name = topic("emptied", partitions=2)
    lab.produce(name, [{"i": i} for i in range(10)], key=lambda e: str(e["i"]))
    ends = lab.end_offsets(name)
    with lab.admin() as admin:  # everything deleted: the log start moves up to the log end
        admin.delete_records({TopicPartition(name, p): end for p, end in ends.items()})
    t0 = time.monotonic()
    assert lab.read(name, timeout=10).empty  # no records to return must not look like "not done yet"
    assert time.monotonic() - t0 < 10


def test_headers_and_malformed_values_are_kept(lab, topic):
    name = topic("hdr")
    lab.produce(name, [{"a": 1}], headers={"source": "test"})
    producer = lab.producer(value_serializer=None)
    producer.send(name, value=b"{not json")
    producer.flush()
    producer.close()
    df = lab.read(name)
    assert df["headers"].iloc[0] == {"source": "test"}
    assert df["_raw"].iloc[1] == "{not json" and "not valid JSON" in df["_error"].iloc[1]


def test_bad_event_is_named_and_nothing_is_sent(lab, topic):
    name = topic("bad")
    with pytest.raises(ValueError, match="event #2"):
        lab.produce(name, [{"a": 1}, {"a": 2}, {"a": float("nan")}])
    with pytest.raises(ValueError, match="event #1 is a str"):
        lab.produce(name, [{"a": 1}, "oops"])
    assert lab.read(name).empty


def raw_records(lab, name: str, count: int, timeout: float = 30.0) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of the first ``count`` records of ``name`` as a plain kafka-python consumer
    sees them: no labkit deserializer, bytes exactly as stored. Waits for them, not for a time."""
    consumer = KafkaConsumer(bootstrap_servers=lab.bootstrap_servers, enable_auto_commit=False)
    got = []
    try:
        tps = [TopicPartition(name, p) for p in lab.partitions(name)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            got += [r for records in consumer.poll(200).values() for r in records]
    finally:
        consumer.close()
    got.sort(key=lambda r: (r.partition, r.offset))
    return [(r.key, r.value) for r in got]


def test_producer_sends_bytes_keys_and_values_unchanged(lab, topic):
    name = topic("bytes")
    sent = [(b"k", b"raw"), (b"\x00\xff", b"\x00\x01{not json\xff"), (bytearray(b"ba"), memoryview(b"mv")),
            (None, b'"quoted"'), (b"", b"")]
    producer = lab.producer()
    for k, v in sent:
        producer.send(name, key=k, value=v)
    producer.flush(timeout=30)
    producer.close()
    expected = [(None if k is None else bytes(k), bytes(v)) for k, v in sent]
    assert raw_records(lab, name, len(sent)) == expected  # byte for byte: no b'k' text, no JSON quotes
    assert sum(lab.end_offsets(name).values()) == len(sent)


def test_producer_sends_text_as_utf8_dicts_as_json_and_none_as_a_tombstone(lab, topic):
    name = topic("text")
    producer = lab.producer()
    producer.send(name, key="user-é", value="héllo")
    producer.send(name, key=7, value={"a": 1, "b": [True, None]})
    producer.send(name, key="gone", value=None)
    producer.flush(timeout=30)
    producer.close()
    assert raw_records(lab, name, 3) == [
        ("user-é".encode(), "héllo".encode()), (b"7", b'{"a":1,"b":[true,null]}'), (b"gone", None),
    ]


def test_produce_sends_bytes_events_unchanged(lab, topic):
    name = topic("produce-bytes")
    events_ = [b"\x00raw\xff", bytearray(b"ba"), {"a": 1}, None]
    assert lab.produce(name, events_, key=lambda e: b"gone" if e is None else b"\x01k") == 4
    assert raw_records(lab, name, 4) == [
        (b"\x01k", b"\x00raw\xff"), (b"\x01k", b"ba"), (b"\x01k", b'{"a":1}'), (b"gone", None),
    ]


def test_a_value_that_cannot_be_sent_is_refused_at_once_and_nothing_else_is_lost(lab, topic):
    name = topic("refused")
    producer = lab.producer()
    try:
        producer.send(name, key=b"a", value=b"first")
        t0 = time.monotonic()
        with pytest.raises(ValueError, match=r"cannot send the value \{'tags': \{'x'\}\}.*JSON has no sets"):
            producer.send(name, value={"tags": {"x"}})
        with pytest.raises(ValueError, match=r"cannot use tuple \(1, 2\) as a key"):
            producer.send(name, key=(1, 2), value=b"x")
        assert time.monotonic() - t0 < 5  # raised by send itself, before any network wait
        producer.send(name, key=b"b", value={"n": 2})
        producer.flush(timeout=30)
    finally:
        producer.close()
    # what was sent before and after the refused sends arrives intact; the refused ones not at all
    assert raw_records(lab, name, 2) == [(b"a", b"first"), (b"b", b'{"n":2}')]
    assert sum(lab.end_offsets(name).values()) == 2


def test_produce_refuses_a_bad_value_naming_it_list_nothing_sent_generator_the_ones_before(lab, topic):
    listed, generated = topic("refused-list"), topic("refused-gen")
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"event #1 cannot be sent: set \{1\} has no JSON form.*\{'s'"):
        lab.produce(listed, [b"ok", {"s": {1}}, b"after"])
    assert sum(lab.end_offsets(listed).values()) == 0  # a list is checked in full first: nothing half-sent

    def events_():  # a generator cannot be checked ahead: the events before the bad one go out
        yield from [b"one", {"n": 2}, {"bad": object()}, b"never"]

    with pytest.raises(ValueError, match=r"event #2 cannot be sent: object .*the 2 events before it"):
        lab.produce(generated, events_())
    assert time.monotonic() - t0 < 10  # a clear error within seconds, not a hang
    assert raw_records(lab, generated, 2) == [(None, b"one"), (None, b'{"n":2}')]  # flushed, intact
    assert sum(lab.end_offsets(generated).values()) == 2  # and the one after it never sent


def test_unknown_topic_is_a_clear_error_and_is_not_auto_created(lab):
    with pytest.raises(UnknownTopic, match="does not exist"):
        lab.produce("no-such-topic-xyz", [{"a": 1}])
    with pytest.raises(UnknownTopic):
        lab.read("no-such-topic-xyz")
    assert "no-such-topic-xyz" not in lab.topics()


def test_replace_starts_a_topic_afresh(lab, topic):
    name = topic("again", partitions=2)
    lab.produce(name, [{"i": 1}, {"i": 2}])
    with pytest.raises(LabError, match="already exists"):
        lab.create_topic(name)
    lab.create_topic(name, partitions=3, replace=True)
    assert lab.read(name).empty
    assert lab.partitions(name) == [0, 1, 2]


def test_partitions_out_of_range_is_rejected(lab):
    with pytest.raises(ValueError, match="1 to 64"):
        lab.create_topic("x", partitions=0)


def test_broker_down_is_a_clear_error():
    from labkit.runtime.net import free_port
    from labkit.runtime.state import Endpoints

    address = f"127.0.0.1:{free_port()}"
    dead = labkit.Lab(Endpoints("local", address, address))
    with pytest.raises(BrokerUnavailable, match=f"No Kafka broker answers at {address}"):
        dead.topics()
    with pytest.raises(BrokerUnavailable):
        dead.producer()


def test_a_new_group_joins_and_reads_from_the_beginning(lab, topic):
    name = topic("grp", partitions=2)
    lab.produce(name, [{"i": i} for i in range(10)])
    group = f"{name}-g"
    consumer = lab.consumer(name, group_id=group)
    got: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < 10 and time.monotonic() < deadline:
            got += [r.value["i"] for records in consumer.poll(200).values() for r in records]
        assert sorted(consumer.assignment()) == [TopicPartition(name, 0), TopicPartition(name, 1)]
    finally:
        consumer.close()
        lab.delete_groups(group)
    assert sorted(got) == list(range(10))  # the lab's auto_offset_reset="earliest"


def test_tail_shows_events_as_they_arrive_and_not_the_old_ones(lab, topic):
    name = topic("tail", partitions=2)
    lab.produce(name, [{"old": True}])
    # tail starts at the log end it finds when it starts; a producer that keeps sending
    # (instead of sending once after a guessed delay) is seen whenever that is
    stop = threading.Event()

    def keep_sending() -> None:
        i = 0
        while not stop.is_set():
            lab.produce(name, [{"i": i}])
            i += 1
            stop.wait(0.05)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    try:
        seen = lab.tail(name, seconds=60, until=lambda df: len(df) >= 5)
    finally:
        stop.set()
        sender.join(timeout=30)
    assert len(seen) >= 5 and "old" not in seen.columns
    ids = sorted(seen["i"])
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # every event since it started, none missed


def test_reader_starts_where_asked_and_commits_nothing(lab, topic):
    name = topic("reader", partitions=2)
    lab.produce(name, [{"n": i, "k": f"k{i % 4}"} for i in range(40)], key="k",
                timestamp=lambda e: 1_700_000_000_000 + e["n"] * 1000)
    ends = lab.end_offsets(name)

    def first_offsets(start) -> dict[int, int]:
        with lab.reader(name, start=start) as c:
            return {tp.partition: c.position(tp) for tp in c.assignment()}

    assert first_offsets("beginning") == {p: 0 for p in ends}
    assert first_offsets("end") == ends
    assert first_offsets(3) == {p: min(3, end) for p, end in ends.items()}
    assert first_offsets(10_000) == ends
    # a time: each partition's first event at or after it (offsets_for_times)
    df = lab.read(name)
    since = pd.Timestamp(1_700_000_000_000 + 20 * 1000, unit="ms", tz="UTC")
    expected = {p: int(g[g["timestamp"] >= since]["offset"].min()) for p, g in df.groupby("partition")}
    assert first_offsets(since) == expected
    assert first_offsets(pd.Timestamp("2100-01-01", tz="UTC")) == ends
    with lab.reader(name) as c:
        values = [r.value["n"] for batch in [c.poll(2000)] for rs in batch.values() for r in rs]
        assert values and c.config["group_id"] is None


@pytest.mark.parametrize("start", ["middle", -1, True, 1.5])
def test_reader_refuses_a_start_it_does_not_understand(lab, topic, start):
    name = topic("reader-bad")
    with pytest.raises((ValueError, TypeError), match="start must be|offset is 0"):
        lab.reader(name, start=start)


def test_reader_of_an_unknown_topic_is_a_clear_error(lab):
    with pytest.raises(UnknownTopic):
        lab.reader("no-such-topic-for-the-reader")


def test_scratch_topic_is_new_empty_and_unique(lab):
    a, b = lab.scratch_topic("test-scratch", partitions=3), lab.scratch_topic("test-scratch-")
    try:
        assert a != b and a.startswith("test-scratch-") and b.startswith("test-scratch-")
        assert "--" not in b
        assert lab.partitions(a) == [0, 1, 2] and lab.end_offsets(b) == {0: 0}
        with pytest.raises(ValueError, match="prefix"):
            lab.scratch_topic("bad prefix!")
    finally:
        lab.delete_topic(a, b)


def test_named_admin_speaks_the_lessons_names_on_a_prefixed_kafka(lab):
    """`NamedAdmin` (what ``lab.admin()`` is in a classroom) on this lab's real Kafka, with a
    made-up learner prefix: what a lesson passes becomes the prefixed name Kafka holds, and
    what comes back is the lesson's name again. A lab without a profile keeps a plain admin."""
    import uuid

    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.structs import OffsetAndMetadata

    from labkit.kafka import NamedAdmin, closing
    from labkit.waiting import wait_for

    prefix = f"learner-{uuid.uuid4().hex[:6]}."
    rename = lambda n: n if n.startswith(prefix) else prefix + n  # noqa: E731
    unname = lambda n: n.removeprefix(prefix)  # noqa: E731
    assert type(lab.admin()) is KafkaAdminClient and type(lab.kafka_admin()) is KafkaAdminClient
    name, group, kafka = "l02-grown", "l03-analytics", f"{prefix}l02-grown"
    with closing(NamedAdmin(rename, unname, **lab.client_config())) as admin:
        admin.create_topics({name: {"num_partitions": 3, "replication_factor": -1}})
        try:
            wait = lambda: kafka in lab.topics()  # noqa: E731 - labkit's own helpers: Kafka's names
            wait_for(wait, "the prefixed topic", timeout=15, every=0.1)
            assert name in admin.list_topics() and kafka not in admin.list_topics()
            admin.create_partitions({name: 4})
            wait_for(lambda: lab.partitions(kafka) == [0, 1, 2, 3], "4 partitions", timeout=15)
            assert [t["name"] for t in admin.describe_topics([name])] == [name]
            resource = ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None})
            assert list(admin.describe_configs([resource], config_filter="all")["topic"]) == [name]
            with closing(KafkaConsumer(**lab.client_config({"group_id": rename(group)}))) as consumer:
                consumer.commit({TopicPartition(kafka, 1): OffsetAndMetadata(5, "", -1)})
            groups = {g["group_id"] for g in admin.list_groups()}
            assert group in groups and rename(group) not in groups
            assert admin.list_group_offsets({group: None})[group][TopicPartition(name, 1)].offset == 5
            assert list(admin.describe_groups([group])) == [group]
            admin.delete_groups([group])
            assert group not in {g["group_id"] for g in admin.list_groups()}
        finally:
            admin.delete_topics([name])
    wait_for(lambda: kafka not in lab.topics(), "the prefixed topic to go", timeout=15)
