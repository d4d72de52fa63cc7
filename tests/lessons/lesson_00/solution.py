"""Reference solution of lesson 00's exercise (checked by labkit.checks.lesson_00_roles and
labkit.checks.lesson_00_trip against the real stack)."""

from __future__ import annotations

import time
import uuid

from labkit.checks import LESSON_00_TASKS

roles = dict(LESSON_00_TASKS)


def trip(lab, send_topic: str = "l00-hello-in", receive_topic: str = "l00-hello-out") -> tuple[dict, str]:
    """Part 2: send an event to Kafka, read Flink's answer back from Kafka."""
    my_event = {"id": uuid.uuid4().hex[:8], "message": "my first event", "sent_ms": int(time.time() * 1000)}
    lab.produce(send_topic, [my_event], key="id")
    deadline = time.monotonic() + 60
    while True:  # Flink answers within moments; the first event may wait for the job to start
        answers = lab.read(receive_topic)
        mine = answers[answers["id"] == my_event["id"]] if "id" in answers else answers
        if not mine.empty or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return my_event, mine["shout"].iloc[0]
