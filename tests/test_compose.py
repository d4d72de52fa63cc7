"""The composed cluster and the non-embedded backends.

There is no Docker engine on the project's machines, so:

* docker-compose.yml and docker/flink/Dockerfile are checked statically (parse, ports,
  healthchecks, pinned images, versions equal to pyproject.toml and labkit/pins.py);
* the compose backend's orchestration runs against a stand-in ``docker`` executable on
  PATH that records its arguments and answers like ``docker compose`` would (its ``up``
  opens a TCP listener where Kafka would be, its ``down`` closes it);
* the remote backend runs for real: an embedded broker, started privately, is treated as
  a remote cluster (produce/consume and Flink SQL jobs through it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

import labkit
from labkit import cluster, compose, paths, pins
from labkit.cluster import Endpoints
from labkit.errors import LabError
from labkit.lab import CAPABILITIES, Lab

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "flink" / "Dockerfile"
LABKIT = [sys.executable, "-m", "labkit.cli"]


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), flags=re.M))


def flink_properties(service: dict) -> dict[str, str]:
    """FLINK_PROPERTIES parsed the way the official image's entrypoint does."""
    props = {}
    for line in service["environment"]["FLINK_PROPERTIES"].splitlines():
        line = "".join(line.split())
        if line:
            key, _, value = line.partition(":")
            props[key] = value
    return props


# --- static checks: docker-compose.yml ---------------------------------------------------


def test_compose_file_has_the_lab_services(spec):
    services = spec["services"]
    assert {"kafka", "kafka-2", "kafka-3", "jobmanager", "taskmanager", "lab"} <= set(services)
    assert spec["name"] == compose.PROJECT
    # the cluster labkit starts is the default set; the extra brokers are a profile
    for name in compose.CLUSTER_SERVICES + ("lab",):
        assert "profiles" not in services[name], name
    for name in compose.REPLICATION_SERVICES:
        assert services[name]["profiles"] == [compose.REPLICATION_PROFILE]


def test_every_service_has_a_healthcheck(spec):
    for name, service in spec["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name


def test_every_port_is_bound_to_localhost_only(spec):
    published = 0
    for name, service in spec["services"].items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is reachable from other machines"
    assert published >= 4  # kafka, jobmanager (web UI), lab, the replication brokers


def test_images_are_pinned(spec, dockerfile_args):
    for name, service in spec["services"].items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "$" not in image, f"{name}: {image} is not pinned"
    for name in ("kafka", *compose.REPLICATION_SERVICES):
        assert spec["services"][name]["image"].startswith("apache/kafka:"), "the official Apache Kafka image"
    assert len({spec["services"][n]["image"] for n in ("kafka", *compose.REPLICATION_SERVICES)}) == 1
    base = dockerfile_args["FLINK_IMAGE"]
    assert re.fullmatch(r"flink:\d+\.\d+\.\d+-scala_2\.12-java17", base), base
    assert re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), flags=re.M)[0] == "${FLINK_IMAGE}"


def test_depends_on_waits_for_healthy_services(spec):
    services = spec["services"]
    seen = 0
    for name, service in services.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with a condition"
        for dep, how in deps.items():
            seen += 1
            assert dep in services, f"{name} depends on unknown {dep}"
            assert how == {"condition": "service_healthy"}, f"{name} -> {dep}: {how}"
    assert seen >= 5
    assert set(services["lab"]["depends_on"]) == {"kafka", "jobmanager", "taskmanager"}


def _bytes(limit: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(limit).lower()).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


def test_memory_limits_fit_an_8_gb_laptop(spec):
    services = spec["services"]
    for name, service in services.items():
        assert "mem_limit" in service, f"{name} has no memory limit"
    default = sum(_bytes(s["mem_limit"]) for s in services.values() if "profiles" not in s)
    everything = sum(_bytes(s["mem_limit"]) for s in services.values())
    assert default <= 6.5 * 2**30, default / 2**30
    assert everything <= 8 * 2**30, everything / 2**30
    # Flink's own budgets fit inside their containers
    props = flink_properties(services["taskmanager"])
    assert _bytes(props["taskmanager.memory.process.size"]) < _bytes(services["taskmanager"]["mem_limit"])
    assert _bytes(props["jobmanager.memory.process.size"]) < _bytes(services["jobmanager"]["mem_limit"])


def test_kafka_keeps_its_data_in_named_volumes(spec):
    declared = set(spec.get("volumes") or {})
    for name in ("kafka", *compose.REPLICATION_SERVICES):
        service = spec["services"][name]
        data_dir = service["environment"]["KAFKA_LOG_DIRS"]
        mounts = [v.split(":") for v in service["volumes"]]
        assert [data_dir] == [target for source, target in mounts if source in declared], name


def test_kafka_listeners_match_what_labkit_expects(spec):
    """Host listener for the notebook, internal listener for containers (KRaft mode)."""
    for name, (host_port, internal) in compose.BROKERS.items():
        env = spec["services"][name]["environment"]
        advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["INTERNAL"] == internal
        expected_host = (
            "127.0.0.1:${LABKIT_KAFKA_PORT:-9092}" if name == "kafka" else f"127.0.0.1:{host_port}"
        )
        assert advertised["HOST"] == expected_host
        ports = spec["services"][name]["ports"]
        assert ports == [f"{expected_host}:{9092 if name == 'kafka' else host_port}"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
        assert "KAFKA_PROCESS_ROLES" in env and "CLUSTER_ID" in env  # KRaft, no ZooKeeper
    assert spec["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # Flink's exactly-once sink defaults to 1-hour transactions
    assert int(spec["services"]["kafka"]["environment"]["KAFKA_TRANSACTION_MAX_TIMEOUT_MS"]) >= 3600000


def test_flink_services_match_what_labkit_expects(spec):
    services = spec["services"]
    jm, tm = services["jobmanager"], services["taskmanager"]
    assert jm["image"] == tm["image"] and jm["build"] == tm["build"]
    assert jm["build"]["dockerfile"] == "docker/flink/Dockerfile" and jm["build"]["target"] == "flink"
    assert services["lab"]["build"]["target"] == "lab"
    assert jm["ports"] == [f"127.0.0.1:${{LABKIT_FLINK_PORT:-{compose.FLINK_REST_PORT}}}:8081"]
    # scalable with --scale: no fixed container name, no published port
    assert "container_name" not in tm and "ports" not in tm
    for svc in (jm, tm):
        props = flink_properties(svc)
        assert props["jobmanager.rpc.address"] == "jobmanager"
        assert props["python.executable"] == compose.IMAGE_PYTHON
        # the connector is in lib/ and jobs also ship it: one copy of Kafka's classes wins
        assert props["classloader.parent-first-patterns.additional"] == "org.apache.kafka."
    lab_env = services["lab"]["environment"]
    assert lab_env["LABKIT_BACKEND"] == "remote"
    assert lab_env["LABKIT_BOOTSTRAP_SERVERS"] == lab_env["LABKIT_FLINK_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert lab_env["LABKIT_FLINK_REST"] == "jobmanager:8081"
    assert lab_env["LABKIT_FLINK_PYTHON"] == compose.IMAGE_PYTHON


def test_healthchecks_call_modes_the_script_has(spec):
    script = ROOT / "docker" / "flink" / "healthcheck.py"
    compile(script.read_text(), str(script), "exec")
    text = script.read_text()
    for name in ("jobmanager", "taskmanager", "lab"):
        test = spec["services"][name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", compose.IMAGE_PYTHON, "/opt/labkit/healthcheck.py"] and test[3] == name
        assert f"def {name}(" in text
    assert "COPY docker/flink/healthcheck.py /opt/labkit/healthcheck.py" in DOCKERFILE.read_text()


# --- static checks: one source of truth for versions ------------------------------------


def test_dockerfile_versions_match_pyproject_and_pins(dockerfile_args):
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r'"apache-flink==([^"]+)"', pyproject) == [pins.FLINK_VERSION]
    a = dockerfile_args
    assert a["APACHE_FLINK_VERSION"] == pins.FLINK_VERSION
    assert a["FLINK_IMAGE"].startswith(f"flink:{pins.FLINK_VERSION}-")
    assert a["CONNECTOR_WHEEL"] == pins.CONNECTOR_WHEEL
    assert a["CONNECTOR_WHEEL_VERSION"] == pins.CONNECTOR_WHEEL_VERSION
    assert a["CONNECTOR_WHEEL_FILE"] == pins.CONNECTOR_WHEEL_FILE
    assert a["CONNECTOR_WHEEL_SHA256"] == pins.CONNECTOR_WHEEL_SHA256
    assert a["CONNECTOR_VERSION"] == pins.CONNECTOR_VERSION
    assert a["CONNECTOR_JAR_SHA256"] == pins.CONNECTOR_JARS["flink-connector-kafka.jar"]
    assert a["KAFKA_CLIENTS_JAR_SHA256"] == pins.CONNECTOR_JARS["kafka-clients.jar"]


def test_dockerfile_verifies_every_download_and_keeps_lib_consistent():
    text = DOCKERFILE.read_text()
    for arg in ("CONNECTOR_WHEEL_SHA256", "CONNECTOR_JAR_SHA256", "KAFKA_CLIENTS_JAR_SHA256"):
        assert re.search(rf'echo "\$\{{{arg}\}}  .*" \| sha256sum -c -', text), arg
    assert 'pip" download --no-deps' in text  # the wheel is fetched, never installed
    assert 'pip" install "apache-flink==${APACHE_FLINK_VERSION}"' in text
    # labkit's jar cache layout, so the lab image never downloads the wheel again
    assert "/opt/labkit/cache/flink-kafka-${CONNECTOR_VERSION}" in text
    assert "jars.jar_dir" not in text and "LABKIT_CACHE=/opt/labkit/cache" in text
    assert "flink-python-" in text and '"$FLINK_HOME/lib/"' in text
    # build context: .dockerignore keeps .venv/.labkit (GBs) out
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("**")] == "**" and {"!labkit/", "!docker/", "!pyproject.toml"} <= set(ignore)


def test_labkit_cache_layout_matches_the_image():
    from labkit import jars

    assert jars.jar_dir().name == f"flink-kafka-{pins.CONNECTOR_VERSION}"
    assert sorted(pins.CONNECTOR_JARS) == ["flink-connector-kafka.jar", "kafka-clients.jar"]


# --- backend selection and capabilities (no cluster needed) ---------------------------


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
    embedded = Lab(Endpoints("embedded", "127.0.0.1:9092", "127.0.0.1:9092"))
    assert "execution.target" not in embedded.flink_config()
    assert embedded.flink_config()["python.executable"] == sys.executable


def test_requested_backend_by_argument_env_and_state(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    assert cluster._requested_backend() is None
    assert cluster._requested_backend("compose").backend == "compose"
    monkeypatch.setenv("LABKIT_BACKEND", "compose")
    assert cluster._requested_backend().backend == "compose"
    assert cluster._requested_backend("embedded") is None  # the flag wins over the env
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.delenv("LABKIT_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(LabError, match="LABKIT_BOOTSTRAP_SERVERS"):
        cluster._requested_backend()
    monkeypatch.setenv("LABKIT_BACKEND", "kubernetes")
    with pytest.raises(LabError, match="'embedded', 'compose' or 'remote'"):
        cluster._requested_backend()
    # no flag, no env: a kernel keeps using the cluster the state file records
    monkeypatch.delenv("LABKIT_BACKEND")
    cluster.State(compose.endpoints(with_replication=False)).save()
    assert cluster._requested_backend() == compose.endpoints(with_replication=False)
    # an older state file (without flink_python) still loads
    raw = json.loads(paths.state_file().read_text())
    del raw["endpoints"]["flink_python"]
    paths.state_file().write_text(json.dumps(raw))
    assert cluster.State.load().endpoints.flink_python is None


def test_capabilities_api(monkeypatch):
    monkeypatch.delenv("LABKIT_CAPABILITIES", raising=False)
    embedded = Lab(Endpoints("embedded", "127.0.0.1:1", "127.0.0.1:1"))
    assert embedded.capabilities == frozenset()
    assert not embedded.supports("retention") and not embedded.supports("add-partitions")
    with pytest.raises(ValueError, match="Unknown capability"):
        embedded.supports("retentoin")
    assert {"retention", "compaction", "add_partitions", "replication", "exactly_once"} <= set(CAPABILITIES)
    monkeypatch.setenv("LABKIT_CAPABILITIES", "retention, compaction")
    assert embedded.capabilities == {"retention", "compaction"}
    monkeypatch.setenv("LABKIT_CAPABILITIES", "all")
    assert embedded.capabilities == set(CAPABILITIES)
    monkeypatch.setenv("LABKIT_CAPABILITIES", "none")
    assert embedded.capabilities == frozenset()


class FakeAdmin:
    def __init__(self, cluster_id: str, brokers: int) -> None:
        self.info = {"cluster_id": cluster_id, "brokers": [{"broker_id": i} for i in range(brokers)]}

    def describe_cluster(self) -> dict:
        return self.info

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("cluster_id", "brokers", "expected"),
    [
        ("eHi-BWGkXgqXX0MFTIHrNA", 1, set(CAPABILITIES) - {"replication"}),
        ("eHi-BWGkXgqXX0MFTIHrNA", 3, set(CAPABILITIES)),
        ("tansu_cluster", 3, set()),  # the embedded broker's engine reached as "remote"
    ],
)
def test_capabilities_of_a_real_kafka_depend_on_its_brokers(monkeypatch, cluster_id, brokers, expected):
    monkeypatch.delenv("LABKIT_CAPABILITIES", raising=False)
    lab = Lab(compose.endpoints(with_replication=False))
    monkeypatch.setattr(lab, "admin", lambda **_: FakeAdmin(cluster_id, brokers))
    assert lab.capabilities == expected
    assert lab.supports("replication") == (brokers >= 3 and cluster_id != "tansu_cluster")


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
    fh.write(json.dumps(args) + "\n")
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
            for _ in range(200):
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
        for svc in ("kafka", "jobmanager", "taskmanager"):
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
        "LABKIT_KAFKA_PORT": str(cluster.free_port()),
        "FAKE_DOCKER_LOG": str(log),
        "LABKIT_CAPABILITIES": "all",  # the stand-in's "Kafka" only accepts connections
    }
    for name in ("LABKIT_BACKEND", "LABKIT_PORT", "LABKIT_COMPOSE_REPLICATION", "LABKIT_TASKMANAGERS"):
        env.pop(name, None)

    def calls() -> list[list[str]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    yield env, calls
    pidfile = Path(f"{log}.listener")  # never leave the stand-in's listener behind
    if pidfile.exists():
        os.kill(int(pidfile.read_text()), 15)


def run(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*LABKIT, *args], env=env, capture_output=True, text=True, timeout=timeout)


def compose_calls(calls) -> list[list[str]]:
    return [c for c in calls() if c[:1] == ["compose"] and "version" not in c]


def test_up_status_connect_down_through_docker_compose(fake_docker):
    env, calls = fake_docker
    port = env["LABKIT_KAFKA_PORT"]
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 0, up.stdout + up.stderr
    base = ["compose", "-f", str(COMPOSE_FILE), "-p", "kafka-flink-lab"]
    assert compose_calls(calls)[0] == [
        *base,
        "up",
        "-d",
        "--build",
        "--wait",
        "kafka",
        "jobmanager",
        "taskmanager",
    ]
    assert "backend:  compose" in up.stdout
    assert f"kafka:    127.0.0.1:{port} (answering)" in up.stdout
    assert "flink:    127.0.0.1:8081" in up.stdout
    assert "service:  taskmanager (running, healthy)" in up.stdout
    assert "shows:    add_partitions, compaction" in up.stdout

    st = json.loads(run(env, "status", "--json").stdout)
    assert st["backend"] == "compose" and st["running"]
    assert st["flink_bootstrap_servers"] == "kafka:19092" and st["flink_python"] == compose.IMAGE_PYTHON
    assert [s["Service"] for s in st["services"]] == ["kafka", "jobmanager", "taskmanager"]

    # a notebook kernel (no flag, no env) finds the compose cluster without running `up` again
    n_up = len(compose_calls(calls))
    code = "import labkit; lab = labkit.connect(quiet=True); print(lab.backend, lab.flink_rest)"
    kernel = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert kernel.stdout.split() == ["compose", "127.0.0.1:8081"], kernel.stderr
    assert len(compose_calls(calls)) == n_up

    down = run(env, "down")
    assert down.returncode == 0 and "stopped compose cluster" in down.stdout, down.stdout + down.stderr
    assert compose_calls(calls)[-1] == [*base, "down", "--remove-orphans"]
    assert not cluster.answers(f"127.0.0.1:{port}")
    assert json.loads(run(env, "status", "--json").stdout)["backend"] is None
    again = run(env, "down")
    assert again.returncode == 0 and "nothing" in again.stdout
    assert compose_calls(calls)[-1][-2:] == ["down", "--remove-orphans"]  # no second `down`


def test_replication_profile_and_scaled_taskmanagers(fake_docker):
    env, calls = fake_docker
    up = run(env, "up", "--backend", "compose", "--replication", "--taskmanagers", "3")
    assert up.returncode == 0, up.stdout + up.stderr
    cmd = compose_calls(calls)[0]
    assert cmd[cmd.index("--profile") + 1] == "replication"
    assert cmd[cmd.index("--scale") + 1] == "taskmanager=3"
    assert cmd[-5:] == ["kafka", "jobmanager", "taskmanager", "kafka-2", "kafka-3"]
    st = json.loads(run(env, "status", "--json").stdout)
    assert st["flink_bootstrap_servers"] == "kafka:19092,kafka-2:19092,kafka-3:19092"
    assert st["bootstrap_servers"].split(",")[1:] == ["127.0.0.1:29092", "127.0.0.1:39092"]
    assert run(env, "down").returncode == 0
    down = compose_calls(calls)[-1]
    assert down[down.index("--profile") + 1] == "replication" and "down" in down
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
    assert "`docker` is not installed" in up.stderr and "embedded backend" in up.stderr
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match="not installed"):
        compose.docker()


def test_compose_refuses_to_start_over_the_embedded_broker(fake_docker):
    env, calls = fake_docker
    env = {**env, "LABKIT_PORT": env["LABKIT_KAFKA_PORT"]}
    assert run(env, "up").returncode == 0  # embedded broker on that port
    try:
        up = run(env, "up", "--backend", "compose")
        assert up.returncode == 1 and "embedded broker is running" in up.stderr, up.stdout + up.stderr
        assert not compose_calls(calls)
    finally:
        down = run(env, "down")
    assert "stopped broker" in down.stdout


# --- the remote backend, for real ---------------------------------------------------------


@pytest.fixture(scope="module")
def remote_broker(tmp_path_factory):
    """A private embedded broker, started through the CLI, to be used as a "remote" cluster."""
    home = tmp_path_factory.mktemp("remote-broker")
    env = {**os.environ, "LABKIT_HOME": str(home), "LABKIT_PORT": str(cluster.free_port())}
    env.pop("LABKIT_BACKEND", None)
    up = run(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield f"127.0.0.1:{env['LABKIT_PORT']}"
    run(env, "down")


@pytest.fixture
def remote_env(remote_broker, tmp_path, monkeypatch):
    """This process pointed at the broker as a remote cluster, with its own LABKIT_HOME.

    Flink's view of Kafka is spelt differently (localhost vs 127.0.0.1), so the tests see
    which address reaches the DDL."""
    port = remote_broker.rpartition(":")[2]
    monkeypatch.setenv("LABKIT_CACHE", str(paths.cache()))  # the real jar cache, before the move
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", remote_broker)
    monkeypatch.setenv("LABKIT_FLINK_BOOTSTRAP_SERVERS", f"localhost:{port}")
    monkeypatch.delenv("LABKIT_FLINK_REST", raising=False)
    monkeypatch.delenv("LABKIT_CAPABILITIES", raising=False)
    return remote_broker, f"localhost:{port}"


def test_remote_backend_kafka_round_trip(remote_env):
    servers, flink_servers = remote_env
    lab = labkit.connect(quiet=True)
    assert (lab.backend, lab.bootstrap_servers, lab.flink_bootstrap_servers) == (
        "remote",
        servers,
        flink_servers,
    )
    assert lab.capabilities == frozenset()  # it is the embedded broker's engine, and labkit can tell
    state = json.loads(paths.state_file().read_text())
    assert state["endpoints"]["backend"] == "remote" and state["processes"] == {}
    topic = f"test-remote-{uuid.uuid4().hex[:8]}"
    lab.create_topic(topic, partitions=2)
    try:
        sent = [{"user": f"u{i % 3}", "n": i} for i in range(30)]
        lab.produce(topic, sent, key="user")
        got = lab.read(topic)
        assert sorted(got["n"]) == list(range(30))
        assert lab.end_offsets(topic) and sum(lab.end_offsets(topic).values()) == 30
    finally:
        lab.delete_topic(topic)


def test_remote_backend_flink_sql_jobs(remote_env):
    servers, flink_servers = remote_env
    lab = labkit.connect(quiet=True)
    src, dst = (f"test-remote-{n}-{uuid.uuid4().hex[:8]}" for n in ("src", "dst"))
    lab.create_topic(src, partitions=2)
    lab.create_topic(dst)
    try:
        sent = [{"user": f"u{i % 4}", "amount": i} for i in range(40)]
        lab.produce(src, sent, key="user")
        # a bounded batch query
        df = lab.query(
            "SELECT `user`, SUM(amount) AS total FROM payments GROUP BY `user`",
            {"payments": "`user` STRING, amount INT"},
            topics={"payments": src},
        )
        want = {u: sum(e["amount"] for e in sent if e["user"] == u) for u in {e["user"] for e in sent}}
        assert dict(zip(df["user"], df["total"], strict=True)) == want
        # a streaming job, Kafka -> Flink -> Kafka, whose DDL names Flink's view of Kafka
        t_env = lab.table_env()
        ddl = lab.kafka_table(t_env, "src", "`user` STRING, amount INT", topic=src)
        assert f"'properties.bootstrap.servers' = '{flink_servers}'" in ddl and servers not in ddl
        lab.kafka_table(t_env, "dst", "`user` STRING, amount INT", topic=dst)
        job = lab.start(
            t_env.execute_sql("INSERT INTO dst SELECT `user`, amount FROM src WHERE amount >= 30")
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(lab.read(dst, timeout=5)) < 10:
                time.sleep(0.5)
            out = lab.read(dst, timeout=5)
            assert job.status == "RUNNING"
        finally:
            lab.stop_jobs()
        assert sorted(out["amount"]) == list(range(30, 40))
    finally:
        lab.delete_topic(src, dst)


def test_remote_status_and_down_leave_the_remote_cluster_alone(remote_env):
    servers, _ = remote_env
    env = {**os.environ}
    assert run(env, "up").returncode == 0
    st = run(env, "status")
    assert st.returncode == 0
    assert "backend:  remote" in st.stdout and f"kafka:    {servers} (answering)" in st.stdout
    assert "shows:    the basics" in st.stdout
    # `labkit down` on a remote backend stops nothing: the cluster is not ours
    down = run(env, "down")
    assert down.returncode == 0 and "nothing" in down.stdout
    assert cluster.answers(servers)
    assert json.loads(run(env, "status", "--json").stdout)["backend"] is None


def test_remote_backend_without_a_broker_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", f"127.0.0.1:{cluster.free_port()}")
    t0 = time.monotonic()
    with pytest.raises(labkit.BrokerUnavailable):
        labkit.connect(quiet=True)
    assert time.monotonic() - t0 < 10


def test_docs_cover_the_compose_paths():
    doc = (ROOT / "docs" / "compose.md").read_text()
    for needle in (
        "docker compose up",
        "labkit up --backend compose",
        "LABKIT_BACKEND=remote",
        "LABKIT_BOOTSTRAP_SERVERS",
        "LABKIT_FLINK_REST",
        "--profile replication",
        "--scale taskmanager",
        "lab.supports(",
        "GB",
    ):
        assert needle in doc, needle


# --- a real Flink JobManager + TaskManager, configured like the compose image ------------


def _set(tree: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


@pytest.fixture(scope="module")
def flink_cluster(tmp_path_factory):
    """A standalone Flink session cluster (JobManager + TaskManager) from the installed
    PyFlink distribution, set up the way docker/flink/Dockerfile and docker-compose.yml set
    up the compose one: the Kafka connector and flink-python in lib/, Kafka's classes
    parent-first, Python functions run by ``python.executable``. Yields its REST address."""
    import psutil
    import pyflink

    from labkit import jars

    dist = Path(pyflink.__file__).parent
    home = tmp_path_factory.mktemp("flink-home")
    (home / "lib").mkdir()
    for jar in [
        *(dist / "lib").glob("*.jar"),
        *jars.ensure_jars(quiet=True),
        *(dist / "opt").glob("flink-python-*.jar"),
    ]:
        (home / "lib" / jar.name).symlink_to(jar)
    subprocess.run(["cp", "-r", str(dist / "bin"), str(dist / "conf"), str(home)], check=True)
    (home / "log").mkdir()
    conf = yaml.safe_load((dist / "conf" / "config.yaml").read_text())
    rest_port = cluster.free_port()
    for key, value in {
        "jobmanager.rpc.port": cluster.free_port(),
        "jobmanager.memory.process.size": "768m",
        "taskmanager.memory.process.size": "1024m",
        "taskmanager.numberOfTaskSlots": 2,
        "rest.port": rest_port,
        "rest.bind-address": "127.0.0.1",
        "blob.server.port": "0",
        "taskmanager.rpc.port": "0",
        "classloader.parent-first-patterns.additional": "org.apache.kafka.",
        "python.executable": sys.executable,
    }.items():
        _set(conf, key, value)
    (home / "conf" / "config.yaml").write_text(yaml.safe_dump(conf))
    # A PyFlink already started in this process leaves FLINK_HOME, FLINK_LIB_DIR, JVM_ARGS...
    # in os.environ; the cluster must not inherit them (its lib/ is the one above).
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLINK_") and k != "JVM_ARGS"}
    env.update({"FLINK_CONF_DIR": str(home / "conf"), "FLINK_LOG_DIR": str(home / "log")})
    procs = [
        subprocess.Popen(
            [str(home / "bin" / f"{role}.sh"), "start-foreground"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(home / "log" / f"{role}.out", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for role in ("jobmanager", "taskmanager")
    ]
    rest = f"127.0.0.1:{rest_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                import urllib.request

                with urllib.request.urlopen(f"http://{rest}/overview", timeout=2) as r:
                    if json.load(r)["taskmanagers"] >= 1:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "".join(f.read_text(errors="replace")[-1500:] for f in (home / "log").glob("*.out"))
                pytest.fail(f"the Flink cluster did not come up:\n{logs}")
            time.sleep(0.5)
        yield rest
    finally:
        for proc in procs:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            for p in family:
                p.terminate()
            psutil.wait_procs(family, timeout=20)
            for p in family:
                if p.is_running():
                    p.kill()


def test_remote_backend_submits_jobs_to_a_flink_jobmanager(remote_env, flink_cluster, monkeypatch):
    """What compose does with Flink: jobs (SQL and a Python UDF) go to the JobManager over
    REST, run on the TaskManager, and read/write Kafka at Flink's address for it."""
    import urllib.request

    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    servers, flink_servers = remote_env
    monkeypatch.setenv("LABKIT_FLINK_REST", flink_cluster)
    monkeypatch.setenv("LABKIT_FLINK_PYTHON", sys.executable)
    lab = labkit.connect(quiet=True)
    assert lab.flink_rest == flink_cluster and lab.flink_config()["execution.target"] == "remote"
    src, dst = (f"test-jm-{n}-{uuid.uuid4().hex[:8]}" for n in ("src", "dst"))
    lab.create_topic(src, partitions=2)
    lab.create_topic(dst)
    try:
        sent = [{"user": f"u{i % 4}", "amount": i} for i in range(40)]
        lab.produce(src, sent, key="user")
        df = lab.query(
            "SELECT `user`, SUM(amount) AS total FROM payments GROUP BY `user`",
            {"payments": "`user` STRING, amount INT"},
            topics={"payments": src},
        )
        want = {u: sum(e["amount"] for e in sent if e["user"] == u) for u in {e["user"] for e in sent}}
        assert dict(zip(df["user"], df["total"], strict=True)) == want

        t_env = lab.table_env()
        t_env.create_temporary_function(
            "shout", udf(lambda s: s.upper() + "!", result_type=DataTypes.STRING())
        )
        lab.kafka_table(t_env, "src", "`user` STRING, amount INT", topic=src)
        ddl = lab.kafka_table(t_env, "dst", "`user` STRING, amount INT", topic=dst)
        assert f"'{flink_servers}'" in ddl
        job = lab.start(
            t_env.execute_sql("INSERT INTO dst SELECT shout(`user`), amount FROM src WHERE amount >= 30")
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(lab.read(dst, timeout=5)) < 10:
                time.sleep(0.5)
            out = lab.read(dst, timeout=5)
            with urllib.request.urlopen(f"http://{flink_cluster}/jobs") as r:
                on_cluster = {j["id"]: j["status"] for j in json.load(r)["jobs"]}
            assert on_cluster.get(job.job_id) == "RUNNING"  # it runs on the cluster, not in this process
        finally:
            lab.stop_jobs()
        assert sorted(out["amount"]) == list(range(30, 40))
        assert set(out["user"]) == {f"{u.upper()}!" for u in {e["user"] for e in sent if e["amount"] >= 30}}
    finally:
        lab.delete_topic(src, dst)


def test_healthcheck_script_decisions(monkeypatch):
    """The container healthchecks' logic, with the HTTP answers faked."""
    import importlib.util
    import socket

    spec_ = importlib.util.spec_from_file_location(
        "healthcheck", ROOT / "docker" / "flink" / "healthcheck.py"
    )
    hc = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(hc)
    me = socket.gethostbyname(socket.gethostname())
    answers = {
        "http://localhost:8081/overview": {"taskmanagers": 1, "slots-total": 4},
        "http://jobmanager:8081/taskmanagers": {
            "taskmanagers": [
                {"id": f"{me}:39425-53c2f8", "path": f"pekko.tcp://flink@{me}:6122/user/rpc/tm_0"}
            ]
        },
        "http://localhost:8888/api": {"version": "2.17.0"},
    }
    monkeypatch.setattr(hc, "get", answers.__getitem__)
    assert hc.jobmanager() and hc.taskmanager() and hc.lab()
    answers["http://jobmanager:8081/taskmanagers"] = {
        "taskmanagers": [{"id": "10.9.9.9:39425-aa", "path": "pekko.tcp://flink@10.9.9.9:6122/user/rpc/tm_0"}]
    }
    assert not hc.taskmanager()  # another TaskManager registered, not this one
    answers["http://jobmanager:8081/taskmanagers"] = {"taskmanagers": [{"id": f"{me}0:39425-aa"}]}
    assert not hc.taskmanager()  # 172.18.0.50 is not 172.18.0.5
    answers["http://jobmanager:8081/taskmanagers"] = {"taskmanagers": []}
    assert not hc.taskmanager()
