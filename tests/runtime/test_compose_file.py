"""docker-compose.yml, checked statically (there is no Docker engine on the project's machines):
ports on 127.0.0.1 only, healthchecks, pinned images, memory limits and the docs' sums, Kafka's
data volumes and listeners, the SQL Gateway service (its jar, settings and address); and
docs/compose.md covers every compose path.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
import yaml
from compose_files import COMPOSE_FILE, DOCS, ROOT, compose_spec, interpolate, kafka_env, size_bytes
from test_flink_image import entrypoint_properties, flink_distribution

from labkit.errors import LabError
from labkit.runtime import artifacts, compose, flink_proc, gateway_proc, tls

# --- static checks: docker-compose.yml ---------------------------------------------------


def test_compose_file_has_the_lab_services(spec):
    services = spec["services"]
    assert {"kafka", "kafka-2", "kafka-3", "jobmanager", "taskmanager", "sql-gateway", "lab"} <= set(services)
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
    assert set(services["lab"]["depends_on"]) == {"kafka", "jobmanager", "taskmanager", "sql-gateway"}


def test_memory_limits_and_what_the_docs_say_about_them(spec):
    """Every service has a limit; the docs' table, sums and the file's header comment are
    the file's numbers; each JVM's budget fits inside its container."""
    services = spec["services"]
    mb = {name: size_bytes(s["mem_limit"]) // 2**20 for name, s in services.items()}
    assert all(size_bytes(s["mem_limit"]) % 2**20 == 0 for s in services.values())
    doc = DOCS.read_text()

    rows = dict(re.findall(r"^\| ([\w-]+)[^|]*\| (\d+) MB \|", doc, flags=re.M))
    assert {name: int(v) for name, v in rows.items()} == {
        n: mb[n] for n in ("kafka", "jobmanager", "taskmanager", "sql-gateway", "lab", "kafka-2")
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
    for name in ("kafka", "jobmanager", "taskmanager", "sql-gateway", "lab", "kafka-3"):
        assert re.search(rf"{name}\b[^,:]* {mb[name]} MB", header), name
    # fits an 8 GB laptop (Docker given 6.5 GB, as the docs say) with room for the replication
    # profile
    assert "give Docker\n6.5 GB" in doc
    assert everything <= 6.5 * 1024 and everything + replication <= 7.5 * 1024

    # Flink's own budgets (the image's config is flink_proc's) fit inside their containers,
    # leaving the TaskManager room for its Python workers
    jm = size_bytes(flink_proc.MEMORY["jobmanager.memory.process.size"]) // 2**20
    tm = size_bytes(flink_proc.MEMORY["taskmanager.memory.process.size"]) // 2**20
    assert jm + 64 <= mb["jobmanager"] and tm + 512 <= mb["taskmanager"]
    assert f"`jobmanager.memory.process.size: {jm}m`" in doc
    assert f"`taskmanager.memory.process.size: {tm}m`" in doc
    # the SQL Gateway's JVM: heap + metaspace + code cache, with room for the rest (threads,
    # Netty's direct buffers, the collector)
    jvm = dict(
        re.findall(r"-(?:XX:)?(Xmx|MaxMetaspaceSize=|ReservedCodeCacheSize=)(\d+)m", gateway_proc.JVM_OPTS)
    )
    assert sum(int(v) for v in jvm.values()) + 128 <= mb["sql-gateway"], jvm
    assert f"{jvm['Xmx']} MB Java heap" in doc
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
        "sql-gateway",
        "%%flink_sql",
        "127.0.0.1:8083",
        "LABKIT_SQL_GATEWAY_PORT",
        "plain HTTP",
        "known limitation",
    ):
        assert needle in doc, needle
    assert "embedded" not in doc and "capabilit" not in doc and "tansu" not in doc


# --- Flink's SQL Gateway (the %%flink_sql cell's service) ----------------------------------


def test_sql_gateway_service_runs_the_flink_image_after_the_jobmanager(spec):
    services = spec["services"]
    gw, jm = services["sql-gateway"], services["jobmanager"]
    assert "sql-gateway" in compose.CLUSTER_SERVICES  # `labkit up --backend compose` starts it
    assert "profiles" not in gw
    assert gw["image"] == jm["image"] and gw["build"] == jm["build"] and gw["build"]["target"] == "flink"
    # the image's Flink (FLINK_HOME=/opt/flink), started through the official entrypoint (no
    # `entrypoint:` override), which applies FLINK_PROPERTIES before running the command
    assert gw["command"] == ["/opt/flink/bin/sql-gateway.sh", "start-foreground"]
    assert "entrypoint" not in gw
    assert gw["depends_on"] == {"jobmanager": {"condition": "service_healthy"}}
    assert gw["healthcheck"]["test"] == [
        "CMD",
        compose.IMAGE_PYTHON,
        "/opt/labkit/healthcheck.py",
        "sql-gateway",
    ]
    assert gw["mem_limit"] == "512m" and gw["restart"] == "unless-stopped"
    # the JobManager's REST API is where its statements' jobs go
    configure = load_configure()
    assert entrypoint_properties(gw) == {
        "jobmanager.rpc.address": "jobmanager",
        **configure.SQL_GATEWAY_SERVICE,
    }
    assert configure.SQL_GATEWAY_SERVICE == {
        "execution.target": "remote",
        "rest.address": "jobmanager",
        "rest.port": str(compose.FLINK_REST_PORT),
    }
    # the lab container reaches it by its service name, and waits for it
    lab = services["lab"]
    assert lab["environment"]["LABKIT_SQL_GATEWAY"] == f"sql-gateway:{compose.SQL_GATEWAY_PORT}"
    assert lab["depends_on"]["sql-gateway"] == {"condition": "service_healthy"}


def test_sql_gateway_port_is_published_on_localhost_only(spec):
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert raw["services"]["sql-gateway"]["ports"] == ["127.0.0.1:${LABKIT_SQL_GATEWAY_PORT:-8083}:8083"]
    assert spec["services"]["sql-gateway"]["ports"] == [f"127.0.0.1:{compose.SQL_GATEWAY_PORT}:8083"]
    moved = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), {"LABKIT_SQL_GATEWAY_PORT": "18083"}))
    assert moved["services"]["sql-gateway"]["ports"] == ["127.0.0.1:18083:8083"]
    # in the container it listens on every interface: only the published port reaches it
    settings = load_configure().sql_gateway()
    assert settings["sql-gateway.endpoint.rest.bind-address"] == "0.0.0.0"
    assert settings["sql-gateway.endpoint.rest.port"] == "8083"


def test_compose_endpoints_name_the_sql_gateway(monkeypatch):
    monkeypatch.delenv("LABKIT_SQL_GATEWAY_PORT", raising=False)
    one = compose.endpoints(with_replication=False)
    assert one.sql_gateway == "127.0.0.1:8083"
    assert tls.url(one.sql_gateway, "v3/info") == "http://127.0.0.1:8083/v3/info"  # plain HTTP
    assert compose.endpoints(with_replication=True).sql_gateway == "127.0.0.1:8083"
    monkeypatch.setenv("LABKIT_SQL_GATEWAY_PORT", "18083")  # as docker-compose.yml reads it
    assert compose.endpoints(with_replication=False).sql_gateway == "127.0.0.1:18083"
    monkeypatch.setenv("LABKIT_SQL_GATEWAY_PORT", "80831")
    with pytest.raises(LabError, match="not a port"):
        compose.endpoints()


def lock_lines() -> dict[str, tuple[str, str]]:
    """artifacts.lock read as plain text: bundle -> (coordinate, sha256), one jar per bundle
    (the bundles the Dockerfile checks by name have one jar each)."""
    out: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "labkit" / "runtime" / "artifacts.lock").read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and not line.startswith("#"):
            bundle, coordinate, sha = fields
            out.setdefault(bundle, (coordinate, sha))
    return out


def test_dockerfile_puts_the_locked_sql_gateway_jar_in_flinks_opt(dockerfile, dockerfile_args):
    """The gateway's jar: the lock's (SHA-256 checked by labkit's fetcher, then again by the
    Dockerfile), for the image's Flink version, the only flink-sql-gateway*.jar in opt/."""
    coordinate, sha = lock_lines()["flink-sql-gateway"]
    assert coordinate == f"org.apache.flink:flink-sql-gateway:{dockerfile_args['APACHE_FLINK_VERSION']}"
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    assert dockerfile_args["FLINK_SQL_GATEWAY_SHA256"] == sha
    (jar,) = [j for j in artifacts.locked() if j.bundle == "flink-sql-gateway"]
    assert (jar.coordinate, jar.sha256) == (coordinate, sha)

    # the build's own check of the lock's line, run here on the lock with the ARGs' values
    (grep,) = re.findall(r'grep -Eq "(\^flink-sql-gateway [^"]+)"', dockerfile)
    pattern = grep.replace("${APACHE_FLINK_VERSION}", dockerfile_args["APACHE_FLINK_VERSION"])
    pattern = pattern.replace("${FLINK_SQL_GATEWAY_SHA256}", dockerfile_args["FLINK_SQL_GATEWAY_SHA256"])
    pattern = pattern.replace("\\$", "$")
    lock = (ROOT / "labkit" / "runtime" / "artifacts.lock").read_text()
    assert re.search(pattern, lock, flags=re.M), pattern

    step = dockerfile[dockerfile.index("-m labkit.runtime.artifacts") :]
    cached = f"$LABKIT_CACHE/jars/{jar.bundle}/{jar.file_name}".replace(
        dockerfile_args["APACHE_FLINK_VERSION"], "${APACHE_FLINK_VERSION}"
    )
    wanted = [
        f'gateway="{cached}"',
        'echo "${FLINK_SQL_GATEWAY_SHA256}  $gateway" | sha256sum -c -',
        'rm -f "$FLINK_HOME"/opt/flink-sql-gateway*.jar',  # sql-gateway.sh wants exactly one
        'cp "$gateway" "$FLINK_HOME/opt/"',
    ]
    at = [step.index(line) for line in wanted]
    assert at == sorted(at), "verify, then replace the image's jar"
    assert "sql-gateway" not in dockerfile.split("\nFROM flink AS lab")[1]  # the lab image inherits it


def load_configure():
    found = importlib.util.spec_from_file_location(
        "lab_image_configure_gw", ROOT / "docker" / "flink" / "configure.py"
    )
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_the_image_gives_the_gateway_gateway_procs_settings():
    """configure.py's gateway keys are gateway_proc.config()'s (what `labkit up`'s gateway
    gets) with the container's address and port, and never touch the other roles' keys."""
    configure = load_configure()
    image = configure.sql_gateway()
    local = gateway_proc.config(configure.SQL_GATEWAY_PORT)
    assert image == {
        **{k: v for k, v in local.items() if k not in configure.SQL_GATEWAY_SERVICE},
        **configure.SQL_GATEWAY_NETWORK,
    }
    assert image["sql-gateway.endpoint.type"] == "rest"
    assert image["sql-gateway.session.idle-timeout"] == "10 min"
    assert (
        image["env.java.opts.sql-gateway"]
        == "-Xmx160m -XX:MaxMetaspaceSize=160m -XX:ReservedCodeCacheSize=48m"
    )
    # read by the gateway alone: the JobManager and TaskManagers share this config.yaml
    assert all(k.startswith("sql-gateway.") or k == "env.java.opts.sql-gateway" for k in image)
    assert not set(image) & set(configure.settings())


def test_the_gateway_containers_config_yaml_keeps_every_setting(tmp_path):
    """configure.py on a copy of Flink's config.yaml (as the build runs it), then the
    official entrypoint's rewrite at the gateway container's start (its FLINK_PROPERTIES):
    the gateway's keys - the spaced JVM options and idle timeout included - and where its
    jobs go are all there."""
    configure = load_configure()
    home = flink_distribution(tmp_path / "flink")
    wanted = configure.apply(home)
    assert configure.sql_gateway().items() <= wanted.items()
    conf, bin_, lib = (str(home / d) for d in ("conf", "bin", "lib"))
    tool = [str(home / "bin" / "config-parser-utils.sh"), conf, bin_, lib]
    at_start = {"jobmanager.rpc.address": "c0ffee", "blob.server.port": "6124", "query.server.port": "6125"}
    for step in (at_start, entrypoint_properties(compose_spec()["services"]["sql-gateway"])):
        subprocess.run(["bash", *tool, *(f"-D{k}={v}" for k, v in step.items())], check=True, timeout=120)
    got = configure.read(home / "conf" / "config.yaml")
    assert {k: got.get(k) for k in wanted} == wanted
    assert {k: got.get(k) for k in configure.SQL_GATEWAY_SERVICE} == configure.SQL_GATEWAY_SERVICE


def test_healthcheck_knows_the_sql_gateway(monkeypatch):
    found = importlib.util.spec_from_file_location(
        "healthcheck_gw", ROOT / "docker" / "flink" / "healthcheck.py"
    )
    hc = importlib.util.module_from_spec(found)
    found.loader.exec_module(hc)
    answers = {"http://127.0.0.1:8083/v3/info": {"productName": "Apache Flink", "version": "2.3.0"}}
    monkeypatch.setattr(hc, "get", answers.__getitem__)
    assert hc.sql_gateway()
    answers["http://127.0.0.1:8083/v3/info"] = {"productName": "something else"}
    assert not hc.sql_gateway()
    answers["http://127.0.0.1:8083/v3/info"] = ["Apache Flink"]
    assert not hc.sql_gateway()
    # the role the compose file names exists in the script: without a gateway it says "not ready"
    done = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "flink" / "healthcheck.py"), "sql-gateway"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.startswith("sql-gateway ")
