"""The lab's promises about its own life, on a private lab: topics survive `down`/`up`,
`down` leaves nothing running, a killed broker or TaskManager is reported and repaired,
`down --all` cleans up after a killed test run only, a kernel restart finds the lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from privatelab import Kernel, PrivateLab, describe, gone, is_loopback, kill, listeners, wait_for

from labkit.runtime.processes import tracked

CLUSTER = ("kafka-1", "flink-jobmanager", "flink-taskmanager")


@pytest.fixture
def registry(shared_priv: PrivateLab) -> Path:
    """The lab's registry of labs of its own (LABKIT_REGISTRY, private like the user's): the
    labs below register there, so `labkit down --all` sees them and no other lab on this
    machine."""
    return Path(shared_priv.env["LABKIT_REGISTRY"])


@pytest.fixture
def priv(shared_priv: PrivateLab) -> PrivateLab:
    """The runtime tests' private lab (conftest.py); each test starts with `priv.up()`."""
    return shared_priv


def test_events_survive_down_and_up(priv):
    priv.up()
    lab = priv.lab()
    topic = lab.create_topic(f"durable-{uuid.uuid4().hex[:6]}", partitions=3)
    events = [{"user": f"user-{i % 37}", "n": i} for i in range(1000)]
    assert lab.produce(topic, events, key="user") == 1000
    before = lab.read(topic)[["partition", "offset", "key", "n"]]
    assert len(before) == 1000 and before["partition"].nunique() == 3

    priv.down()  # every process gone (checked inside)
    priv.up()
    after = priv.lab().read(topic)[["partition", "offset", "key", "n"]]
    assert after.to_dict("records") == before.to_dict("records")  # same events, keys, partitions, offsets


def test_down_leaves_no_process_behind_not_even_python_workers_or_kernels(priv, tmp_path):
    priv.up()
    jupyter, port, token = priv.start_jupyterlab(tmp_path / "lab.log")
    kernel = None
    try:
        # a notebook running a job with a pandas UDF: the one kind of Python function that
        # still runs in a Python worker process (the others run inside the TaskManager)
        kernel = Kernel(priv, "start_pandas_udf_job")
        tm = psutil.Process(priv.pid("flink-taskmanager"))
        workers = [p for p in tm.children(recursive=True) if "python" in p.name()]
        assert workers, "the pandas UDF job started no Python worker on the TaskManager"

        api = f"http://127.0.0.1:{port}/api"
        wait_for(lambda: _get(f"{api}/status", token) is not None, "JupyterLab to answer", timeout=120)
        started = _post(f"{api}/kernels", token, {"name": "python3"})
        wait_for(lambda: _kernel_processes(priv), "the kernel process", timeout=60)
        # JupyterLab keeps its token: without it, no access to kernels
        assert _status_without_token(f"{api}/kernels") == 403
        assert any(k["id"] == started["id"] for k in _get(f"{api}/kernels", token))
        # and it listens on this machine only, like its kernels
        server = psutil.Process(priv.state()["processes"]["jupyter"]["pid"])
        exposed = [s for s in listeners([server, *_kernel_processes(priv)]) if not is_loopback(s[2])]
        assert exposed == []

        running = {p.pid for p in priv.processes(ignore=kernel.pids())}
        assert {w.pid for w in workers} | {server.pid} <= running
        # every process of the lab (Python workers, JupyterLab's kernel included) is gone;
        # the stand-in notebook is not the lab's to stop
        priv.down(ignore=kernel.pids())
        assert jupyter.wait(60) == 0
    finally:
        if kernel:
            kernel.close()
        if jupyter.poll() is None:
            os.killpg(jupyter.pid, signal.SIGKILL)


#: A stand-in for JupyterLab, recorded in the lab's state file as `labkit lab` records it,
#: whose child (its terminal: a shell) runs `labkit down` and writes what it says to a file.
JUPYTER_STAND_IN = """
import subprocess, sys
import psutil
from labkit.runtime.processes import track
track("jupyter", psutil.Process())
subprocess.run(["sh", "-c", f"{sys.executable} -m labkit.cli down > {sys.argv[1]} 2>&1"])
sys.stdin.read()  # runs on, as JupyterLab does after its terminal's command, until stopped
"""


def test_down_typed_inside_jupyterlab_stops_kafka_and_flink_then_jupyterlab(priv, tmp_path):
    """`labkit down` in a JupyterLab terminal runs inside JupyterLab: stopping JupyterLab
    first would end `labkit down` itself and leave Kafka and Flink running."""
    priv.up()
    cluster = {name: priv.pid(name) for name in CLUSTER}
    said = tmp_path / "down.out"
    jupyter = subprocess.Popen(
        [sys.executable, "-c", JUPYTER_STAND_IN, str(said)],
        env=priv.env,
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert jupyter.wait(180) == -signal.SIGTERM  # stopped by labkit, after the rest
        assert all(gone(pid) for pid in cluster.values())
        assert priv.leftovers() == []  # labkit's helper that stopped the stand-in too
        assert not (priv.home / "state.json").exists()
        # what `labkit down` said before it ended with its terminal
        stopped, _, last = said.read_text().removeprefix("labkit: stopped ").partition("; stopping ")
        assert set(stopped.split(", ")) >= set(CLUSTER) and "jupyter" not in stopped
        assert last == "jupyter last, which this process runs inside, so it ends too\n"
        assert "labkit: stopped jupyter for `labkit down`." in (priv.home / "logs" / "down.log").read_text()
    finally:
        if jupyter.poll() is None:
            os.killpg(jupyter.pid, signal.SIGKILL)
            jupyter.wait(30)


def _get(url: str, token: str):
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"token {token}"}), timeout=5
        ) as r:
            return json.load(r)
    except OSError:
        return None


def _post(url: str, token: str, body: dict):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def _status_without_token(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _kernel_processes(priv: PrivateLab) -> list[psutil.Process]:
    return [p for p in priv.processes() if any("ipykernel" in a for a in p.cmdline())]


def test_a_killed_broker_is_reported_and_up_repairs_it_on_the_same_port(priv):
    priv.up()
    lab = priv.lab()
    topic = lab.create_topic(f"crash-{uuid.uuid4().hex[:6]}", partitions=2)
    lab.produce(topic, [{"k": f"k{i % 5}", "n": i} for i in range(100)], key="k")
    before = lab.read(topic)[["partition", "offset", "key", "n"]].to_dict("records")
    broker = priv.state()["processes"]["kafka-1"]

    kill(broker["pid"])
    st = priv.status()
    assert st["running"] is False and st["processes"]["kafka-1"]["alive"] is False
    text = describe(st)
    assert "NOT answering - `labkit up` restarts it" in text and "kafka-1 (NOT running)" in text

    up = priv.up()
    assert "Kafka broker 1 had stopped; starting again." in up.stdout
    again = priv.state()["processes"]["kafka-1"]
    assert again["pid"] != broker["pid"] and again["port"] == broker["port"]
    assert priv.lab().read(topic)[["partition", "offset", "key", "n"]].to_dict("records") == before


def test_a_killed_taskmanager_is_reported_and_up_repairs_it(priv):
    priv.up()
    jobmanager, taskmanager = priv.pid("flink-jobmanager"), priv.pid("flink-taskmanager")
    kill(taskmanager)
    # the JobManager notices the loss after a few missed heartbeats
    st = wait_for(
        lambda: (s := priv.status())["flink"].get("taskmanagers") == 0 and s,
        "the JobManager to report no TaskManager",
        timeout=90,
    )
    text = describe(st)
    assert "0 TaskManager(s)" in text and "no TaskManager: `labkit up` restarts it" in text
    assert "flink-taskmanager (NOT running)" in text

    up = priv.up()
    assert "the Flink taskmanager had stopped; starting again." in up.stdout
    st = priv.status()
    assert st["flink"]["taskmanagers"] == 1 and st["flink"]["slots_total"] == 4
    assert priv.pid("flink-jobmanager") == jobmanager and priv.pid("flink-taskmanager") != taskmanager


def test_a_killed_sql_gateway_is_reported_and_up_restarts_it_alone_on_its_port(priv):
    priv.up()
    others = {n: priv.pid(n) for n in ("flink-jobmanager", "flink-taskmanager", "kafka-1")}
    gateway = priv.state()["processes"]["flink-sqlgateway"]
    kill(gateway["pid"])
    st = priv.status()
    assert st["sql_gateway"]["error"] == "does not answer" and "does not answer" in describe(st)

    up = priv.up()
    assert "Flink's SQL Gateway had stopped; starting again." in up.stdout
    again = priv.state()["processes"]["flink-sqlgateway"]
    assert again["pid"] != gateway["pid"] and again["port"] == gateway["port"]  # kernels keep its address
    assert {n: priv.pid(n) for n in others} == others  # nothing else restarted
    assert priv.status()["sql_gateway"]["version"] == "2.3.0"


def test_a_new_kernel_finds_the_running_lab_and_starts_nothing(priv):
    priv.up()
    before = priv.state()
    lab_pids = {p.pid for p in priv.processes()}
    code = "import json, labkit; print(json.dumps(vars(labkit.connect(quiet=True).endpoints)))"
    out = priv.python(code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == before["endpoints"]
    assert priv.state()["processes"] == before["processes"]
    assert {p.pid for p in priv.processes()} == lab_pids  # nothing new started


def test_down_all_stops_a_lab_whose_owner_was_killed_but_not_one_whose_owner_lives(priv, registry, tmp_path):
    priv.up()
    alive_pids = {name: priv.pid(name) for name in CLUSTER}
    orphan = PrivateLab(tmp_path / "orphan", LABKIT_REGISTRY=str(registry))
    try:
        # a test run starts a lab, then is killed before it can stop it
        owner = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, signal; os.environ['LABKIT_OWNER_PID'] = str(os.getpid())\n"
                "from labkit.runtime import lifecycle; lifecycle.up(quiet=True)\n"
                "os.kill(os.getpid(), signal.SIGKILL)",
            ],
            env=orphan.env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert owner.returncode == -signal.SIGKILL, owner.stderr
        left = orphan.state()
        assert not psutil.pid_exists(left["owner_pid"])
        assert all(tracked(info) for info in left["processes"].values())

        sweeper = PrivateLab(tmp_path / "sweeper", LABKIT_REGISTRY=str(registry))
        out = sweeper.run("down", "--all", timeout=180)
        assert out.returncode == 0, out.stderr
        assert f"left-over lab in {orphan.home}" in out.stdout
        assert orphan.leftovers() == []
        assert not (orphan.home / "state.json").exists()
        # the lab whose owner (this test run) is alive is left alone
        assert str(priv.home) not in out.stdout
        assert {name: priv.pid(name) for name in CLUSTER} == alive_pids
        assert all(psutil.pid_exists(pid) for pid in alive_pids.values()) and priv.status()["running"]
    finally:
        orphan.stop()


def test_reset_deletes_every_topic(priv):
    priv.up()
    topic = priv.lab().create_topic(f"doomed-{uuid.uuid4().hex[:6]}")
    priv.lab().produce(topic, [{"n": 1}])
    out = priv.run("reset", "--yes", timeout=120)
    assert out.returncode == 0, out.stderr
    assert "deleted every topic" in out.stdout
    assert priv.leftovers() == [] and not list(priv.home.glob("kafka-*"))
    priv.up()
    assert topic not in priv.lab().topics()
