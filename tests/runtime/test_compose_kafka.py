"""The compose cluster's Kafka runs with the local cluster's settings (labkit/runtime/kafka.properties
and what kafka_proc adds for 3 brokers): checked against the compose file, and by running
Kafka's own ``KafkaDockerWrapper`` (the apache/kafka image's start script) for each broker.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from compose_files import compose_spec, kafka_env, properties

from labkit.runtime import artifacts, compose, kafka_proc
from labkit.runtime.jvm import find_java

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
    return properties(kafka_proc.server_properties(plan[0], plan))


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
    """Run Kafka's own KafkaDockerWrapper (what the apache/kafka image's start
    script runs before the broker) with each container's environment and the mounted file:
    the server.properties it writes is the one computed above, and formatting the log folder
    with it (KRaft metadata, cluster id) succeeds. Only log.dirs is moved to a temp folder."""
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
