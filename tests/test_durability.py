"""Lessons 04 and 04c's durability machinery on the suite's real Kafka: a broker restart
keeps every event (and leaves the lab as usable as before), lesson 04's poll loop reads to
the log end, retention deletes whole old segments, compaction keeps the latest value per
key, the lessons' waits; plus the clear errors.
(The retention and compaction pictures: tests/panels/test_panels_lesson04.py.)"""

from __future__ import annotations

import time

import pytest

from labkit import durability
from labkit.errors import LabError
from labkit.runtime import drills
from labkit.runtime.processes import tracked
from labkit.runtime.state import Endpoints, State
from labkit.waiting import wait_for

HOUR = 3600 * 1000
DAY = 24 * HOUR


def test_restart_broker_keeps_every_event_same_port_flink_untouched(lab, topic):
    name = topic("restart", partitions=3)
    lab.produce(name, [{"n": i, "ts": 1_767_225_600_000 + i} for i in range(120)], key="n", timestamp="ts")
    before = lab.read(name)
    state = State.load()
    flink = {k: v["pid"] for k, v in state.processes.items() if k.startswith("flink-")}
    broker_pid = state.processes["kafka-1"]["pid"]

    seconds = lab.restart_broker()

    after = lab.read(name)
    assert len(after) == 120 and after.equals(before)  # same count, offsets, keys, values, timestamps
    state = State.load()
    assert state.endpoints.bootstrap_servers == lab.bootstrap_servers  # same port
    assert state.processes["kafka-1"]["pid"] != broker_pid  # a new process...
    assert tracked(state.processes["kafka-1"]) is not None  # ...tracked, so `down` stops it
    assert {k: v["pid"] for k, v in state.processes.items() if k.startswith("flink-")} == flink
    assert seconds > 0
    lab.produce(name, [{"n": 120}], key="n")  # serves writes again
    assert sum(lab.end_offsets(name).values()) == 121


def test_restart_broker_is_a_clear_error_off_the_local_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    with pytest.raises(LabError, match="No lab is running"):
        drills.restart_broker(quiet=True)
    for backend in ("compose", "remote"):
        State(Endpoints(backend, "127.0.0.1:1", "kafka:9092", "127.0.0.1:2")).save()
        with pytest.raises(LabError, match=f"{backend!r} backend"):
            drills.restart_broker(quiet=True)


def test_restart_broker_names_the_brokers_there_are(lab):
    with pytest.raises(LabError, match=r"no Kafka broker 7; the lab's are \[1\]"):
        drills.restart_broker(node_id=7, quiet=True)


def test_retention_deletes_whole_segments_whose_newest_event_is_too_old(lab, topic):
    name = topic("retention", config={"retention.ms": str(2 * DAY), "segment.ms": str(12 * HOUR)})
    now = int(time.time() * 1000)
    producer = lab.producer()
    for days_ago in (4, 3, 1):  # one segment each; the first two are older than 2 days
        for j in range(5):
            ts = now - days_ago * DAY - 2 * HOUR + j * HOUR
            producer.send(name, value={"days_ago": days_ago}, timestamp_ms=ts)
        producer.flush()
    producer.close()
    wait_for(lambda: durability.log_start(lab, name) == 10, "retention", timeout=90)
    kept = lab.read(name)
    assert kept["offset"].tolist() == list(range(10, 15)) and set(kept["days_ago"]) == {1}
    assert durability.segments(lab, name) == [10]  # the live segment files: only the newest day's


def test_compaction_keeps_the_latest_value_of_each_key(lab, topic):
    name = topic(
        "compact",
        config={"cleanup.policy": "compact", "segment.ms": str(HOUR), "min.cleanable.dirty.ratio": "0.01"},
    )
    t0 = 1_767_225_600_000
    updates = [{"k": f"k{i % 3}", "v": i, "ts": t0 + i} for i in range(30)]
    lab.produce(name, updates, key="k", timestamp="ts")
    assert len(lab.read(name)) == 30  # one open segment: nothing compacted yet
    lab.produce(name, [{"k": "k0", "v": 99, "ts": t0 + 2 * HOUR}], key="k", timestamp="ts")  # a new segment
    wait_for(lambda: len(lab.read(name)) == 4, "the cleaner", timeout=90)
    left = lab.read(name)
    assert list(zip(left["offset"], left["key"], left["v"], strict=True)) == [
        (27, "k0", 27),
        (28, "k1", 28),
        (29, "k2", 29),
        (30, "k0", 99),  # in the open segment, never compacted
    ]


def test_wait_for_names_what_it_waited_for():
    with pytest.raises(LabError, match="the impossible"):
        wait_for(lambda: False, "the impossible", timeout=0.3, every=0.05)
    began = time.monotonic()
    assert wait_for(lambda: True, "nothing")
    assert time.monotonic() - began < 0.1


def test_consume_until_end_reads_every_partition_to_its_log_end(lab, topic):
    """Lesson 04's poll loop: an assigned reader from the beginning, then from an offset,
    and a subscribed group consumer (which first waits for its assignment)."""
    name = topic("until-end", partitions=3)
    lab.produce(name, [{"n": i, "k": i % 5} for i in range(60)], key="k")
    seen: list[int] = []
    reader = lab.reader(name)
    try:
        assert durability.consume_until_end(reader, lambda v: seen.append(v["n"])) == 60
        assert sorted(seen) == list(range(60))
        for tp in reader.assignment():
            reader.seek(tp, 5)
        ends = lab.end_offsets(name)
        from_5 = durability.consume_until_end(reader, lambda v: None)
        assert from_5 == sum(max(0, e - 5) for e in ends.values())
    finally:
        reader.close()
    group = f"{name}-g"
    member = lab.consumer(name, group_id=group, enable_auto_commit=False)
    try:
        assert durability.consume_until_end(member, lambda v: None) == 60  # the lab's "earliest"
        member.commit()
    finally:
        member.close()
    assert durability.committed(lab, group, name) == ends  # every partition committed at its end
    assert durability.committed(lab, f"{name}-never", name) == {0: None, 1: None, 2: None}
    lab.delete_groups(group)


def test_consume_until_end_names_what_it_waited_for(lab, topic):
    name = topic("until-end-late")
    lab.produce(name, [{"n": 1}])
    reader = lab.reader(name)
    try:
        with pytest.raises(LabError, match="not yet to the log end"):
            durability.consume_until_end(reader, lambda v: None, timeout=0)  # no time at all
    finally:
        reader.close()
