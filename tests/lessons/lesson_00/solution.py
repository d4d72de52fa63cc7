"""Reference solution of lesson 00's exercise (checked by labkit.checks.lesson_00_roles and
labkit.checks.lesson_00_trip against the real stack)."""

from __future__ import annotations

import time
import uuid

from labkit.checks import LESSON_00_TASKS

roles = dict(LESSON_00_TASKS)


def my_event() -> dict:
    """Part 2: the learner's own event (an id of their choice, a message)."""
    return {"id": uuid.uuid4().hex[:8], "message": "my first event", "sent_ms": int(time.time() * 1000)}


def send(lab, event: dict, send_topic: str = "l00-hello-in") -> None:
    """Part 2: be the app - send the event to Kafka."""
    lab.produce(send_topic, [event], key="id")


def flinks_answer(lab):
    """Part 2: the function the learner writes - Flink's answer for an id, read back from Kafka."""

    def answer(topic: str, event_id: str) -> str:
        out = lab.read(topic)
        return out[out["id"] == event_id]["shout"].iloc[-1]

    return answer


def wrong_upper(event: dict):
    """What the old exercise let pass: work Flink's answer out in Python, never reading Kafka."""
    return lambda topic, event_id: event["message"].upper()
