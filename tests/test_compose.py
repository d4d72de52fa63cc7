"""docker-compose.yml, the lab's Flink image and the compose backend.

There is no Docker engine on the project's machines, so (docs/compose.md says the same):

* docker-compose.yml and docker/flink/Dockerfile are checked statically: ports, healthchecks,
  pinned images, memory limits (and the docs' sums), versions and checksums against
  pyproject.toml and labkit/runtime/artifacts.lock, Kafka's and Flink's settings against
  the local cluster's (labkit/runtime/kafka.properties, kafka_proc.py, flink_proc.py);
* the pieces the containers run are run here for real: Kafka 4.2.1's own
  ``KafkaDockerWrapper`` (the apache/kafka image's start script) builds each broker's
  configuration; Flink's ``config-parser-utils.sh`` applies docker/flink/configure.py and
  then the official entrypoint's rewrite; a private Flink cluster (labkit.runtime.flink_proc)
  runs lesson 09's rules on a TaskManager whose Python finds labkit only the way the
  image installs it;
* the compose backend's orchestration runs against a stand-in ``docker`` executable on
  PATH that records its arguments and answers like ``docker compose`` would.

The remote backend is tested for real in test_remote_backend.py.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import psutil
import pytest
import yaml

from labkit import cluster, compose, fraud, paths
from labkit.cluster import Endpoints
from labkit.errors import LabError
from labkit.lab import Lab
from labkit.runtime import artifacts, flink_proc, kafka_proc

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "flink" / "Dockerfile"
CONFIGURE = ROOT / "docker" / "flink" / "configure.py"
DOCS = ROOT / "docs" / "compose.md"
LABKIT = [sys.executable, "-m", "labkit.cli"]


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` interpolation (the only form the file uses)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1]) or m[2], text)


def compose_spec(brokers: int = 1) -> dict:
    """docker-compose.yml as Compose reads it with LABKIT_BROKERS=brokers, other variables unset."""
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), {"LABKIT_BROKERS": str(brokers)}))


@pytest.fixture(scope="module")
def spec() -> dict:
    return compose_spec(1)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def dockerfile_args(dockerfile) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, flags=re.M))


@pytest.fixture(scope="module")
def configure():
    """docker/flink/configure.py, the script the image build runs, as a module."""
    found = importlib.util.spec_from_file_location("lab_image_configure", CONFIGURE)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def properties(text: str) -> dict[str, str]:
    """A .properties (or env) file: ``key=value`` lines, the last one winning, like Java's."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!":
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _bytes(limit: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(limit).lower()).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


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


def test_images_are_pinned_to_the_local_clusters_versions(spec, dockerfile, dockerfile_args):
    for name, service in spec["services"].items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "$" not in image, f"{name}: {image} is not pinned"
    for name in ("kafka", *compose.REPLICATION_SERVICES):
        # the official Apache Kafka image, the version `labkit up` runs from Maven
        assert spec["services"][name]["image"] == f"apache/kafka:{artifacts.KAFKA_VERSION}", name
    base = dockerfile_args["FLINK_IMAGE"]
    assert re.fullmatch(r"flink:\d+\.\d+\.\d+-scala_2\.12-java17", base), base
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)[0] == "${FLINK_IMAGE}"


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


def test_memory_limits_and_what_the_docs_say_about_them(spec):
    """Every service has a limit; the docs' table, sums and the file's header comment are
    the file's numbers; each JVM's budget fits inside its container."""
    services = spec["services"]
    mb = {name: _bytes(s["mem_limit"]) // 2**20 for name, s in services.items()}
    assert all(_bytes(s["mem_limit"]) % 2**20 == 0 for s in services.values())
    doc = DOCS.read_text()

    rows = dict(re.findall(r"^\| ([\w-]+)[^|]*\| (\d+) MB \|", doc, flags=re.M))
    assert {name: int(v) for name, v in rows.items()} == {
        n: mb[n] for n in ("kafka", "jobmanager", "taskmanager", "lab", "kafka-2")
    }
    assert mb["kafka-2"] == mb["kafka-3"]  # the table has one row for both
    cluster_only = sum(mb[n] for n in compose.CLUSTER_SERVICES)
    everything = cluster_only + mb["lab"]
    replication = sum(mb[n] for n in compose.REPLICATION_SERVICES)
    for figure in (
        f"capped at {cluster_only} MB ({cluster_only / 1024:g} GB)",
        f"with the lab at {everything} MB ({everything / 1024:g} GB)",
        f"Each extra TaskManager adds up to {mb['taskmanager']} MB",
        f"the replication profile {replication} MB",
    ):
        assert figure in doc, figure
    header = COMPOSE_FILE.read_text().split("\nname:")[0]
    for name in ("kafka", "jobmanager", "taskmanager", "lab", "kafka-3"):
        assert re.search(rf"{name}\b[^,:]* {mb[name]} MB", header), name
    # fits an 8 GB laptop (Docker given 6 GB) with room for the replication profile
    assert everything <= 6 * 1024 and everything + replication <= 7.5 * 1024

    # Flink's own budgets (the image's config is flink_proc's) fit inside their containers,
    # leaving the TaskManager room for its Python workers
    jm = _bytes(flink_proc.MEMORY["jobmanager.memory.process.size"]) // 2**20
    tm = _bytes(flink_proc.MEMORY["taskmanager.memory.process.size"]) // 2**20
    assert jm + 64 <= mb["jobmanager"] and tm + 512 <= mb["taskmanager"]
    assert f"`jobmanager.memory.process.size: {jm}m`" in doc
    assert f"`taskmanager.memory.process.size: {tm}m`" in doc
    # Kafka's heap (from docker/kafka/brokers-N.env) leaves room for the rest of the JVM
    for brokers in (1, 3):
        for name in ("kafka", *(compose.REPLICATION_SERVICES if brokers == 3 else ())):
            heap = re.search(r"-Xmx(\d+)m", kafka_env(compose_spec(brokers), name)["KAFKA_HEAP_OPTS"])
            assert int(heap[1]) * 2 + 128 <= mb[name], (brokers, name)


def test_kafka_keeps_its_data_in_a_volume_per_broker_count():
    """Like .labkit/kafka-1 and .labkit/kafka-3: the 3-broker cluster starts fresh, with
    internal topics of 3 replicas, instead of inheriting the 1-broker cluster's."""
    seen = {}
    for brokers in (1, 3):
        spec = compose_spec(brokers)
        declared = set(spec["volumes"])
        for name in ("kafka", *compose.REPLICATION_SERVICES):
            service = spec["services"][name]
            data_dir = service["environment"]["KAFKA_LOG_DIRS"]
            volumes = [v.split(":") for v in service["volumes"] if v.split(":")[0] in declared]
            assert [target for _, target in volumes] == [data_dir], name
            seen[(brokers, name)] = volumes[0][0]
    assert seen[(1, "kafka")] == "kafka-1-broker-1"
    assert [seen[(3, n)] for n in ("kafka", "kafka-2", "kafka-3")] == [
        "kafka-3-broker-1",
        "kafka-3-broker-2",
        "kafka-3-broker-3",
    ]


def test_kafka_listeners_match_what_labkit_expects(spec):
    """Host listener for the notebook, internal listener for containers (KRaft mode)."""
    for name, (host_port, internal) in compose.BROKERS.items():
        env = spec["services"][name]["environment"]
        advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["INTERNAL"] == internal
        expected_host = f"127.0.0.1:{host_port}"
        assert advertised["HOST"] == expected_host
        assert spec["services"][name]["ports"] == [f"{expected_host}:{host_port}"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # the published port follows LABKIT_KAFKA_PORT
    assert raw["services"]["kafka"]["ports"] == ["127.0.0.1:${LABKIT_KAFKA_PORT:-9092}:9092"]


# --- Kafka: the same settings as `labkit up` --------------------------------------------

#: What the apache/kafka image's start script exports when a variable is unset (Apache
#: Kafka's docker/resources/common-scripts/configureDefaults). An exported KAFKA_* variable
#: wins over the mounted server.properties, so docker-compose.yml sets each one itself.
IMAGE_DEFAULTS = (
    "CLUSTER_ID",
    "KAFKA_NODE_ID",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
    "KAFKA_LISTENERS",
    "KAFKA_ADVERTISED_LISTENERS",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    "KAFKA_PROCESS_ROLES",
    "KAFKA_CONTROLLER_QUORUM_VOTERS",
    "KAFKA_INTER_BROKER_LISTENER_NAME",
    "KAFKA_CONTROLLER_LISTENER_NAMES",
    "KAFKA_LOG_DIRS",
)
#: Variables the image's KafkaDockerWrapper does not turn into broker settings (JVM options).
NOT_SETTINGS = ("KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_OPTS", "KAFKA_LOG4J_OPTS")
#: Settings that differ from the local broker's by design (docs/compose.md says why).
PER_CONTAINER = {
    "node.id",
    "listeners",
    "advertised.listeners",
    "controller.quorum.voters",
    "log.dirs",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
}


def kafka_env(spec: dict, service: str) -> dict[str, str]:
    """A broker container's environment: its env_file(s), then `environment` (which wins)."""
    svc = spec["services"][service]
    env: dict[str, str] = {}
    for name in svc["env_file"]:
        env.update(properties((ROOT / name).read_text()))
    env.update({k: str(v) for k, v in svc["environment"].items()})
    return env


def broker_settings(spec: dict, service: str) -> dict[str, str]:
    """What the broker runs with: the mounted kafka.properties, then every KAFKA_* variable
    as a setting (KAFKA_LOG_DIRS -> log.dirs), as the image's KafkaDockerWrapper appends them."""
    mounted = [v for v in spec["services"][service]["volumes"] if v.endswith("/server.properties:ro")]
    assert mounted == ["./labkit/runtime/kafka.properties:/mnt/shared/config/server.properties:ro"]
    settings = properties(kafka_proc.SETTINGS.read_text())
    for key, value in kafka_env(spec, service).items():
        if key.startswith("KAFKA_") and key not in NOT_SETTINGS:
            name = key[len("KAFKA_") :].lower().replace("_", ".").replace("...", "-").replace("..", "_")
            settings[name] = value
    return settings


def local_settings(brokers: int) -> dict[str, str]:
    """What `labkit up [--brokers 3]` writes for its first broker."""
    plan = [kafka_proc.Broker(i, 29000 + i, 29100 + i) for i in range(1, brokers + 1)]
    return properties(kafka_proc._properties(plan[0], plan))


def brokers_of(brokers: int) -> tuple[str, ...]:
    return ("kafka", *(compose.REPLICATION_SERVICES if brokers == 3 else ()))


@pytest.mark.parametrize("brokers", [1, 3])
def test_kafka_settings_are_the_local_clusters(brokers):
    """Every setting of kafka.properties (and what kafka_proc adds for 3 brokers) is what
    each compose broker runs with; only addresses, node ids and roles differ."""
    spec = compose_spec(brokers)
    local = local_settings(brokers)
    # what the broker count decides (labkit/runtime/kafka_proc.py; `--brokers 3`)
    replicas, isr = ("3", "2") if brokers == 3 else ("1", "1")
    for service in brokers_of(brokers):
        env = kafka_env(spec, service)
        unset = [name for name in IMAGE_DEFAULTS if name not in env]
        assert not unset, f"{service}: the image would put its own values in: {unset}"
        mine = broker_settings(spec, service)
        differ = PER_CONTAINER | ({"process.roles"} if service != "kafka" else set())
        assert {k: v for k, v in mine.items() if k not in differ} == {
            k: v for k, v in local.items() if k not in differ
        }, service
        assert mine["process.roles"] == ("broker,controller" if service == "kafka" else "broker")
        assert mine["controller.quorum.voters"] == "1@kafka:9093"
        for key in (
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "share.coordinator.state.topic.replication.factor",
        ):
            assert mine[key] == replicas, (service, key)
        assert mine["transaction.state.log.min.isr"] == mine["share.coordinator.state.topic.min.isr"] == isr
        if brokers == 3:
            assert (mine["default.replication.factor"], mine["min.insync.replicas"]) == ("3", "2")
        else:  # Kafka's defaults (1), as on one local broker
            assert "default.replication.factor" not in mine and "min.insync.replicas" not in mine
        # the heap `labkit up` gives each broker
        assert env["KAFKA_HEAP_OPTS"] == kafka_proc.HEAP[brokers], service


@pytest.mark.parametrize("brokers", [1, 3])
def test_the_kafka_image_builds_that_config_and_formats_with_it(brokers, tmp_path):
    """Run Kafka 4.2.1's own KafkaDockerWrapper (what the apache/kafka:4.2.1 image's start
    script runs before the broker) with each container's environment and the mounted file:
    the server.properties it writes is the one computed above, and formatting the log folder
    with it (KRaft metadata, cluster id) succeeds. Only log.dirs is moved to a temp folder."""
    from labkit.java import find_java

    java = find_java().executable
    classpath = os.pathsep.join(str(p) for p in artifacts.classpath("kafka"))
    spec = compose_spec(brokers)
    for service in brokers_of(brokers):
        work = tmp_path / service
        for sub in ("default", "mounted", "final"):
            (work / sub).mkdir(parents=True)
        shutil.copy(kafka_proc.SETTINGS, work / "mounted" / "server.properties")
        env = {**kafka_env(spec, service), "KAFKA_LOG_DIRS": str(work / "data")}
        done = subprocess.run(
            [str(java), "-Xmx128m", "-cp", classpath, "kafka.docker.KafkaDockerWrapper", "setup"]
            + ["--default-configs-dir", str(work / "default"), "--mounted-configs-dir", str(work / "mounted")]
            + ["--final-configs-dir", str(work / "final")],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{service}:\n{done.stdout}\n{done.stderr}"
        got = properties((work / "final" / "server.properties").read_text())
        assert got == {**broker_settings(spec, service), "log.dirs": str(work / "data")}, service
        meta = properties((work / "data" / "meta.properties").read_text())
        assert (meta["cluster.id"], meta["node.id"]) == (env["CLUSTER_ID"], env["KAFKA_NODE_ID"])


# --- Flink: the same image contents and settings as `labkit up` ---------------------------


def test_flink_services_match_what_labkit_expects(spec, configure):
    services = spec["services"]
    jm, tm = services["jobmanager"], services["taskmanager"]
    assert jm["image"] == tm["image"] and jm["build"] == tm["build"]
    assert jm["build"]["dockerfile"] == "docker/flink/Dockerfile" and jm["build"]["target"] == "flink"
    assert services["lab"]["build"]["target"] == "lab"
    assert jm["ports"] == [f"127.0.0.1:{compose.FLINK_REST_PORT}:8081"]
    # scalable with --scale: no fixed container name, no published port
    assert "container_name" not in tm and "ports" not in tm
    for svc in (jm, tm):
        assert entrypoint_properties(svc) == {"jobmanager.rpc.address": "jobmanager"}
        # checkpoints and savepoints: one volume, shared by every Flink container
        assert svc["volumes"] == [f"flink-state:{configure.STATE}"] and "flink-state" in spec["volumes"]
    lab_env = services["lab"]["environment"]
    assert lab_env["LABKIT_BACKEND"] == "remote"
    assert lab_env["LABKIT_BOOTSTRAP_SERVERS"] == lab_env["LABKIT_FLINK_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert lab_env["LABKIT_FLINK_REST"] == "jobmanager:8081"
    assert lab_env["LABKIT_FLINK_PYTHON"] == compose.IMAGE_PYTHON


def entrypoint_properties(service: dict) -> dict[str, str]:
    """FLINK_PROPERTIES as the official Flink 2 image's entrypoint reads it: every line with
    all whitespace removed, split at the first colon."""
    props = {}
    for line in service["environment"]["FLINK_PROPERTIES"].splitlines():
        line = "".join(line.split())
        if line:
            key, _, value = line.partition(":")
            props[key] = value
    return props


def test_image_flink_settings_are_flink_procs(configure):
    """The image's config.yaml gets flink_proc.config() - what `labkit up` writes - except
    the 127.0.0.1 addresses and ports, with checkpoints on the shared volume."""
    local = flink_proc.config(flink_proc.FlinkPorts(18081, 16123))
    network = {k for k, v in local.items() if "127.0.0.1" in v or k.endswith(".port")}
    assert configure.NETWORK == network
    image = configure.settings()
    assert set(image) == set(local) - network
    assert {k: v for k, v in image.items() if k not in configure.CONTAINER} == {
        k: v for k, v in local.items() if k not in network | set(configure.CONTAINER)
    }
    assert image["execution.checkpointing.dir"] == f"file://{configure.STATE}/checkpoints"
    assert image["execution.checkpointing.savepoint-dir"] == f"file://{configure.STATE}/savepoints"
    # the settings that matter most, spelled out
    assert image["taskmanager.numberOfTaskSlots"] == str(flink_proc.SLOTS) == "4"
    assert image["restart-strategy.type"] == "fixed-delay"
    assert {k: image[k] for k in flink_proc.MEMORY} == flink_proc.MEMORY
    # Python functions run with the Python that runs configure.py: the image's, with labkit
    assert image["python.executable"] == image["python.client.executable"] == sys.executable


def flink_distribution(dest: Path) -> Path:
    """A Flink home laid out like the image's: PyFlink's bin/, a copy of its conf/, lib/."""
    import pyflink

    dist = Path(pyflink.__file__).parent
    (dest / "lib").mkdir(parents=True)
    for jar in (dist / "lib").glob("*.jar"):
        (dest / "lib" / jar.name).symlink_to(jar)
    (dest / "bin").symlink_to(dist / "bin")
    shutil.copytree(dist / "conf", dest / "conf")
    return dest


def test_configure_writes_config_yaml_and_the_entrypoint_keeps_it(spec, configure, tmp_path):
    """configure.py on a copy of Flink's config.yaml, with Flink's own config-parser-utils.sh
    (as the image build runs it); then the official entrypoint's rewrite at container start
    (JobManager address, ports, FLINK_PROPERTIES - each a config-parser-utils.sh run): every
    setting, the JVM options and the `1 s` restart delay included, is still there."""
    home = flink_distribution(tmp_path / "flink")
    wanted = configure.apply(home)
    tool = [
        str(home / "bin" / "config-parser-utils.sh"),
        str(home / "conf"),
        str(home / "bin"),
        str(home / "lib"),
    ]
    at_start = {"jobmanager.rpc.address": "c0ffee", "blob.server.port": "6124", "query.server.port": "6125"}
    for step in (at_start, entrypoint_properties(spec["services"]["taskmanager"])):
        subprocess.run(["bash", *tool, *(f"-D{k}={v}" for k, v in step.items())], check=True, timeout=120)
    got = configure.read(home / "conf" / "config.yaml")
    assert {k: got.get(k) for k in wanted} == wanted
    assert got["jobmanager.rpc.address"] == "jobmanager"
    # Flink's own --add-opens (Java 17), then the lab's laptop-sized JVM options, all kept
    assert got["env.java.opts.all"].startswith("--add-exports=") and "--add-opens=java.base/java.io" in got[
        "env.java.opts.all"
    ]
    assert got["env.java.opts.all"].endswith(" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k")


# --- the Dockerfile ---------------------------------------------------------------------


def _lock_line(bundle: str, artifact: str) -> artifacts.Jar:
    (jar,) = [j for j in artifacts.locked() if j.bundle == bundle and f":{artifact}:" in j.coordinate]
    return jar


def test_dockerfile_versions_match_pyproject_and_the_lock(dockerfile_args):
    pyproject = (ROOT / "pyproject.toml").read_text()
    (flink_version,) = re.findall(r'"apache-flink==([^"]+)"', pyproject)
    assert dockerfile_args["APACHE_FLINK_VERSION"] == flink_version
    assert dockerfile_args["FLINK_IMAGE"].startswith(f"flink:{flink_version}-")
    connector = _lock_line("flink-kafka", "flink-sql-connector-kafka")
    assert connector.coordinate.rsplit(":", 1)[1] == artifacts.FLINK_CONNECTOR_VERSION
    assert dockerfile_args["FLINK_CONNECTOR_VERSION"] == artifacts.FLINK_CONNECTOR_VERSION
    assert dockerfile_args["FLINK_CONNECTOR_SHA256"] == connector.sha256
    # the image tag names the Flink version too
    assert compose_spec()["services"]["jobmanager"]["image"].endswith(f":{flink_version}")


def test_dockerfile_fetches_the_locked_jars_with_labkits_code(dockerfile):
    """Jars come from artifacts.lock through labkit's own fetcher (SHA-256 checked), and the
    modules copied for that step are every module the fetcher imports."""
    assert "pins" not in dockerfile and "shigawire" not in dockerfile  # the removed connector wheel
    assert not re.search(r"https?://", dockerfile), "no registry host names in the project"
    copied = set()
    for sources, dest in re.findall(r"^COPY ((?:\S+ )+)(/tmp/fetch/\S+)$", dockerfile, flags=re.M):
        copied |= {f"{dest.removeprefix('/tmp/fetch/')}{Path(s).name}" for s in sources.split()}
    needed = {"labkit/runtime/artifacts.py", "labkit/runtime/artifacts.lock", "labkit/runtime/__init__.py"}
    todo = ["labkit/runtime/artifacts.py"]
    while todo:  # follow labkit's relative imports from artifacts.py
        module = todo.pop()
        tree = ast.parse((ROOT / module).read_text())
        package = Path(module).parent
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.parent
                names = [node.module] if node.module else [a.name for a in node.names]
                for name in names:
                    target = (base / name.replace(".", "/")).with_suffix(".py").as_posix()
                    if (ROOT / target).is_file() and target not in needed:
                        needed.add(target)
                        todo.append(target)
    assert needed - {"labkit/__init__.py"} <= copied, needed - copied
    assert "-m labkit.runtime.artifacts" in dockerfile  # ensure(): every locked jar, verified
    # the connector goes to Flink's lib/, checked once more against the lock's line
    assert (
        'grep -Eq "^flink-kafka +org\\.apache\\.flink:flink-sql-connector-kafka:${FLINK_CONNECTOR_VERSION}'
        in dockerfile
    )
    assert 'echo "${FLINK_CONNECTOR_SHA256}  $connector" | sha256sum -c -' in dockerfile
    assert 'cp "$connector" "$FLINK_HOME/lib/"' in dockerfile
    assert 'cp "$FLINK_HOME"/opt/flink-python-*.jar "$FLINK_HOME/lib/"' in dockerfile
    # the file name labkit's cache uses (artifacts.Jar.path), so the lab image needs no download
    jar = _lock_line("flink-kafka", "flink-sql-connector-kafka")
    cached = f"$LABKIT_CACHE/jars/{jar.bundle}/{jar.file_name}".replace(
        artifacts.FLINK_CONNECTOR_VERSION, "${FLINK_CONNECTOR_VERSION}"
    )
    assert f'connector="{cached}"' in dockerfile
    assert re.search(r"^ENV .*\bLABKIT_CACHE=/opt/labkit/cache\b", dockerfile, flags=re.M | re.S)
    # build context: .dockerignore keeps .venv/.labkit (GBs) out, lets in what the build copies
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("**")] == "**" and {"!labkit/", "!docker/", "!pyproject.toml"} <= set(ignore)


def test_the_image_installs_labkit_where_python_functions_run(dockerfile):
    """python.executable in the image is /opt/pyflink/bin/python (configure.py runs with it),
    and labkit is pip-installed into that same Python before: a function defined in labkit
    (lesson 09's rules) then loads on every TaskManager."""
    venv = re.search(r"^ENV PYFLINK_VENV=(\S+)", dockerfile, flags=re.M)[1]
    assert compose.IMAGE_PYTHON == f"{venv}/bin/python"
    flink_stage = dockerfile.split("\nFROM flink AS lab")[0]
    install = flink_stage.index(
        'COPY labkit ./labkit\nRUN set -eux; \\\n    "$PYFLINK_VENV/bin/pip" install --no-deps'
    )
    configured = flink_stage.index('"$PYFLINK_VENV/bin/python" /opt/labkit/configure.py "$FLINK_HOME"')
    assert install < configured
    assert '"$PYFLINK_VENV/bin/python" -c "import labkit.fraud"' in flink_stage  # the build proves it
    assert "COPY docker/flink/configure.py docker/flink/healthcheck.py /opt/labkit/" in flink_stage


def test_healthchecks_call_modes_the_script_has(spec):
    script = ROOT / "docker" / "flink" / "healthcheck.py"
    compile(script.read_text(), str(script), "exec")
    text = script.read_text()
    for name in ("jobmanager", "taskmanager", "lab"):
        test = spec["services"][name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", compose.IMAGE_PYTHON, "/opt/labkit/healthcheck.py"] and test[3] == name
        assert f"def {name}(" in text


def test_healthcheck_script_decisions(monkeypatch):
    """The container healthchecks' logic, with the HTTP answers faked."""
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


# --- labkit's functions on a TaskManager, the way the image makes them work ------------


@pytest.fixture
def python_without_labkit(tmp_path) -> Path:
    """A Python like the image's before labkit is installed: a virtualenv that sees the
    lab's packages (PyFlink, pandas, ...) through a .pth line, but not labkit (the lab's
    editable install is a .pth hook of its own, which a plain path line does not run)."""
    venv = tmp_path / "tm-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    lab_paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages(python) / "lab-packages.pth").write_text("".join(f"{p}\n" for p in sorted(lab_paths)))
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = subprocess.run(
        [str(python), "-c", "import pyflink, labkit"], cwd=tmp_path, env=clean, capture_output=True, text=True
    )
    assert "No module named 'labkit'" in check.stderr, check.stderr  # pyflink was found, labkit not
    return python


def install_labkit_like_the_image(python: Path) -> None:
    """What the Dockerfile's `pip install --no-deps .` leaves: the labkit package (with its
    package data) in that Python's site-packages. Copied: no wheel can be built offline here."""
    target = site_packages(python) / "labkit"
    shutil.copytree(ROOT / "labkit", target, ignore=shutil.ignore_patterns("__pycache__"))


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([str(python), "-c", code], text=True, timeout=60).strip())


@pytest.fixture
def private_flink(tmp_path, monkeypatch, python_without_labkit):
    """A private Flink session cluster from labkit.runtime.flink_proc (own LABKIT_HOME),
    whose python.executable is `python_without_labkit`, as the image's is /opt/pyflink/bin/python.
    Yields (REST address, that Python); stops both processes whatever happens."""
    from labkit.java import find_java

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the workers must not find labkit that way
    local_config = flink_proc.config
    monkeypatch.setattr(
        flink_proc,
        "config",
        lambda ports: {**local_config(ports), "python.executable": str(python_without_labkit)},
    )
    java = find_java()
    started: list[dict] = []
    try:
        for attempt in range(3):
            ports = flink_proc.plan(cluster.free_port(), set())  # a random port: nobody races for it
            procs = flink_proc.start(java.home, ports)
            started += [cluster._record(p) for p in procs.values()]
            try:
                flink_proc.wait_ready(ports.rest_address, procs)
                break
            except cluster.PortLost:  # another program took a port between choosing and binding
                if attempt == 2:
                    raise
                cluster._stop_all(started)
                started.clear()
        yield ports.rest_address, python_without_labkit
    finally:
        cluster._stop_all(started)  # harmless for a process that already exited


T0 = 1767268800000  # 2026-01-01 12:00 UTC


def run_lesson09_rules(lab: Lab) -> list[dict]:
    """Lesson 09's three rules (labkit.fraud.rules_stream) on two payments of one account, a
    tiny one then a large one 20 s later: one card-testing alert. The job's functions include
    labkit.fraud._parse and ._card_testing_alert, which travel to the TaskManager by name."""
    from pyflink.common import Configuration, Types

    env = lab.stream_env()
    env.configure(Configuration().set_string("restart-strategy.type", "none"))  # fail fast, with the cause
    txs = [
        {"account_id": "alice", "amount": 0.5, "ts": T0},
        {"account_id": "alice", "amount": 750.0, "ts": T0 + 20_000},
    ]
    stream = (
        env.from_collection([json.dumps(tx) for tx in txs], type_info=Types.STRING())
        .map(fraud._parse, output_type=Types.PICKLED_BYTE_ARRAY())
        .assign_timestamps_and_watermarks(fraud._watermarks().with_timestamp_assigner(fraud._ts_assigner()))
    )
    with fraud.rules_stream(stream, fraud.Rules()).execute_and_collect("compose parity: l09 rules") as rows:
        return list(rows)


def test_labkit_functions_run_on_a_taskmanager_whose_python_has_labkit_installed(private_flink):
    """The review's finding, reproduced and fixed on a real TaskManager: with a TaskManager
    Python that has PyFlink but not labkit, lesson 09's job fails with "No module named
    'labkit'"; with labkit installed in that Python, as the Dockerfile installs it, the same
    job runs there and returns the alert computed by labkit's function."""
    from py4j.protocol import Py4JJavaError

    rest, python = private_flink
    lab = Lab(Endpoints("local", "127.0.0.1:1", "127.0.0.1:1", rest, str(python)))
    assert lab.flink_config()["python.executable"] == str(python)  # jobs name that Python too

    with pytest.raises(Py4JJavaError) as failed:
        run_lesson09_rules(lab)
    assert "No module named 'labkit'" in str(failed.value)

    install_labkit_like_the_image(python)
    (alert,) = run_lesson09_rules(lab)
    assert (alert["rule"], alert["account_id"], alert["amounts"]) == ("card_testing", "alice", [0.5, 750.0])
    assert alert["detail"] == "0.50 then 750.00 20.0 s later"  # written by fraud._card_testing_alert


# --- backend selection (no cluster needed) ----------------------------------------------


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


def test_requested_backend_by_argument_env_and_state(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    assert cluster._requested_backend() is None
    assert cluster._requested_backend("local") is None
    assert cluster._requested_backend("compose").backend == "compose"
    monkeypatch.setenv("LABKIT_BACKEND", "compose")
    assert cluster._requested_backend().backend == "compose"
    assert cluster._requested_backend("local") is None  # the flag wins over the env
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.delenv("LABKIT_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LABKIT_FLINK_REST", "127.0.0.1:8081")
    with pytest.raises(LabError, match="LABKIT_BOOTSTRAP_SERVERS"):
        cluster._requested_backend()
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.delenv("LABKIT_FLINK_REST")
    with pytest.raises(LabError, match="LABKIT_FLINK_REST"):  # every job goes to a JobManager
        cluster._requested_backend()
    monkeypatch.setenv("LABKIT_BACKEND", "kubernetes")
    with pytest.raises(LabError, match="'local', 'compose' or 'remote'"):
        cluster._requested_backend()
    # no flag, no env: a kernel keeps using the cluster the state file records
    monkeypatch.delenv("LABKIT_BACKEND")
    cluster.State(compose.endpoints(with_replication=False)).save()
    assert cluster._requested_backend() == compose.endpoints(with_replication=False)


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
        "LABKIT_FLINK_PORT": str(cluster.free_port()),  # nothing answers there
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
    assert first["args"] == [*base, "up", "-d", "--build", "--wait", "kafka", "jobmanager", "taskmanager"]
    assert first["LABKIT_BROKERS"] == "1"  # docker-compose.yml's one-broker settings and volume
    assert "backend:   compose" in up.stdout
    assert f"kafka:     127.0.0.1:{port}" in up.stdout
    assert f"flink:     http://127.0.0.1:{flink_port}" in up.stdout
    assert "service:   taskmanager (running, healthy)" in up.stdout

    st = json.loads(run(env, "status", "--json").stdout)
    assert st["backend"] == "compose" and st["running"]
    assert st["flink_bootstrap_servers"] == "kafka:19092" and st["flink_python"] == compose.IMAGE_PYTHON
    assert [s["Service"] for s in st["services"]] == ["kafka", "jobmanager", "taskmanager"]

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
    assert not cluster.answers(f"127.0.0.1:{port}")
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
    assert cmd[-5:] == ["kafka", "jobmanager", "taskmanager", "kafka-2", "kafka-3"]
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
            address = f"127.0.0.1:{cluster.free_port()}"
            cluster.State(Endpoints("local", address, address), {"kafka-1": cluster._record(proc)}).save()
        yield proc
    finally:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def test_compose_refuses_to_start_over_the_local_cluster(fake_docker, stand_in_lab_process):
    env, calls = fake_docker
    up = run(env, "up", "--backend", "compose")
    assert up.returncode == 1 and "local cluster is running" in up.stderr, up.stdout + up.stderr
    assert not compose_calls(calls)
    assert cluster.tracked(cluster._record(stand_in_lab_process))  # refusing stops nothing


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
        compose._save({"project": compose.PROJECT, "file": str(COMPOSE_FILE), "replication": False})
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


def test_docs_cover_the_compose_paths():
    doc = DOCS.read_text()
    for needle in (
        "docker compose up",
        "labkit up --backend compose",
        "LABKIT_BROKERS=3",
        "--profile",
        "LABKIT_BACKEND=remote",
        "LABKIT_BOOTSTRAP_SERVERS",
        "LABKIT_FLINK_REST",
        "--scale taskmanager",
        "labkit/runtime/kafka.properties",
        "docker/flink/configure.py",
        "What was checked without Docker, and what was not",
    ):
        assert needle in doc, needle
    assert "embedded" not in doc and "capabilit" not in doc and "tansu" not in doc
