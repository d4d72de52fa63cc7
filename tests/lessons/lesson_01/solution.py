"""Reference solution of lesson 01's exercise (checked by labkit.checks.lesson_01_produce):
``forward(source, target)`` moves every event of a one-partition topic to another, with all
four parts, using the clients the lesson shows (``lab.consumer()``, ``lab.producer()``)."""

from kafka import TopicPartition


def forward(lab):
    def forward(source: str, target: str) -> None:
        consumer = lab.consumer()
        partition0 = TopicPartition(source, 0)
        consumer.assign([partition0])
        consumer.seek_to_beginning()
        end = consumer.end_offsets([partition0])[partition0]
        records = []
        while consumer.position(partition0) < end:
            records += consumer.poll(timeout_ms=5000).get(partition0, [])
        consumer.close()
        producer = lab.producer()
        for r in records:
            producer.send(target, key=r.key, value=r.value, timestamp_ms=r.timestamp, headers=r.headers)
        producer.flush()
        producer.close()

    return forward


def _forward_losing(lab, *lost: str):
    """A forward that does not pass on the record parts named in ``lost``."""

    def forward(source: str, target: str) -> None:
        partition0 = TopicPartition(source, 0)
        consumer = lab.consumer()
        consumer.assign([partition0])
        consumer.seek_to_beginning()
        records = consumer.poll(timeout_ms=5000)[partition0]
        consumer.close()
        producer = lab.producer()
        for r in records:
            parts = {"key": r.key, "timestamp_ms": r.timestamp, "headers": r.headers}
            producer.send(target, value=r.value, **{k: v for k, v in parts.items() if k not in lost})
        producer.flush()
        producer.close()

    return forward


def wrong_no_timestamp(lab):
    """What a learner might write first: forgets timestamp_ms (records get the send time)."""
    return _forward_losing(lab, "timestamp_ms")


def wrong_no_headers(lab):
    return _forward_losing(lab, "headers")


def wrong_no_key(lab):
    return _forward_losing(lab, "key")


def wrong_old_exercise(lab):
    """The old exercise's answer, one lab.produce of known payments: not the check's events."""
    from labkit import events

    return lambda source, target: lab.produce(target, list(events.payments(20, seed=7)), key="account_id")
