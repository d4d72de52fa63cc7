"""What the lab started (labkit/runtime/processes.py): recorded, found again, stopped; and
the one check both Kafka's and Flink's starts use for a process that exits while starting."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest
from privatelab import gone, wait_for

from labkit.errors import LabError
from labkit.runtime.net import PortLost
from labkit.runtime.processes import enclosing, fail_if_exited, record, stop_all, tracked


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)


def test_a_recorded_process_is_found_again_and_stopped():
    procs = [sleeper(), sleeper()]
    try:
        infos = [record(p, port=1234) for p in procs]
        assert infos[0]["pid"] == procs[0].pid and infos[0]["port"] == 1234
        assert all(tracked(info) is not None for info in infos)
        # a recycled PID (another start time) is not ours
        assert tracked({**infos[0], "create_time": infos[0]["create_time"] - 60}) is None
        stop_all(infos, timeout=10)
        assert all(tracked(info) is None for info in infos)
        assert all(p.wait(10) is not None for p in procs)
    finally:
        for p in procs:
            p.kill()


def test_a_process_still_starting_passes(tmp_path):
    proc = sleeper()
    try:
        fail_if_exited(proc, "Kafka broker 1", tmp_path / "none.log")  # running: nothing to say
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(
    ("log", "error"),
    [
        ("java.net.BindException: Address already in use\n", PortLost),  # choose other ports
        ("Exception in thread main: something else\n", LabError),
    ],
)
def test_a_process_that_exited_during_start_is_named_with_its_log(tmp_path, log, error):
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(30)
    path = tmp_path / "flink-jobmanager.log"
    path.write_text("starting\n" + log)
    with pytest.raises(error) as raised:
        fail_if_exited(proc, "The Flink jobmanager", path)
    assert type(raised.value) is error
    assert (
        str(raised.value)
        == f"The Flink jobmanager exited during start (code 3). Its log ends:\nstarting\n{log}"
    )


# --- stopping what the caller runs inside (`labkit down` in a JupyterLab terminal) ---------

#: A stand-in for JupyterLab: records itself, runs CHILD (its "terminal") with that record,
#: then keeps running until stopped.
PARENT = """
import json, subprocess, sys
import psutil
from labkit.runtime.processes import record
subprocess.run([sys.executable, "-c", sys.argv[1], json.dumps(record(psutil.Process())), *sys.argv[2:]])
sys.stdin.read()
"""


def stand_in(child: str, *args: str) -> subprocess.Popen:
    """Start PARENT running ``child`` (Python code; its output is the parent's stdout)."""
    return subprocess.Popen(
        [sys.executable, "-c", PARENT, child, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_enclosing_names_the_recorded_processes_the_caller_runs_inside():
    me, parent = psutil.Process(), psutil.Process().parent()
    other = sleeper()
    try:
        records = {"me": record(me), "parent": record(parent), "other": record(other)}
        assert enclosing(records) == ["me", "parent"]
    finally:
        other.kill()
        other.wait(10)


def test_stop_spares_the_calling_process_inside_the_family_it_stops():
    child = "import json, sys; from labkit.runtime.processes import stop; stop(json.loads(sys.argv[1]))"
    parent = stand_in(child + "; print('spared')")
    try:
        assert parent.stdout.readline() == "spared\n"  # the child stopped its parent, and lived on
        assert parent.wait(30) == -signal.SIGTERM
    finally:
        parent.kill()
        parent.wait(10)


def test_stop_in_background_stops_the_callers_parent_once_the_caller_has_exited(tmp_path):
    log = tmp_path / "down.log"
    child = (
        "import json, sys; from pathlib import Path; from labkit.runtime.processes import stop_in_background;"
        "helper = stop_in_background({'jupyter': json.loads(sys.argv[1])}, Path(sys.argv[2]));"
        "print(helper.pid, flush=True)"
    )
    parent = stand_in(child, str(log))
    try:
        helper = int(parent.stdout.readline())
        assert parent.wait(60) == -signal.SIGTERM  # stopped by the helper
        wait_for(lambda: gone(helper), "the helper to finish")
        assert log.read_text() == "labkit: stopped jupyter for `labkit down`.\n"
    finally:
        parent.kill()
        parent.wait(10)
