"""Reference solution of lesson 04's exercise (checked by labkit.checks.lesson_04_since)."""

import time

from kafka import TopicPartition


def answer(lab, topic: str, since: int) -> dict[str, int]:
    ends = lab.end_offsets(topic)
    partitions = [TopicPartition(topic, p) for p in ends]
    consumer = lab.consumer()
    consumer.assign(partitions)
    found = consumer.offsets_for_times({tp: since for tp in partitions})
    for tp in partitions:
        hit = found[tp]
        consumer.seek(tp, hit.offset if hit is not None else ends[tp.partition])  # None: nothing since
    change: dict[str, int] = {}
    pending = {tp for tp in partitions if consumer.position(tp) < ends[tp.partition]}
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                change[r.value["account_id"]] = change.get(r.value["account_id"], 0) + r.value["amount_cents"]
            if consumer.position(tp) >= ends[tp.partition]:
                pending.discard(tp)
    consumer.close()
    return change


def wrong_everything(lab, topic: str, since: int) -> dict[str, int]:
    """Replays from the beginning instead of from the time mark."""
    change: dict[str, int] = {}
    for row in lab.read(topic).to_dict("records"):
        change[row["account_id"]] = change.get(row["account_id"], 0) + row["amount_cents"]
    return change
