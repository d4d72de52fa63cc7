"""Reference solution of lesson 03's exercise (checked by labkit.checks.lesson_03_lag and
labkit.checks.lesson_03_catch_up against the real group's state), and wrong approaches
the checks must reject."""

from __future__ import annotations

from collections import namedtuple

from kafka import TopicPartition

from labkit.panels.lesson03 import poll_until


def lag(lab, topic: str, group: str) -> dict[int, int]:
    """Part 1: the group's lag per partition, asked of the broker."""
    consumer = lab.consumer(group_id=group)  # a group id, no subscription: it only asks
    tps = [TopicPartition(topic, p) for p in lab.partitions(topic)]
    ends = consumer.end_offsets(tps)
    lags = {tp.partition: ends[tp] - (consumer.committed(tp) or 0) for tp in tps}  # None: from 0
    consumer.close()
    return lags


def catch_up(lab, topic: str, group: str, *, commit: bool = True, **overrides) -> list:
    """Part 2: the restarted service; processes from the group's commits to the log end,
    commits, and returns the records its polls returned (the notebook's section-1 function)."""
    consumer = lab.consumer(topic, group_id=group, enable_auto_commit=False, **overrides)
    records = poll_until(consumer)  # to the log end of every partition
    if commit:
        consumer.commit()
    consumer.close()
    return records


def wrong_none(lab, topic: str, group: str) -> dict[int, int]:
    """Counts a never-committed partition as no lag."""
    consumer = lab.consumer(group_id=group)
    tps = [TopicPartition(topic, p) for p in lab.partitions(topic)]
    ends = consumer.end_offsets(tps)
    committed = {tp: consumer.committed(tp) for tp in tps}
    consumer.close()
    return {tp.partition: 0 if committed[tp] is None else ends[tp] - committed[tp] for tp in tps}


def wrong_latest(lab, topic: str, group: str) -> list:
    """Kafka's default reset: the never-committed partition is skipped, not processed."""
    return catch_up(lab, topic, group, auto_offset_reset="latest")


def wrong_from_beginning(lab, topic: str, group: str) -> list:
    """The right group, but it seeks to the beginning: redoes what the service had done."""
    consumer = lab.consumer(topic, group_id=group, enable_auto_commit=False)
    poll_until(consumer, 1)  # joined, one record in
    consumer.seek_to_beginning()
    records = poll_until(consumer)
    consumer.commit()
    consumer.close()
    return records


Forged = namedtuple("Forged", "topic partition offset key value")


def wrong_forged(lab, topic: str) -> list:
    """Records made by hand from lab.read() (every event, no consumer of the group)."""
    df = lab.read(topic)
    return [Forged(topic, int(r.partition), int(r.offset), r.key, {"x": 1}) for r in df.itertuples()]
