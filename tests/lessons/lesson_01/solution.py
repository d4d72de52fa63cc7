"""Reference solution of lesson 01's exercise (checked by labkit.checks.lesson_01_produce)."""

from labkit import events


def answer(lab, topic: str) -> None:
    producer = lab.producer()
    for payment in events.payments(20, seed=7):
        producer.send(
            topic,
            key=payment["account_id"],
            value=payment,
            timestamp_ms=payment["ts"],
            headers=[("source", b"exercise")],
        )
    producer.flush()
    producer.close()


def wrong_no_timestamp(lab, topic: str) -> None:
    """What a learner might write first: forgets timestamp_ms (records get the send time)."""
    producer = lab.producer()
    for payment in events.payments(20, seed=7):
        producer.send(topic, key=payment["account_id"], value=payment, headers=[("source", b"exercise")])
    producer.flush()
    producer.close()
