"""The `labkit` command on private labs (own LABKIT_HOME, ports chosen by the lab).

These tests start, break and stop real Kafka, Flink and JupyterLab processes, and check
that none is left behind; they never touch the suite's shared lab.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import psutil
import pytest
from privatelab import LABKIT, PrivateLab, describe, gone, wait_for

from labkit.runtime.artifacts import KAFKA_VERSION

CORRUPT = '{"endpoints": {"backend": "local", "bootstr'  # a state file cut off mid-write


@pytest.fixture(scope="module")
def priv(tmp_path_factory):
    """One private lab for the tests below; its first `up` starts from a corrupt state file."""
    lab = PrivateLab(tmp_path_factory.mktemp("cli") / "home")
    lab.home.mkdir(parents=True)
    (lab.home / "state.json").write_text(CORRUPT)
    try:
        lab.first_up = lab.run("up")
        yield lab
    finally:
        lab.stop()


NAMES = {"kafka-1", "flink-jobmanager", "flink-taskmanager", "flink-webui", "flink-sqlgateway"}


def test_a_corrupt_state_file_is_moved_aside_and_up_works(priv):
    assert priv.first_up.returncode == 0, priv.first_up.stdout + priv.first_up.stderr
    assert (priv.home / "state.corrupt").read_text() == CORRUPT  # kept for a look, out of the way
    st = priv.status()
    assert st["running"] and set(st["processes"]) == NAMES


def test_up_starts_kafka_and_flink_on_loopback_and_up_again_reuses_them(priv):
    priv.up()
    st = priv.status()
    assert st["backend"] == "local" and st["running"]
    assert set(st["processes"]) == NAMES and all(p["alive"] for p in st["processes"].values())
    assert st["bootstrap_servers"].startswith("127.0.0.1:") and st["flink_rest"].startswith("https://127.0.0.1:")
    assert st["web_ui"].startswith("127.0.0.1:")
    assert len(st["kafka"]["brokers"]) == 1 and st["kafka"]["version"] == KAFKA_VERSION
    assert st["flink"]["taskmanagers"] == 1 and st["flink"]["slots_total"] == 4
    pids = {name: p["pid"] for name, p in st["processes"].items()}

    again = priv.up()
    assert "starting" not in again.stdout  # nothing to start
    assert {name: p["pid"] for name, p in priv.status()["processes"].items()} == pids

    text = priv.run("status").stdout
    assert f"Apache Kafka {KAFKA_VERSION} at {st['bootstrap_servers']}; 1 of 1 broker(s) up" in text
    assert f"Web UI http://{st['web_ui']}/labkit-login?key=" in text  # a login link, fresh each time
    assert "1 TaskManager(s), 4/4 slots free" in text
    assert describe(priv.status()).splitlines()[0] == "backend:   local"


def test_doctor_on_a_working_lab_round_trips_through_flink(priv):
    priv.up()
    out = priv.run("doctor", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[ok  ] kafka: local at" in out.stdout
    assert "[ok  ] flink: Flink 2.3.0, 1 TaskManager(s), 4 slots" in out.stdout
    assert "[ok  ] flink round trip: Kafka -> Flink SQL -> Kafka" in out.stdout
    assert not [t for t in priv.lab().topics() if t.startswith("_doctor")]  # it cleans up after itself


def jupyter_answers(port: int, token: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
            return "started" in json.load(r)
    except OSError:
        return False


def test_ctrl_c_in_labkit_lab_stops_jupyterlab_but_not_the_cluster(priv, tmp_path):
    priv.up()
    cluster_pids = {name: priv.pid(name) for name in NAMES}
    # started with SIGINT ignored, as a shell's background job or a CI runner starts it:
    # `labkit lab` still stops JupyterLab on Ctrl-C
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc, port, token = priv.start_jupyterlab(tmp_path / "lab.log")  # Ctrl-C signals its whole group
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_for(lambda: jupyter_answers(port, token), "JupyterLab to answer", timeout=120)
        jupyter = priv.state()["processes"]["jupyter"]
        assert psutil.pid_exists(jupyter["pid"]) and jupyter["port"] == port

        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0
        wait_for(lambda: not psutil.pid_exists(jupyter["pid"]), "JupyterLab to exit", timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Kafka and Flink keep running; `labkit down` stops them" in (tmp_path / "lab.log").read_text()
    st = priv.status()
    assert st["running"] and st["flink"]["taskmanagers"] == 1
    assert {name: priv.pid(name) for name in NAMES} == cluster_pids
    assert st["processes"]["jupyter"]["alive"] is False


async def type_in_terminal(port: int, token: str, line: str) -> str:
    """Open a JupyterLab terminal, type ``line`` and Enter, and return what the terminal
    shows until it closes (or says `labkit down`'s last words)."""
    from tornado.websocket import websocket_connect

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/terminals", method="POST", headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        name = json.load(r)["name"]
    ws = await websocket_connect(f"ws://127.0.0.1:{port}/terminals/websocket/{name}?token={token}")
    await ws.write_message(json.dumps(["stdin", line + "\r"]))
    shown = ""
    while "so it ends too" not in shown:
        message = await ws.read_message()
        if message is None:
            break
        kind, *data = json.loads(message)
        if kind == "stdout":
            shown += data[0]
    ws.close()
    return shown


def test_labkit_down_typed_in_a_jupyterlab_terminal_stops_everything_and_says_so(priv, tmp_path):
    """The terminal runs inside JupyterLab: `labkit down` stops Kafka and Flink first, says
    so, and JupyterLab (with the terminal) last."""
    priv.up()
    cluster_pids = [priv.pid(name) for name in NAMES]
    proc, port, token = priv.start_jupyterlab(tmp_path / "lab.log")
    try:
        wait_for(lambda: jupyter_answers(port, token), "JupyterLab to answer", timeout=120)
        shown = asyncio.run(type_in_terminal(port, token, f"{sys.executable} -m labkit.cli down"))
        assert proc.wait(120) == 0  # `labkit lab` ends with its JupyterLab
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "; stopping jupyter last, which this process runs inside, so it ends too" in shown
    assert all(gone(pid) for pid in cluster_pids)
    assert priv.leftovers() == []
    log = (tmp_path / "lab.log").read_text()
    assert "labkit: JupyterLab stopped, with Kafka and Flink (`labkit down`)." in log


def test_down_stops_everything_and_twice_is_harmless(priv):
    priv.up()
    pids = [priv.pid(name) for name in NAMES]
    down = priv.down()  # checks that no process of the lab is left
    assert set(down.stdout.removeprefix("labkit: stopped ").strip().split(", ")) >= NAMES
    assert all(gone(pid) for pid in pids)
    assert priv.status()["backend"] is None
    again = priv.run("down")
    assert again.returncode == 0 and "nothing (nothing was running)" in again.stdout
    assert "not running" in priv.run("status").stdout


def test_two_processes_connecting_at_once_share_one_cluster(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    code = "import json, labkit; lab = labkit.connect(quiet=True); print(json.dumps(vars(lab.endpoints)))"
    try:
        both = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=lab.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=240) for p in both]
        assert [p.returncode for p in both] == [0, 0], [err for _, err in outs]
        assert outs[0][0] == outs[1][0]  # the same endpoints
        assert set(lab.state()["processes"]) == NAMES
        java = [p for p in lab.processes() if "java" in p.name()]
        # one broker, one JobManager, one TaskManager, one SQL Gateway
        assert len(java) == 4, [p.cmdline()[:2] for p in java]
    finally:
        lab.stop()


def test_a_broker_that_cannot_start_gives_a_clear_error_without_waiting_out_the_timeout(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    # a log folder formatted for another node: Kafka refuses to start on it
    log_dir = lab.home / "kafka-1" / "broker-1"
    log_dir.mkdir(parents=True)
    (lab.home / "kafka-1" / "cluster.id").write_text("AAAAAAAAAAAAAAAAAAAAAA")
    (log_dir / "meta.properties").write_text(
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\ndirectory.id=BBBBBBBBBBBBBBBBBBBBBB\n"
    )
    try:
        out = lab.run("up")
        assert out.returncode == 1
        assert "labkit: Kafka broker 1 exited during start" in out.stderr
        assert "did not become ready within" not in out.stderr  # noticed the exit, no time-out
        assert "Stored node id 7 doesn't match" in out.stderr  # the reason, from its log
        assert "Traceback" not in out.stderr
    finally:
        lab.stop()  # and `labkit down` stops what did start (Flink)


@pytest.mark.parametrize(
    ("variable", "what"), [("LABKIT_KAFKA_PORT", "Kafka"), ("LABKIT_FLINK_PORT", "Flink's Web UI")]
)
def test_a_port_setting_that_is_taken_is_a_clear_error(tmp_path, variable, what):
    lab = PrivateLab(tmp_path / "home")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = lab.run("up", timeout=120, **{variable: str(port)})
    try:
        assert out.returncode == 1
        assert f"Port {port} is already in use, so {what} cannot start there" in out.stderr
        assert "Traceback" not in out.stderr
        assert lab.leftovers(timeout=0) == []  # nothing was started
    finally:
        lab.stop()


@pytest.mark.parametrize("variable", ["LABKIT_KAFKA_PORT", "LABKIT_FLINK_PORT"])
def test_a_port_setting_that_is_no_port_number_is_a_clear_error(tmp_path, variable):
    lab = PrivateLab(tmp_path / "home")
    out = lab.run("up", timeout=120, **{variable: "90o2"})  # a typo: not silently another port
    try:
        assert out.returncode == 1
        assert f"{variable}='90o2' is not a port number." in out.stderr
        assert "Traceback" not in out.stderr
        assert lab.leftovers(timeout=0) == []  # nothing was started
    finally:
        lab.stop()


def test_status_with_nothing_running(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    out = lab.run("status", timeout=60)
    assert out.returncode == 0 and "not running. Start it with `labkit up`" in out.stdout
    assert json.loads(lab.run("status", "--json", timeout=60).stdout) == {
        "running": False,
        "backend": None,
        "processes": {},
    }


def test_reset_asks_first(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    (lab.home / "kafka-1").mkdir(parents=True)
    out = subprocess.run(
        [*LABKIT, "reset"], env=lab.env, input="n\n", capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "nothing deleted" in out.stdout
    assert (lab.home / "kafka-1").is_dir()
