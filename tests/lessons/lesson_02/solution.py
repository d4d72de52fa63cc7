"""Reference solution of lesson 02's exercise (checked by labkit.checks.lesson_02_order)."""

from labkit import events


def answer(lab, topic: str) -> None:
    producer = lab.producer()
    for delivery in events.deliveries(60, seed=2):
        producer.send(topic, key=delivery["order_id"], value=delivery)
    producer.flush()
    producer.close()


def wrong_key_by_status(lab, topic: str) -> None:
    """Keys by status: all "delivered" together, but one order's events spread out."""
    producer = lab.producer()
    for delivery in events.deliveries(60, seed=2):
        producer.send(topic, key=delivery["status"], value=delivery)
    producer.flush()
    producer.close()
