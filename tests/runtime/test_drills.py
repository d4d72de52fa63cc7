"""labkit.runtime.drills, the parts that need no running job (lesson 08's TaskManager kill):
killing a TaskManager is refused clearly where the lab does not own one, and a killed
process whose parent does not reap it counts as gone. (The kill itself, the restore and
exactly-once through Kafka run in lesson 08 and tests/lessons/lesson_08/.)"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from labkit.errors import LabError
from labkit.runtime.drills import kill_taskmanager
from labkit.runtime.processes import wait_gone
from labkit.runtime.state import Endpoints, State


def test_killing_a_taskmanager_needs_a_running_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    with pytest.raises(LabError, match="No lab is running"):
        kill_taskmanager()


def test_killing_a_taskmanager_is_refused_on_a_cluster_the_lab_does_not_own(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    endpoints = Endpoints("remote", "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2")
    State(endpoints, {"flink-taskmanager": {"pid": 1, "create_time": 0.0}}).save()
    with pytest.raises(LabError, match="not a process the lab started"):
        kill_taskmanager()


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
        assert wait_gone([child], 10) == []
        assert time.monotonic() - t0 < 5
        assert child.status() == psutil.STATUS_ZOMBIE  # still in the table: its parent has not reaped it
    finally:
        parent.kill()
        parent.wait()
