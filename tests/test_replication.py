"""Lesson 04b (labkit.replication) on the replication trio: a partition leader SIGKILLed
while producing with acks=all, replication factor 3 and min.insync.replicas=2 loses no
acknowledged event and writes none twice."""

from __future__ import annotations

import pytest

from labkit import replication
from labkit.errors import LabError
from labkit.runtime import trio as trio_processes


def test_a_killed_leader_loses_no_acknowledged_event(lab):
    trio = replication.start(quiet=True)
    try:
        with pytest.raises(LabError, match="controller"):
            trio.kill(trio_processes.CONTROLLER)
        got = replication.drill(
            trio, "test-replication-drill", replication_factor=3, min_insync_replicas=2, acks="all"
        )
        assert got["killed"] in (2, 3)
        assert got["acknowledged"] == got["sent"] == 1500, got["errors"]
        assert got["missing"] == [] and got["duplicates"] == []
        assert got["read"] == 1500
        assert all(trio.alive(n) for n in (1, 2, 3))  # drill restarted the broker it killed
    finally:
        trio.stop(quiet=True)
    assert not trio_processes.running()
    assert not any(p.startswith("trio-kafka") for p in lab.status()["processes"])


def test_a_timeline_waits_for_polls_not_for_time():
    """`Timeline.wait_polls(n)` returns once n more polls are recorded (lesson 04b waits so
    for the recovered state's samples instead of sleeping), and says so when they never come."""
    import pandas as pd

    class Fake:
        def __init__(self) -> None:
            self.calls = 0

        def leaders(self, *topics: str) -> pd.DataFrame:
            self.calls += 1
            return pd.DataFrame([{"topic": "t", "partition": 0, "leader": 1, "replicas": [1], "isr": [1]}])

    fake = Fake()
    timeline = replication.Timeline(fake, ["t"], every=0.01)
    try:
        timeline.wait_polls(3)
        assert fake.calls >= 3 and len(timeline.frame()) >= 3
    finally:
        timeline.stop()
    with pytest.raises(TimeoutError):
        timeline.wait_polls(1, timeout=0.2)  # stopped: no poll comes
