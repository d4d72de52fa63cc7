"""Reference solution of lesson 03's exercise (checked by labkit.checks.lesson_03_lag and
labkit.checks.lesson_03_catch_up against the real group's state)."""

from __future__ import annotations

import time

from kafka import TopicPartition


def lag(lab, topic: str, group: str) -> dict[int, int]:
    """Part 1: the group's lag per partition, asked of the broker."""
    consumer = lab.consumer(group_id=group)  # a group id, no subscription: it only asks
    tps = [TopicPartition(topic, p) for p in lab.partitions(topic)]
    ends = consumer.end_offsets(tps)
    lags = {tp.partition: ends[tp] - (consumer.committed(tp) or 0) for tp in tps}  # None: from 0
    consumer.close()
    return lags


def catch_up(lab, topic: str, group: str, **overrides) -> int:
    """Part 2: the restarted service; processes from the group's commits to the log end."""
    consumer = lab.consumer(topic, group_id=group, enable_auto_commit=False, **overrides)
    ends = lab.end_offsets(topic)
    processed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        processed += sum(len(records) for records in batch.values())
        mine = consumer.assignment()
        if len(mine) == len(ends) and all(consumer.position(tp) >= ends[tp.partition] for tp in mine):
            break
    consumer.commit()
    consumer.close()
    return processed


def wrong_none(lab, topic: str, group: str) -> dict[int, int]:
    """Counts a never-committed partition as no lag."""
    consumer = lab.consumer(group_id=group)
    tps = [TopicPartition(topic, p) for p in lab.partitions(topic)]
    ends = consumer.end_offsets(tps)
    committed = {tp: consumer.committed(tp) for tp in tps}
    consumer.close()
    return {tp.partition: 0 if committed[tp] is None else ends[tp] - committed[tp] for tp in tps}


def wrong_latest(lab, topic: str, group: str) -> int:
    """Kafka's default reset: the never-committed partition is skipped, not processed."""
    return catch_up(lab, topic, group, auto_offset_reset="latest")
