"""How Kafka keeps events, as lessons 04 and 04c ask it.

Lesson 04 (replay): `consume_until_end`, the poll loop that reads a consumer's partitions up
to their log end, handing each event to a function; `committed`, a group's committed
offsets, asked without joining the group.

Lesson 04c (retention and compaction) makes the broker forget on its own topics and waits
for it to act (`labkit.waiting.wait_for`) on what a client can see: the log start offset
(`log_start`), the events read back. `segments` lists a partition's segment files where the
lab's data is on this machine. Nothing here changes what Kafka does; the before/after
pictures are `labkit.panels.lesson04`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition

from .errors import LabError
from .kafka import closing
from .runtime import kafka_proc
from .runtime.state import State

if TYPE_CHECKING:
    from .lab import Lab


def consume_until_end(consumer: Any, handle: Callable[[Any], Any], timeout: float = 60) -> int:
    """Poll ``consumer`` and call ``handle(record.value)`` for each record, until its position
    has reached the log end of every partition it is assigned (the log end when it got
    them: a subscribed consumer first waits for its group to assign it partitions). Returns
    how many records it handled; a `LabError` after ``timeout`` s.
    """
    handled = 0
    ends: dict[Any, int] = {}
    deadline = time.monotonic() + timeout
    while True:
        mine = consumer.assignment()
        if mine:
            if set(ends) != mine:  # just assigned (or reassigned): where the log ends now
                ends = consumer.end_offsets(list(mine))
            if all(consumer.position(tp) >= ends[tp] for tp in mine):
                return handled
        if time.monotonic() > deadline:
            where = "not yet to the log end" if mine else "no partitions assigned to the consumer yet"
            raise LabError(f"Timed out after {timeout:.0f} s: read {handled} events, {where}.")
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                handle(record.value)
                handled += 1


def committed(lab: Lab, group: str, topic: str) -> dict[int, int | None]:
    """The offsets ``group`` has committed in each partition of ``topic`` (None: never),
    read with ``consumer.committed(tp)`` by a consumer that never joins the group."""
    with closing(lab.consumer(group_id=group, enable_auto_commit=False)) as reader:
        return {p: reader.committed(TopicPartition(topic, p)) for p in lab.partitions(topic)}


def log_start(lab: Lab, topic: str, partition: int = 0) -> int:
    """The partition's log start offset: the oldest offset still stored.

    One consumer's question (`labkit.waiting.wait_for` polls it every 0.3 s); an unknown
    topic raises `UnknownTopic`, a partition the topic does not have a ValueError.
    """
    tp = TopicPartition(topic, partition)
    with closing(lab.reader(topic)) as c:
        if tp not in c.assignment():
            raise ValueError(f"{topic!r} has no partition {partition}")
        return int(c.beginning_offsets([tp])[tp])


def segments(lab: Lab, topic: str, partition: int = 0) -> list[int] | None:
    """The base offsets of the partition's segment files (each file is named after the first
    offset it holds), read from the broker's data folder; None when the lab's Kafka does not
    keep its data on this machine (compose, remote), where the files cannot be listed.

    Only live segments count: a deleted one is renamed ``*.log.deleted`` and removed later.
    """
    state = State.load()
    if state is None or state.endpoints.backend != "local":
        return None
    folder = kafka_proc.data_dir(state.brokers)
    found: list[Path] = list(folder.glob(f"broker-*/{topic}-{partition}/*.log"))
    if not found:
        return None
    leader_dir = found[0].parent  # on one broker the only copy; with three, one replica's
    return sorted(int(p.stem) for p in leader_dir.glob("*.log"))
