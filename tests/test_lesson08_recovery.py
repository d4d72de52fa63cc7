"""Lesson 08's failure drill, the parts that need no running job: killing a TaskManager is
refused clearly where the lab does not own one, and the exercise check reads a checkpoint
interval the way Flink does. (The kill itself, the restore and exactly-once through Kafka
run in the lesson and in tests/test_exercises_flink.py.)"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
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


def test_a_killed_process_whose_parent_does_not_reap_it_counts_as_gone():
    """The lab's processes are children of whoever started the lab (the test suite, `labkit
    lab`), not of the kernel that kills the TaskManager: the zombie left behind is gone."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; p = subprocess.Popen(['sleep', '60']); "
            "print(p.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        child.kill()
        t0 = time.monotonic()
        assert cluster.wait_gone([child], 10) == []
        assert time.monotonic() - t0 < 5
        assert child.status() == psutil.STATUS_ZOMBIE  # still in the table: its parent has not reaped it
    finally:
        parent.kill()
        parent.wait()
