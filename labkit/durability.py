"""Lesson 04's questions to Kafka about how it keeps events: where a partition's log now
starts, and which segment files hold it.

The lesson makes retention and compaction happen on its own topics and waits for the
broker to act (`labkit.waiting.wait_for`) on what a client can see: the log start offset
(`log_start`), the events read back. `segments` lists a partition's segment files where the
lab's data is on this machine. Nothing here changes what Kafka does; the before/after
pictures are `labkit.panels.lesson04`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kafka import TopicPartition

from .kafka import closing
from .runtime import kafka_proc
from .runtime.state import State

if TYPE_CHECKING:
    from .lab import Lab


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
