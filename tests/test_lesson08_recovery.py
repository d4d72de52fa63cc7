"""Lesson 08's failure drill, the parts that need no running job: killing a TaskManager is
refused clearly where the lab does not own one, and the exercise check reads a checkpoint
interval the way Flink does. (The kill itself, the restore and exactly-once through Kafka
run in the lesson and in tests/test_exercises_flink.py.)"""

from __future__ import annotations

import pytest

from labkit import checks, cluster
from labkit.errors import LabError


def test_killing_a_taskmanager_needs_a_running_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    with pytest.raises(LabError, match="No lab is running"):
        cluster.kill_taskmanager()


def test_killing_a_taskmanager_is_refused_on_a_cluster_the_lab_does_not_own(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    endpoints = cluster.Endpoints("remote", "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2")
    cluster.State(endpoints, {"flink-taskmanager": {"pid": 1, "create_time": 0.0}}).save()
    with pytest.raises(LabError, match="not a process the lab started"):
        cluster.kill_taskmanager()


@pytest.mark.parametrize(
    ("interval", "ms"),
    [
        ("2 s", 2000),
        ("500 ms", 500),
        ("500ms", 500),
        ("1 min", 60_000),
        ("2000", 2000),
        (2000, 2000),
        ("10 seconds", 10_000),
        ("two seconds", None),
        ("1.5 s", None),
        (1.5, None),
        (True, None),
    ],
)
def test_the_exercise_reads_intervals_as_flink_does(interval, ms):
    assert checks._lesson_08_ms(interval) == ms
