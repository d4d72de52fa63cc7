"""docker-compose.yml, checked statically (there is no Docker engine on the project's machines):
ports on 127.0.0.1 only, healthchecks, pinned images, memory limits and the docs' sums, Kafka's
data volumes and listeners; and docs/compose.md covers every compose path.
"""

from __future__ import annotations

import re

import yaml
from compose_files import COMPOSE_FILE, DOCS, compose_spec, kafka_env, size_bytes

from labkit.runtime import artifacts, compose, flink_proc

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
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # as written, and as Compose reads it
    for services in (raw["services"], spec["services"], compose_spec(3)["services"]):
        for name, service in services.items():
            assert "network_mode" not in service, f"{name}: host networking would bypass the ports below"
            for port in service.get("ports", []):
                published += 1
                if isinstance(port, dict):
                    assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
                else:  # "127.0.0.1:8888:8888", never "8888:8888" (every interface)
                    assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is open to other machines"
                    assert services is raw["services"] or len(str(port).split(":")) == 3, f"{name}: {port}"
    assert published >= 3 * 5  # kafka, jobmanager (web UI), lab, the replication brokers
    assert spec["services"]["lab"]["ports"] == ["127.0.0.1:8888:8888"]


def environment(service: dict) -> dict[str, str]:
    """A service's ``environment``, whether written as a mapping or as NAME=value lines."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_no_token_or_password_is_written_in_the_compose_file(dockerfile):
    """Anyone with the repository could read it: JupyterLab's token is drawn at each start
    (or chosen by the learner, LABKIT_JUPYTER_TOKEN), never written here or in the image."""
    text = COMPOSE_FILE.read_text()
    raw = yaml.safe_load(text)
    secrets = 0
    for name, service in raw["services"].items():
        for key, value in environment(service).items():
            if re.search(r"TOKEN|PASSWORD|SECRET|PASSWD", key):
                secrets += 1
                # a variable without a default (or an empty one), never a value
                assert re.fullmatch(r"\$\{\w+(:-|:\?[^}]*)?\}", value), f"{name}: {key}={value}"
    assert secrets >= 1
    assert environment(raw["services"]["lab"])["JUPYTER_TOKEN"] == "${LABKIT_JUPYTER_TOKEN:-}"
    assert re.findall(r"token=(\w+)", text) == []  # no URL with a token in the comments either
    assert "kafka-flink-lab" not in environment(compose_spec(1)["services"]["lab"]).values()
    lab_image = dockerfile.split("FROM flink AS lab", 1)[1]
    assert not re.search(r"token|password", lab_image, flags=re.I), "the lab image sets a token"


def test_an_empty_jupyter_token_makes_jupyterlab_draw_a_random_one(monkeypatch):
    """What the lab container gets when LABKIT_JUPYTER_TOKEN is unset: JUPYTER_TOKEN="" -
    Jupyter Server then generates a token (it does not switch authentication off)."""
    from jupyter_server.auth.identity import IdentityProvider

    monkeypatch.setenv("JUPYTER_TOKEN", "")
    first, second = IdentityProvider(), IdentityProvider()
    assert re.fullmatch(r"[0-9a-f]{48}", first.token) and first.token_generated  # (drawn on first use)
    assert first.token != second.token
    monkeypatch.setenv("JUPYTER_TOKEN", "chosen-by-the-learner")
    assert IdentityProvider().token == "chosen-by-the-learner"


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
    mb = {name: size_bytes(s["mem_limit"]) // 2**20 for name, s in services.items()}
    assert all(size_bytes(s["mem_limit"]) % 2**20 == 0 for s in services.values())
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
    jm = size_bytes(flink_proc.MEMORY["jobmanager.memory.process.size"]) // 2**20
    tm = size_bytes(flink_proc.MEMORY["taskmanager.memory.process.size"]) // 2**20
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
