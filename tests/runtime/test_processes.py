"""What the lab started (labkit/runtime/processes.py): recorded, found again, stopped; and
the one check both Kafka's and Flink's starts use for a process that exits while starting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labkit.errors import LabError
from labkit.runtime.net import PortLost
from labkit.runtime.processes import fail_if_exited, record, stop_all, tracked


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
