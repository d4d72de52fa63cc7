"""The compose backend (labkit/runtime/compose.py): its endpoints for each side, `docker compose ps`
parsing, and its orchestration run against a stand-in ``docker`` executable on PATH that records
its arguments and answers like ``docker compose`` would.

The remote backend is tested for real in test_backends.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from compose_files import COMPOSE_FILE, LABKIT

from labkit import paths
from labkit.errors import LabError
from labkit.lab import Lab
from labkit.runtime import compose
from labkit.runtime.net import answers, free_port
from labkit.runtime.processes import record, tracked
from labkit.runtime.state import Endpoints, State

# --- the compose cluster's addresses (no cluster needed) ---------------------------------


def test_compose_endpoints_give_each_side_its_own_kafka_address(monkeypatch):
    monkeypatch.delenv("LABKIT_KAFKA_PORT", raising=False)
    monkeypatch.delenv("LABKIT_FLINK_PORT", raising=False)
    one = compose.endpoints(with_replication=False)
    assert (one.backend, one.bootstrap_servers, one.flink_bootstrap_servers) == (
        "compose",
        "127.0.0.1:9092",
        "kafka:19092",
    )
    assert one.flink_rest == "127.0.0.1:8081" and one.flink_python == compose.IMAGE_PYTHON
    three = compose.endpoints(with_replication=True)
    assert three.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:29092,127.0.0.1:39092"
    assert three.flink_bootstrap_servers == "kafka:19092,kafka-2:19092,kafka-3:19092"
    monkeypatch.setenv("LABKIT_KAFKA_PORT", "19999")
    assert compose.endpoints(with_replication=False).bootstrap_servers == "127.0.0.1:19999"
    monkeypatch.setenv("LABKIT_KAFKA_PORT", "nope")
    with pytest.raises(LabError, match="not a port"):
        compose.endpoints()


def test_flink_jobs_go_to_the_jobmanager_and_ddl_uses_flinks_view():
    lab = Lab(compose.endpoints(with_replication=False))
    conf = lab.flink_config()
    assert conf["execution.target"] == "remote"
    assert (conf["rest.address"], conf["rest.port"]) == ("127.0.0.1", "8081")
    assert conf["python.executable"] == compose.IMAGE_PYTHON  # the TaskManagers' Python
    assert conf["python.client.executable"] == sys.executable  # this kernel's
    opts = lab.kafka_options("clicks")
    assert "'properties.bootstrap.servers' = 'kafka:19092'" in opts
    assert "127.0.0.1" not in opts
    local = Lab(Endpoints("local", "127.0.0.1:9092", "127.0.0.1:9092", "127.0.0.1:8081"))
    assert local.flink_config()["python.executable"] == sys.executable


def test_parse_compose_ps_both_formats():
    rows = [{"Service": "kafka", "State": "running", "Health": "healthy", "Name": "k-1", "ID": "x"}]
    assert compose.parse_ps(json.dumps(rows)) == [
        {"Service": "kafka", "Name": "k-1", "State": "running", "Health": "healthy"}
    ]
    ndjson = "\n".join(json.dumps(r) for r in rows * 2)
    assert len(compose.parse_ps(ndjson)) == 2
    assert compose.parse_ps("") == []


# --- the compose backend against a stand-in `docker` ------------------------------------

STAND_IN = r'''#!PYTHON
"""A stand-in `docker`: records its arguments, answers like Docker Compose v2 would."""
import json, os, signal, socket, subprocess, sys, time

log = os.environ["FAKE_DOCKER_LOG"]
args = sys.argv[1:]
with open(log, "a") as fh:
    fh.write(json.dumps({"args": args, "LABKIT_BROKERS": os.environ.get("LABKIT_BROKERS")}) + "\n")
mode = os.environ.get("FAKE_DOCKER_MODE", "ok")
pidfile = log + ".listener"

if args[:2] == ["compose", "version"]:
    if mode == "no-compose":
        print("docker: 'compose' is not a docker command.", file=sys.stderr)
        sys.exit(1)
    print("Docker Compose version v2.29.7")
    sys.exit(0)
if args[:1] == ["info"]:
    if mode == "engine-down":
        print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
              "Is the docker daemon running?", file=sys.stderr)
        sys.exit(1)
    print("28.2.2")
    sys.exit(0)
if args[:1] == ["compose"]:
    verb = next(a for a in args if a in ("up", "down", "ps"))
    if verb == "up":
        if mode == "up-fails":
            print("Error response from daemon: Bind for 127.0.0.1:9092 failed: port is already "
                  "allocated", file=sys.stderr)
            sys.exit(1)
        # "Kafka": something that accepts connections on the host port
        port = int(os.environ.get("LABKIT_KAFKA_PORT", "9092"))
        if not os.path.exists(pidfile):
            code = ("import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, "
                    f"socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', {port}))\ns.listen(50)\n"
                    "while True: time.sleep(1)")
            proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            open(pidfile, "w").write(str(proc.pid))
        print(" Container kafka-flink-lab-kafka-1  Healthy")
        sys.exit(0)
    if verb == "down":
        if os.path.exists(pidfile):
            os.kill(int(open(pidfile).read()), signal.SIGTERM)
            os.remove(pidfile)
        print(" Container kafka-flink-lab-kafka-1  Removed")
        sys.exit(0)
    if verb == "ps":
        running = os.path.exists(pidfile)
        for svc in ("kafka", "jobmanager", "taskmanager", "sql-gateway"):
            print(json.dumps({"Service": svc, "Name": f"kafka-flink-lab-{svc}-1",
                              "State": "running" if running else "exited",
                              "Health": "healthy" if running else ""}))
        sys.exit(0)
print(f"stand-in docker: unexpected {args}", file=sys.stderr)
sys.exit(2)
'''


@pytest.fixture
def fake_docker(tmp_path):
    """A private LABKIT_HOME and a PATH whose `docker` is the stand-in; yields (env, calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "docker"
    exe.write_text(STAND_IN.replace("PYTHON", sys.executable, 1))
    exe.chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LABKIT_HOME": str(tmp_path / "home"),
        "LABKIT_CACHE": str(paths.cache()),
        "LABKIT_KAFKA_PORT": str(free_port()),
        "LABKIT_FLINK_PORT": str(free_port()),  # nothing answers there
        "LABKIT_SQL_GATEWAY_PORT": str(free_port()),  # nor there
        "FAKE_DOCKER_LOG": str(log),
    }
    for name in ("LABKIT_BACKEND", "LABKIT_BROKERS", "LABKIT_COMPOSE_REPLICATION", "LABKIT_TASKMANAGERS"):
        env.pop(name, None)

    def calls() -> list[dict]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    yield env, calls
    pidfile = Path(f"{log}.listener")  # never leave the stand-in's listener behind
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def run(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LABKIT, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def compose_calls(calls) -> list[dict]:
    return [c for c in calls() if c["args"][:1] == ["compose"] and "version" not in c["args"]]


def test_up_status_connect_down_through_docker_compose(fake_docker):
    env, calls = fake_docker
    port, flink_port = env["LABKIT_KAFKA_PORT"], env["LABKIT_FLINK_PORT"]
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 0, up.stdout + up.stderr
    base = ["compose", "-f", str(COMPOSE_FILE), "-p", "kafka-flink-lab"]
    first = compose_calls(calls)[0]
    services = ["kafka", "jobmanager", "taskmanager", "sql-gateway"]
    assert first["args"] == [*base, "up", "-d", "--build", "--wait", *services]
    assert first["LABKIT_BROKERS"] == "1"  # docker-compose.yml's one-broker settings and volume
    assert "backend:   compose" in up.stdout
    assert f"kafka:     127.0.0.1:{port}" in up.stdout
    assert f"flink:     http://127.0.0.1:{flink_port}" in up.stdout
    assert "service:   taskmanager (running, healthy)" in up.stdout
    assert "service:   sql-gateway (running, healthy)" in up.stdout

    st = json.loads(run(env, "status", "--json").stdout)
    assert st["backend"] == "compose" and st["running"]
    assert st["flink_bootstrap_servers"] == "kafka:19092" and st["flink_python"] == compose.IMAGE_PYTHON
    # plain HTTP, as published
    assert st["sql_gateway"]["address"] == f"127.0.0.1:{env['LABKIT_SQL_GATEWAY_PORT']}"
    assert [s["Service"] for s in st["services"]] == services

    # a notebook kernel (no flag, no env) finds the compose cluster without running `up` again
    n_up = len(compose_calls(calls))
    code = "import labkit; lab = labkit.connect(quiet=True); print(lab.backend, lab.flink_rest)"
    kernel = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert kernel.stdout.split() == ["compose", f"127.0.0.1:{flink_port}"], kernel.stderr
    assert len(compose_calls(calls)) == n_up

    down = run(env, "down")
    assert down.returncode == 0 and "stopped compose cluster" in down.stdout, down.stdout + down.stderr
    assert compose_calls(calls)[-1]["args"] == [*base, "down", "--remove-orphans"]
    assert not answers(f"127.0.0.1:{port}")
    assert json.loads(run(env, "status", "--json").stdout)["backend"] is None
    again = run(env, "down")
    assert again.returncode == 0 and "nothing" in again.stdout
    assert len([c for c in compose_calls(calls) if "down" in c["args"]]) == 1  # no second `down`


def test_replication_profile_and_scaled_taskmanagers(fake_docker):
    env, calls = fake_docker
    up = run(env, "up", "--backend", "compose", "--replication", "--taskmanagers", "3")
    assert up.returncode == 0, up.stdout + up.stderr
    first = compose_calls(calls)[0]
    cmd = first["args"]
    assert cmd[cmd.index("--profile") + 1] == "replication"
    assert cmd[cmd.index("--scale") + 1] == "taskmanager=3"
    assert cmd[-6:] == ["kafka", "jobmanager", "taskmanager", "sql-gateway", "kafka-2", "kafka-3"]
    assert first["LABKIT_BROKERS"] == "3"  # brokers-3.env: internal topics RF 3, min ISR 2
    st = json.loads(run(env, "status", "--json").stdout)
    assert st["flink_bootstrap_servers"] == "kafka:19092,kafka-2:19092,kafka-3:19092"
    assert st["bootstrap_servers"].split(",")[1:] == ["127.0.0.1:29092", "127.0.0.1:39092"]
    assert run(env, "down").returncode == 0
    down = compose_calls(calls)[-1]
    assert down["args"][down["args"].index("--profile") + 1] == "replication" and "down" in down["args"]
    assert down["LABKIT_BROKERS"] == "3"
    bad = run(env, "up", "--backend", "compose", "--taskmanagers", "99")
    assert bad.returncode == 1 and "from 1 to 8" in bad.stderr


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("no-compose", "`docker compose` does not work here"),
        ("engine-down", "engine is not running"),
        ("up-fails", "failed with exit 1"),
    ],
)
def test_clear_errors_when_docker_cannot_run_the_cluster(fake_docker, mode, message):
    env, calls = fake_docker
    env = {**env, "FAKE_DOCKER_MODE": mode}
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 1 and message in up.stderr, up.stdout + up.stderr
    assert "Traceback" not in up.stderr
    assert json.loads(run(env, "status", "--json").stdout)["backend"] is None


def test_clear_error_when_docker_is_not_installed(tmp_path, monkeypatch):
    env = {
        **os.environ,
        "PATH": str(tmp_path),  # no docker here
        "LABKIT_HOME": str(tmp_path / "home"),
        "LABKIT_CACHE": str(paths.cache()),
    }
    env.pop("LABKIT_BACKEND", None)
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 1
    assert "`docker` is not installed" in up.stderr and "local backend" in up.stderr
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match="not installed"):
        compose.docker()


@pytest.fixture
def stand_in_lab_process(fake_docker, monkeypatch):
    """A process recorded in the private lab's state as its Kafka broker (a `sleep`, so no
    real broker is needed), started the way `labkit up` leaves a broker: detached, its
    starter gone. Yields its psutil handle; never leaves it behind."""
    env, _ = fake_docker
    code = (
        "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'import time; "
        "time.sleep(600)'], start_new_session=True, stdin=subprocess.DEVNULL, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
    )
    proc = psutil.Process(int(subprocess.check_output([sys.executable, "-c", code], text=True, timeout=60)))
    try:
        with monkeypatch.context() as m:
            m.setenv("LABKIT_HOME", env["LABKIT_HOME"])
            address = f"127.0.0.1:{free_port()}"
            State(Endpoints("local", address, address), {"kafka-1": record(proc)}).save()
        yield proc
    finally:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def test_compose_refuses_to_start_over_the_local_cluster(fake_docker, stand_in_lab_process):
    env, calls = fake_docker
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 1 and "local cluster is running" in up.stderr, up.stdout + up.stderr
    assert not compose_calls(calls)
    assert tracked(record(stand_in_lab_process))  # refusing stops nothing


@pytest.mark.parametrize("docker", ["not installed", "engine-down"])
def test_down_stops_local_processes_when_docker_is_gone(
    fake_docker, stand_in_lab_process, monkeypatch, docker
):
    """A compose cluster was recorded, then Docker went away: `labkit down` says it could not
    stop the containers, still stops what the lab started on this machine, and keeps the
    compose record so a later `down` (with Docker back) stops the containers."""
    env, _ = fake_docker
    with monkeypatch.context() as m:
        m.setenv("LABKIT_HOME", env["LABKIT_HOME"])
        compose.save_record({"project": compose.PROJECT, "file": str(COMPOSE_FILE), "replication": False})
    if docker == "not installed":
        env = {**env, "PATH": str(Path(env["LABKIT_HOME"]))}  # a folder without docker
    else:
        env = {**env, "FAKE_DOCKER_MODE": "engine-down"}
    down = run(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "could not stop the compose cluster" in down.stdout and "Traceback" not in down.stderr
    assert "stopped kafka-1" in down.stdout
    assert not psutil.wait_procs([stand_in_lab_process], timeout=30)[1]  # stopped by `labkit down`
    assert not (Path(env["LABKIT_HOME"]) / "state.json").exists()
    assert (Path(env["LABKIT_HOME"]) / "compose.json").exists()
