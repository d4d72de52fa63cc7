"""Reference solution of lesson 04's exercise (checked by labkit.checks.lesson_04_since),
and two wrong approaches the check must reject."""

import time

import pandas as pd


def _read_to_end(consumer, handle) -> None:  # noqa: ANN001 - a KafkaConsumer
    partitions = sorted(consumer.assignment())
    ends = consumer.end_offsets(partitions)
    pending = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                handle(r)
            if consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


def changes_since(consumer, since: int) -> dict[str, int]:  # noqa: ANN001 - a KafkaConsumer
    partitions = sorted(consumer.assignment())
    ends = consumer.end_offsets(partitions)
    found = consumer.offsets_for_times({tp: since for tp in partitions})
    for tp in partitions:
        hit = found[tp]
        consumer.seek(tp, hit.offset if hit is not None else ends[tp])  # None: nothing since
    change: dict[str, int] = {}

    def add(r) -> None:  # noqa: ANN001
        change[r.value["account_id"]] = change.get(r.value["account_id"], 0) + r.value["amount_cents"]

    _read_to_end(consumer, add)
    return change


def wrong_read_everything(consumer, since: int) -> dict[str, int]:  # noqa: ANN001
    """Reads the whole topic and keeps the events since ``since`` in Python: the right
    numbers, without offsets_for_times or seek."""
    consumer.seek_to_beginning()
    change: dict[str, int] = {}

    def add(r) -> None:  # noqa: ANN001
        if r.timestamp >= since:
            change[r.value["account_id"]] = change.get(r.value["account_id"], 0) + r.value["amount_cents"]

    _read_to_end(consumer, add)
    return change


def wrong_pure_python(lab, topic: str):  # noqa: ANN001, ANN201 - a labkit.Lab
    """Ignores the consumer: sums the rows of lab.read() with a timestamp since ``since``."""

    def changes(consumer, since: int) -> dict[str, int]:  # noqa: ANN001
        df = lab.read(topic)
        df = df[df["timestamp"] >= pd.Timestamp(since, unit="ms", tz="UTC")]
        return {k: int(v) for k, v in df.groupby("account_id")["amount_cents"].sum().items()}

    return changes
