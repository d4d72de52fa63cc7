"""The lab's Flink image (docker/flink/Dockerfile, configure.py, healthcheck.py): the same settings as
`labkit up`'s Flink (labkit/runtime/flink_proc.py), kept through Flink's own
``config-parser-utils.sh`` and the official entrypoint's rewrite; versions and jar checksums from
pyproject.toml and labkit/runtime/artifacts.lock; labkit installed where Python functions run.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

from compose_files import ROOT, compose_spec

from labkit.runtime import artifacts, compose, flink_proc

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
    local = flink_proc.config(flink_proc.FlinkPorts(18082, 16123, 18081))
    network = {k for k, v in local.items() if "127.0.0.1" in v or k.endswith(".port")}
    assert configure.NETWORK == network
    image = configure.settings()
    assert set(image) == (set(local) - network) | set(configure.CONTAINER)
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
    assert (
        got["env.java.opts.all"].startswith("--add-exports=")
        and "--add-opens=java.base/java.io" in got["env.java.opts.all"]
    )
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
