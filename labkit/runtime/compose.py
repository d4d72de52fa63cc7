"""The compose backend: the local backend's Apache Kafka and Flink, in Docker containers.

``docker-compose.yml`` (next to ``pyproject.toml``) describes the cluster: one Apache
Kafka broker (artifacts.KAFKA_VERSION) in KRaft mode (two more with the ``replication`` profile) reading the
same ``labkit/runtime/kafka.properties`` as ``labkit up``, a Flink JobManager and
TaskManagers built from ``docker/flink/Dockerfile`` (Flink 2.3, the same Kafka connector
jar and the settings of :mod:`labkit.runtime.flink_proc`), Flink's SQL Gateway
(``sql-gateway``, the same image and jar as :mod:`labkit.runtime.gateway_proc`; the REST
service behind the ``%%flink_sql`` cell), and a ``lab`` service (JupyterLab) for learners
who have nothing but Docker.

This module runs ``docker compose`` for the lab: ``up`` starts the cluster services (not
the ``lab`` service: the notebooks run on this machine) and waits until every one is
healthy; ``down`` stops them and keeps Kafka's data volume. The notebook reaches Kafka at
127.0.0.1:9092, Flink's TaskManagers reach it as ``kafka:19092`` inside the compose
network: :class:`~labkit.runtime.state.Endpoints` carries both, and the Flink helpers put the
cluster's view into every Kafka table's DDL. The SQL Gateway is at 127.0.0.1:8083, in plain
HTTP like the JobManager's REST API here (the local backend's gateway, like its JobManager,
wants the lab's client certificate: not possible in an image, which never holds that key).

Options (environment variables, also set by ``labkit up`` flags):

``LABKIT_COMPOSE_REPLICATION=1`` (``--replication``)
    also start brokers ``kafka-2`` and ``kafka-3``, with the settings of
    ``labkit up --brokers 3`` (internal topics with 3 replicas, ``min.insync.replicas=2``):
    labkit passes ``LABKIT_BROKERS=3`` to docker compose, which picks
    ``docker/kafka/brokers-3.env`` and the three-broker data volumes.
``LABKIT_TASKMANAGERS=N`` (``--taskmanagers N``)
    run N TaskManagers (``docker compose up --scale taskmanager=N``).
``LABKIT_KAFKA_PORT``, ``LABKIT_FLINK_PORT``, ``LABKIT_SQL_GATEWAY_PORT``
    the ports on this machine for Kafka (default 9092), Flink's web UI/REST (8081) and
    Flink's SQL Gateway (8083), read by docker-compose.yml too.
``LABKIT_COMPOSE_FILE``
    another compose file (default: the checkout's ``docker-compose.yml``).
``LABKIT_COMPOSE_PROJECT``
    the compose project name (default ``kafka-flink-lab``, as in the compose file).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .. import paths
from ..errors import LabError
from .net import env_port
from .state import Endpoints

PROJECT = "kafka-flink-lab"
HOST = "127.0.0.1"

#: Services ``labkit up --backend compose`` starts (the ``lab`` service is for Docker-only
#: learners, started by a plain ``docker compose up``).
CLUSTER_SERVICES = ("kafka", "jobmanager", "taskmanager", "sql-gateway")
REPLICATION_PROFILE = "replication"
REPLICATION_SERVICES = ("kafka-2", "kafka-3")

#: broker service -> (port on this machine, address inside the compose network)
BROKERS = {
    "kafka": (9092, "kafka:19092"),
    "kafka-2": (29092, "kafka-2:19092"),
    "kafka-3": (39092, "kafka-3:19092"),
}
FLINK_REST_PORT = 8081
SQL_GATEWAY_PORT = 8083  # Flink's SQL Gateway (REST, plain HTTP), in the container and here

#: The Python that runs Python functions on the TaskManagers (see docker/flink/Dockerfile).
IMAGE_PYTHON = "/opt/pyflink/bin/python"
IMAGE_PYTHON_VERSION = "3.12"

#: A first ``up`` builds the Flink image (a few minutes); later ones take seconds.
UP_TIMEOUT_S = 1800.0
DOWN_TIMEOUT_S = 300.0

INSTALL_HINT = (
    "The compose backend needs Docker with the Compose plugin (`docker compose version` "
    "must work): Docker Desktop on macOS/Windows, Docker Engine + docker-compose-plugin "
    "on Linux. Without Docker, use the local backend (`labkit up`, the default)."
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def replication() -> bool:
    """True when the three-broker profile is asked for."""
    return _flag("LABKIT_COMPOSE_REPLICATION")


def taskmanagers() -> int:
    raw = os.environ.get("LABKIT_TASKMANAGERS", "1").strip() or "1"
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= 8:
        raise LabError(f"LABKIT_TASKMANAGERS={raw!r}: use a whole number of TaskManagers from 1 to 8.")
    return n


def _port(name: str, default: int) -> int:
    return env_port(name) or default


def kafka_port() -> int:
    return _port("LABKIT_KAFKA_PORT", BROKERS["kafka"][0])


def flink_port() -> int:
    return _port("LABKIT_FLINK_PORT", FLINK_REST_PORT)


def sql_gateway_port() -> int:
    return _port("LABKIT_SQL_GATEWAY_PORT", SQL_GATEWAY_PORT)


def compose_file() -> Path:
    env = os.environ.get("LABKIT_COMPOSE_FILE")
    if env:
        path = Path(env)
    else:
        root = paths.project_root()
        path = (root / "docker-compose.yml") if root else Path.cwd() / "docker-compose.yml"
    if not path.is_file():
        raise LabError(
            f"No compose file at {path}. Run labkit from the course checkout (where "
            "docker-compose.yml is), or set LABKIT_COMPOSE_FILE."
        )
    return path


def project() -> str:
    return os.environ.get("LABKIT_COMPOSE_PROJECT", PROJECT)


def endpoints(with_replication: bool | None = None) -> Endpoints:
    """Where the compose cluster is, from this machine's and from Flink's side."""
    rep = replication() if with_replication is None else with_replication
    names = ["kafka", *(REPLICATION_SERVICES if rep else ())]
    host_ports = {**{n: port for n, (port, _) in BROKERS.items()}, "kafka": kafka_port()}
    return Endpoints(
        backend="compose",
        bootstrap_servers=",".join(f"{HOST}:{host_ports[n]}" for n in names),
        flink_bootstrap_servers=",".join(BROKERS[n][1] for n in names),
        flink_rest=f"{HOST}:{flink_port()}",
        flink_python=IMAGE_PYTHON,
        sql_gateway=f"{HOST}:{sql_gateway_port()}",  # host:port: plain HTTP
    )


# --- running docker -------------------------------------------------------------


def docker() -> str:
    """The `docker` executable, checked to have Compose v2 and a running engine."""
    exe = shutil.which("docker")
    if exe is None:
        raise LabError(f"`docker` is not installed (not found on PATH). {INSTALL_HINT}")
    version = _ask(exe, "compose", "version")
    if version.returncode != 0:
        raise LabError(
            "`docker compose` does not work here (exit "
            f"{version.returncode}: {(version.stderr or version.stdout).strip()[:300]}). {INSTALL_HINT}"
        )
    info = _ask(exe, "info", "--format", "{{.ServerVersion}}")
    if info.returncode != 0 or not info.stdout.strip():
        raise LabError(
            "Docker is installed but its engine is not running or not reachable "
            f"({(info.stderr or info.stdout).strip()[:300] or 'no answer'}). Start Docker Desktop, "
            "or on Linux `sudo systemctl start docker` (and add yourself to the `docker` group)."
        )
    return exe


def _ask(exe: str, *args: str) -> subprocess.CompletedProcess:
    """A quick docker command; a LabError (never a traceback) if it cannot run or hangs."""
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"`docker {' '.join(args)}` could not run ({type(exc).__name__}: {exc}).") from None


def _compose_env(with_replication: bool) -> dict[str, str]:
    """The environment for docker compose: LABKIT_BROKERS picks the Kafka settings and data
    volumes for 1 or 3 brokers in docker-compose.yml (docker/kafka/brokers-N.env)."""
    return {**os.environ, "LABKIT_BROKERS": "3" if with_replication else "1"}


def _base(exe: str, with_replication: bool) -> list[str]:
    cmd = [exe, "compose", "-f", str(compose_file()), "-p", project()]
    if with_replication:
        cmd += ["--profile", REPLICATION_PROFILE]
    return cmd


def _run(
    cmd: list[str], *, quiet: bool, timeout: float, what: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    """Run a compose command; its progress goes to the terminal unless ``quiet``."""
    try:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.PIPE if quiet else None,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(cmd[1:])}` did not finish in {timeout:.0f} s ({what}).") from None
    except OSError as exc:
        raise LabError(f"`{' '.join(cmd[1:])}` could not run ({exc}) while {what}.") from None
    if done.returncode != 0:
        tail = ((done.stderr or "") + (done.stdout or ""))[-2000:] if quiet else "(see the output above)"
        raise LabError(
            f"`docker {' '.join(cmd[1:])}` failed with exit {done.returncode} while {what}. {tail}\n"
            "`docker compose ps` and `docker compose logs SERVICE` show what went wrong."
        )
    return done


def up(quiet: bool = False) -> Endpoints:
    """Start the cluster services and wait until all are healthy; returns the Endpoints.

    Idempotent: on a running cluster ``docker compose up`` changes nothing and returns
    in a second or two.
    """
    exe = docker()
    rep, n_tm = replication(), taskmanagers()
    services = [*CLUSTER_SERVICES, *(REPLICATION_SERVICES if rep else ())]
    # --build: the image follows the checkout (a pin bump rebuilds it; unchanged, the
    # build cache answers in seconds)
    cmd = [*_base(exe, rep), "up", "-d", "--build", "--wait"]
    if n_tm != 1:
        cmd += ["--scale", f"taskmanager={n_tm}"]
    cmd += services
    if not quiet:
        print(
            f"labkit: starting the compose cluster ({', '.join(services)}; {n_tm} TaskManager"
            f"{'s' if n_tm != 1 else ''}). The first time builds the Flink image: a few minutes."
        )
    _run(
        cmd,
        quiet=quiet,
        timeout=UP_TIMEOUT_S,
        what="starting the compose cluster",
        env=_compose_env(rep),
        cwd=compose_file().parent,
    )
    save_record({"project": project(), "file": str(compose_file()), "replication": rep, "taskmanagers": n_tm})
    return endpoints(rep)


def down(quiet: bool = False, volumes: bool = False) -> bool:
    """Stop and remove the cluster's containers (Kafka's data volume stays unless
    ``volumes``). True if there was a compose cluster to stop.

    Raises LabError when Docker cannot do it (gone, engine stopped); the record stays, so a
    later ``labkit down`` tries again. :func:`labkit.runtime.lifecycle.down` catches that error and
    still stops the lab's local processes."""
    saved = load_record()
    if saved is None:
        return False
    exe = docker()
    cmd = [exe, "compose", "-f", saved["file"], "-p", saved["project"]]
    if saved.get("replication"):
        cmd += ["--profile", REPLICATION_PROFILE]
    cmd += ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
    _run(
        cmd,
        quiet=quiet,
        timeout=DOWN_TIMEOUT_S,
        what="stopping the compose cluster",
        env=_compose_env(bool(saved.get("replication"))),
        cwd=Path(saved["file"]).parent,
    )
    _state_file().unlink(missing_ok=True)
    return True


def services() -> list[dict]:
    """``docker compose ps`` as plain data: one dict per container (Service, State, Health)."""
    exe = shutil.which("docker")
    if exe is None:
        return []
    try:
        saved = load_record() or {"file": str(compose_file()), "project": project()}
        done = subprocess.run(
            [exe, "compose", "-f", saved["file"], "-p", saved["project"], "ps", "--all", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_compose_env(bool(saved.get("replication"))),
        )
        return parse_ps(done.stdout) if done.returncode == 0 else []
    except (LabError, OSError, subprocess.TimeoutExpired, ValueError):
        return []  # status must answer even when Docker does not


def parse_ps(text: str) -> list[dict]:
    """Parse ``docker compose ps --format json``: a JSON array (Compose < 2.21) or one
    JSON object per line (later versions)."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    keep = ("Service", "Name", "State", "Health", "Publishers")
    return [{k: row.get(k) for k in keep if k in row} for row in rows]


# --- what `down` needs to know ----------------------------------------------------


def _state_file() -> Path:
    return paths.home() / "compose.json"


def save_record(info: dict) -> None:
    """Note a compose cluster ``up`` started (project, file, replication, taskmanagers),
    so ``down`` - from any kernel or the CLI - knows there is one to stop."""
    _state_file().write_text(json.dumps(info, indent=2))


def load_record() -> dict | None:
    """The compose cluster ``up`` started and ``down`` has not stopped yet, or None."""
    try:
        return json.loads(_state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
