"""The cluster: where Kafka and Flink are, and starting/stopping what the lab owns.

One state file (``.labkit/state.json``) records the backend in use, its addresses and
the processes the lab started (with their start times, so a recycled PID is never
mistaken for ours). Every kernel, the CLI and the tests read it, which is how a kernel
restart finds the same cluster again and how ``labkit down`` stops everything.

Backends - one stack, only the addresses differ:

``local`` (default)
    Apache Kafka (KRaft; 1 broker, or 3 with ``labkit up --brokers 3``) and a Flink
    session cluster (JobManager + TaskManager) as processes on this machine, every
    listener on 127.0.0.1 (:mod:`labkit.runtime.kafka_proc`, :mod:`labkit.runtime.flink_proc`).
    Kafka's data stays on disk under ``.labkit/``: topics survive ``down``/``up``;
    ``labkit reset`` deletes them.
``compose``
    The same services in Docker containers (see :mod:`labkit.compose`).
``remote``
    An existing Kafka and Flink JobManager given by the user. Nothing is started or stopped.

The backend is chosen by ``labkit up --backend NAME`` or ``LABKIT_BACKEND``; without
either, a kernel keeps using the compose or remote cluster recorded in the state file.
Notebooks never hard-code addresses: they ask the handle (`labkit.connect()`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from . import paths
from .errors import BrokerUnavailable, LabError
from .runtime import artifacts, flink_proc, kafka_proc
from .runtime.net import PortLost, answers, free_port, port_free  # noqa: F401 - part of this module's API

DEFAULT_PORT = kafka_proc.DEFAULT_PORT
#: How long a process gets to stop cleanly (a Kafka broker flushes its log) before SIGKILL.
STOP_TIMEOUT_S = 20.0


@dataclass
class Endpoints:
    """Where things are, from the notebook's side and from Flink's side.

    They differ on a containerised cluster (Flink's TaskManagers reach Kafka by its
    container name, the notebook by 127.0.0.1); on the local backend they match.
    """

    backend: str
    bootstrap_servers: str
    flink_bootstrap_servers: str
    flink_rest: str | None = None  # the JobManager's REST address (and Web UI)
    # The Python that Flink's workers run Python functions with; None: this kernel's own.
    flink_python: str | None = None


@dataclass
class State:
    endpoints: Endpoints
    processes: dict[str, dict] = field(default_factory=dict)  # name -> {pid, create_time, ...}
    brokers: int = 1
    owner_pid: int | None = None  # a test run that owns this lab (`labkit down --all`)

    def save(self) -> None:
        tmp = paths.state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(paths.state_file())

    @staticmethod
    def load() -> State | None:
        """The recorded state; None when there is none or it cannot be read (a corrupt
        file is moved aside, so the next `up` starts cleanly)."""
        path = paths.state_file()
        try:
            raw = json.loads(path.read_text())
            return State(
                Endpoints(**raw["endpoints"]),
                raw.get("processes", {}),
                int(raw.get("brokers", 1)),
                raw.get("owner_pid"),
            )
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".corrupt"))
            return None


# --- processes ---------------------------------------------------------------------


def tracked(info: dict) -> psutil.Process | None:
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


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited; returns those still alive after ``timeout`` s.

    A process that has exited but whose parent has not reaped it yet (a zombie) counts as
    gone: when the lab was started by another process that is still running (the test
    suite, `labkit lab`), that parent, not us, would have to reap it, and psutil's own
    wait would see the zombie as alive until the timeout.
    """

    def alive(p: psutil.Process) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    left = list(procs)
    while True:
        psutil.wait_procs(left, timeout=0)  # reaps our own children
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _stop(info: dict, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop a tracked process and its children; True if something was running."""
    proc = tracked(info)
    if proc is None:
        return False
    family = [proc, *proc.children(recursive=True)]
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    alive = wait_gone(family, timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    wait_gone(alive, 5)
    return True


def _stop_all(infos: list[dict]) -> None:
    """Stop several processes at once (a broker's clean shutdown takes a few seconds)."""
    threads = [threading.Thread(target=_stop, args=(info,)) for info in infos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rss_mb(info: dict) -> float | None:
    """Resident memory of a tracked process and its children (Python workers), in MB."""
    proc = tracked(info)
    if proc is None:
        return None
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return round(total / 2**20, 1)


def require_broker(bootstrap_servers: str, timeout: float = 2.0) -> None:
    """Fail within seconds (not kafka-python's 30 s) when no broker answers."""
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    if not any(answers(s, timeout) for s in servers):
        raise BrokerUnavailable(
            f"No Kafka broker answers at {bootstrap_servers}. Start the lab with "
            "`labkit up` (or run `labkit.connect()` in a notebook); `labkit status` and "
            "`labkit doctor` show what is running."
        )


# --- which labs exist (for `labkit down --all`) -------------------------------------


def _registry() -> Path:
    path = Path(tempfile.gettempdir()) / f"labkit-{os.getuid()}" / "homes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _register_home() -> None:
    home = str(paths.home().resolve())
    (_registry() / hashlib.sha256(home.encode()).hexdigest()[:16]).write_text(home)


def _owner() -> int | None:
    """A test run sets LABKIT_OWNER_PID: its labs are left behind only if it was killed."""
    value = os.environ.get("LABKIT_OWNER_PID")
    return int(value) if value and value.isdigit() else None


# --- lifecycle ---------------------------------------------------------------------


@contextlib.contextmanager
def _lock():
    """Serialise `up`/`down` across kernels and the CLI: two kernels connecting at the
    same moment must share one cluster, not start two."""
    with open(paths.home() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _requested_backend(backend: str | None = None) -> Endpoints | None:
    """The compose or remote cluster asked for, or None for the local one."""
    backend = backend or os.environ.get("LABKIT_BACKEND")
    if not backend:
        state = State.load()
        if state and state.endpoints.backend in ("compose", "remote"):
            return state.endpoints
        backend = "local"
    if backend == "local":
        return None
    if backend == "compose":
        from . import compose

        return compose.endpoints()
    if backend == "remote":
        servers = os.environ.get("LABKIT_BOOTSTRAP_SERVERS")
        rest = os.environ.get("LABKIT_FLINK_REST")
        if not servers or not rest:
            raise LabError(
                "LABKIT_BACKEND=remote needs LABKIT_BOOTSTRAP_SERVERS=host:port and "
                "LABKIT_FLINK_REST=host:port (a Flink JobManager)."
            )
        return Endpoints(
            "remote",
            servers,
            os.environ.get("LABKIT_FLINK_BOOTSTRAP_SERVERS", servers),
            rest,
            os.environ.get("LABKIT_FLINK_PYTHON") or None,
        )
    raise LabError(f"Unknown backend {backend!r}; use 'local', 'compose' or 'remote'.")


def _wanted_brokers(brokers: int | None, state: State | None) -> int:
    n = brokers or int(os.environ.get("LABKIT_BROKERS", 0) or 0)
    if not n:
        n = state.brokers if state and state.endpoints.backend == "local" else 1
    if n not in (1, 3):
        raise LabError(f"The lab runs 1 or 3 Kafka brokers, not {n}.")
    return n


def up(quiet: bool = False, backend: str | None = None, brokers: int | None = None) -> State:
    """Make sure the lab's cluster is running; start or repair what is missing. Idempotent.

    ``backend`` ('local', 'compose', 'remote') overrides ``LABKIT_BACKEND``; ``brokers``
    (1 or 3) overrides ``LABKIT_BROKERS`` and what is running.
    """
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    with _lock():
        remote = _requested_backend(backend)
        if remote is not None:
            return _up_elsewhere(remote, backend, quiet)
        state = State.load()
        if state and state.endpoints.backend != "local":
            state = State(state.endpoints, state.processes)  # back from compose/remote
        n = _wanted_brokers(brokers, state)
        return _up_local(state, n, say)


def _up_elsewhere(remote: Endpoints, backend: str | None, quiet: bool) -> State:
    previous = State.load()
    explicit = bool(backend or os.environ.get("LABKIT_BACKEND"))
    servers = remote.bootstrap_servers.split(",")
    if remote.backend == "compose" and (explicit or not all(answers(s) for s in servers)):
        from . import compose

        if previous and any(tracked(i) for n, i in previous.processes.items() if n.startswith("kafka")):
            raise LabError("The local cluster is running; stop it first with `labkit down`.")
        remote = compose.up(quiet=quiet)
    require_broker(remote.bootstrap_servers, timeout=3.0)
    state = State(remote, previous.processes if previous else {}, owner_pid=_owner())
    state.save()
    return state


def _up_local(state: State | None, n: int, say, attempt: int = 0) -> State:
    from .java import find_java

    processes = dict(state.processes) if state else {}
    kafka_names = [k for k in processes if k.startswith("kafka-")]
    if state and state.endpoints.backend == "local" and state.brokers != n and kafka_names:
        say(f"labkit: switching from {state.brokers} to {n} Kafka broker(s): stopping the current ones.")
        _stop_all([processes.pop(k) for k in kafka_names])
    java = find_java()
    if java.major < 17:
        raise LabError(f"{java.describe()} is too old: Kafka 4 needs Java 17 or newer. {java_fix()}")
    artifacts.ensure(quiet=False)
    t0 = time.monotonic()

    # Kafka: reuse live brokers, restart dead ones on the ports they had
    cluster = [
        kafka_proc.Broker(i["node_id"], i["port"], i["controller_port"])
        for name, i in sorted(processes.items())
        if name.startswith("kafka-")
    ]
    if len(cluster) != n:
        _stop_all([processes.pop(k) for k in list(processes) if k.startswith("kafka-")])
        taken = {i.get("port") for i in processes.values() if i.get("port")}
        # after losing a port race, away from the default ports other labs crowd around
        first = kafka_proc.DEFAULT_PORT if not attempt else None
        cluster = kafka_proc.plan(n, _env_port("LABKIT_KAFKA_PORT"), taken, first)
    dead_brokers = [b for b in cluster if not tracked(processes.get(f"kafka-{b.node_id}", {}))]

    # Flink: a dead JobManager restarts both; a dead TaskManager restarts alone
    jm, tm = processes.get("flink-jobmanager", {}), processes.get("flink-taskmanager", {})
    ports = flink_proc.FlinkPorts(jm["port"], jm["rpc_port"]) if tracked(jm) else None
    roles: tuple[str, ...] = ()
    if ports is None:
        _stop(tm)
        taken = {b.port for b in cluster} | {b.controller_port for b in cluster}
        preferred = flink_proc.DEFAULT_REST_PORT if not attempt else None
        ports = flink_proc.plan(_env_port("LABKIT_FLINK_PORT"), taken, preferred)
        roles = ("jobmanager", "taskmanager")
    elif not tracked(tm):
        roles = ("taskmanager",)

    if not dead_brokers and not roles:
        return _save_local(processes, cluster, ports, n)
    had = [name for name, info in processes.items() if name.startswith(("kafka-", "flink-"))]
    if had:
        what = [f"Kafka broker {b.node_id}" for b in dead_brokers] + [f"the Flink {r}" for r in roles]
        say(f"labkit: {', '.join(what)} had stopped; starting again.")
    say(
        f"labkit: starting {'Kafka' if dead_brokers else ''}"
        f"{' and ' if dead_brokers and roles else ''}{'Flink' if roles else ''} (a few seconds)..."
    )
    started_kafka = kafka_proc.start(java.executable, dead_brokers, cluster) if dead_brokers else []
    for broker, proc in zip(dead_brokers, started_kafka, strict=True):
        processes[f"kafka-{broker.node_id}"] = _record(
            proc,
            node_id=broker.node_id,
            port=broker.port,
            controller_port=broker.controller_port,
            log=str(paths.logs() / f"kafka-{broker.node_id}.log"),
        )
    known = flink_proc.taskmanager_ids(ports.rest_address) if roles == ("taskmanager",) else set()
    started_flink = flink_proc.start(java.home, ports, roles) if roles else {}
    for role, proc in started_flink.items():
        processes[f"flink-{role}"] = (
            _record(proc, port=ports.rest, rpc_port=ports.rpc, log=str(paths.logs() / f"flink-{role}.log"))
            if role == "jobmanager"
            else _record(proc, log=str(paths.logs() / f"flink-{role}.log"))
        )
    state = _save_local(processes, cluster, ports, n)  # tracked now: `down` stops them even if waiting fails
    try:
        if started_kafka:
            kafka_proc.wait_ready(
                cluster, {b.node_id: p for b, p in zip(dead_brokers, started_kafka, strict=True)}
            )
        if started_flink:
            flink_proc.wait_ready(ports.rest_address, started_flink, known=known)
    except PortLost:
        # Another program (often a second lab starting at the same moment) bound a port
        # between our choosing it and the process binding it: choose again. A broker being
        # repaired keeps its ports (the other brokers know them), so only a fresh start moves.
        fresh_kafka = len(dead_brokers) == len(cluster)
        broker_lost = any(p.poll() is not None for p in started_kafka)
        if attempt >= 2 or (broker_lost and not fresh_kafka):
            raise
        lost = [f"kafka-{b.node_id}" for b in dead_brokers] if fresh_kafka else []
        if started_flink:  # not known to be ready: start it again with the rest
            lost += ["flink-jobmanager", "flink-taskmanager"]
        say("labkit: another program took a port the lab had chosen; choosing other ports.")
        _stop_all([processes.pop(k) for k in lost if k in processes])
        return _up_local(_save_local(processes, cluster, ports, n), n, say, attempt + 1)
    rest = ports.rest_address
    say(
        f"labkit: Kafka {artifacts.KAFKA_VERSION} on {state.endpoints.bootstrap_servers} "
        f"({n} broker{'s' if n > 1 else ''}), Flink {flink_version()} with Web UI http://{rest} "
        f"- ready in {time.monotonic() - t0:.1f} s."
    )
    return state


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _save_local(processes: dict, cluster: list, ports, n: int) -> State:
    bootstrap = ",".join(b.address for b in cluster)
    state = State(
        Endpoints("local", bootstrap, bootstrap, ports.rest_address), processes, n, owner_pid=_owner()
    )
    state.save()
    _register_home()
    return state


def flink_version() -> str:
    import pyflink.version

    return pyflink.version.__version__


def java_fix() -> str:
    from .java import FIX

    return FIX


def down(quiet: bool = False, all_labs: bool = False) -> list[str]:
    """Stop every process the lab started and forget the state. Safe to repeat.

    ``all_labs``: also stop labs in other ``LABKIT_HOME`` folders whose owner (a test
    run) is gone - what a killed run leaves behind.
    """
    stopped = _down_here(quiet)
    if all_labs:
        for entry in _registry().iterdir():
            home = Path(entry.read_text().strip())
            if home == paths.home().resolve() or not (home / "state.json").is_file():
                if not (home / "state.json").is_file():
                    entry.unlink(missing_ok=True)
                continue
            try:
                raw = json.loads((home / "state.json").read_text())
            except (OSError, ValueError):
                continue
            owner = raw.get("owner_pid")
            if owner and psutil.pid_exists(owner):
                continue  # a test run that is still going
            if not owner:
                continue  # a learner's lab in another folder: theirs to stop
            infos = list(raw.get("processes", {}).values())
            _stop_all(infos)
            (home / "state.json").unlink(missing_ok=True)
            entry.unlink(missing_ok=True)
            stopped.append(f"left-over lab in {home}")
    if not quiet:
        print("labkit: stopped " + (", ".join(stopped) if stopped else "nothing (nothing was running)"))
    return stopped


def _down_here(quiet: bool) -> list[str]:
    stopped = []
    with _lock():
        state = State.load()
        from . import compose

        try:
            if compose.down(quiet=quiet):  # only if `up` started a compose cluster
                stopped.append("compose cluster")
        except LabError as exc:  # Docker gone: still stop the local processes below
            if not quiet:
                print(f"labkit: could not stop the compose cluster: {exc}")
        if state:
            # JupyterLab and its kernels first (they may be using the cluster), then Flink,
            # then Kafka, each group at once
            order = [
                [n for n in state.processes if not n.startswith(("flink-", "kafka-"))],
                [n for n in state.processes if n.startswith("flink-")],
                [n for n in state.processes if n.startswith("kafka-")],
            ]
            for names in order:
                alive = [n for n in names if tracked(state.processes[n])]
                _stop_all([state.processes[n] for n in alive])
                stopped += alive
        paths.state_file().unlink(missing_ok=True)
    return stopped


def restart_broker(node_id: int | None = None, quiet: bool = False) -> State:
    """Stop the lab's Kafka broker(s) cleanly and start them again on the same ports, with
    the same data folder, then wait until they serve. For lesson 04: what a broker stored
    is still there after it restarts.

    ``node_id`` restarts one broker of a three-broker lab; None restarts every broker.
    Only the local backend's brokers are the lab's own to restart: on compose or remote
    this raises a `LabError` saying how to restart Kafka there. Flink is not touched.
    Holds the lab's lock throughout, so no other kernel "repairs" the stopped broker
    meanwhile, and holds the freed ports (see `_holding`) so no other lab takes them.
    """
    from .java import find_java

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    with _lock():
        state = _own_processes(
            "its Kafka is not a process the lab started, so the lab cannot restart it. On compose: "
            "`docker compose restart kafka`; on a remote cluster, ask whoever runs it. The local "
            "backend (`labkit up --backend local`) can restart its broker from a notebook."
        )
        cluster = [
            kafka_proc.Broker(i["node_id"], i["port"], i["controller_port"])
            for name, i in sorted(state.processes.items())
            if name.startswith("kafka-")
        ]
        chosen = [b for b in cluster if node_id is None or b.node_id == node_id]
        if not chosen:
            known = [b.node_id for b in cluster]
            raise LabError(f"There is no Kafka broker {node_id}; the lab's are {known}.")
        java = find_java()
        which = ", ".join(str(b.node_id) for b in chosen)
        t0 = time.monotonic()
        say(f"labkit: stopping Kafka broker {which} (a clean shutdown: it writes its log to disk)...")
        ports = [p for b in chosen for p in (b.port, b.controller_port)]
        with _holding(ports) as held:  # from the moment the old broker lets go of them
            _stop_all([state.processes[f"kafka-{b.node_id}"] for b in chosen])
            stopped = time.monotonic() - t0
            held.wait(5.0)
            folder = kafka_proc.data_dir(len(cluster))
            say(
                f"labkit: stopped in {stopped:.1f} s; starting it again on "
                f"{', '.join(b.address for b in chosen)} with the same data ({folder})..."
            )
            started = kafka_proc.start(java.executable, chosen, cluster)
            for broker, proc in zip(chosen, started, strict=True):
                state.processes[f"kafka-{broker.node_id}"] = _record(
                    proc,
                    node_id=broker.node_id,
                    port=broker.port,
                    controller_port=broker.controller_port,
                    log=str(paths.logs() / f"kafka-{broker.node_id}.log"),
                )
            state.save()  # tracked at once: `down` stops them even if waiting fails
            kafka_proc.wait_ready(cluster, {b.node_id: p for b, p in zip(chosen, started, strict=True)})
        say(f"labkit: Kafka broker {which} serves again - restarted in {time.monotonic() - t0:.1f} s.")
        return state


def _own_processes(elsewhere: str) -> State:
    """The running lab's state, when its Kafka and Flink are processes this lab started (the
    local backend): only those can be restarted or killed from a notebook. ``elsewhere`` says
    what to do on compose or a remote cluster. Call with the lab's lock held."""
    state = State.load()
    if state is None:
        raise LabError("No lab is running: start it with `labkit up` (or `labkit.connect()`).")
    if state.endpoints.backend != "local":
        raise LabError(f"This lab runs on the {state.endpoints.backend!r} backend: {elsewhere}")
    return state


@contextlib.contextmanager
def _holding(ports: list[int]):
    """Keep ports from other programs while a broker restarts on them; yields an Event set
    once every port is held.

    A broker closes its listeners early in a clean shutdown, seconds before it exits: a lab
    starting meanwhile could choose those ports. So a thread binds each port the moment it
    is free, with SO_REUSEADDR and without listening: an ordinary bind of the port (how
    labs test a port) then fails, while Kafka's own server socket (Java sets SO_REUSEADDR)
    can still bind and listen there. Released once the new broker serves.
    """
    import socket

    held: list[socket.socket] = []
    done, stop = threading.Event(), threading.Event()
    if sys.platform != "linux":  # BSD/macOS: a second bind of the same address needs SO_REUSEPORT,
        done.set()  # so holding the port would stop Kafka itself from binding it
        yield done
        return

    def grab() -> None:
        pending = list(ports)
        while pending and not stop.is_set():
            for port in list(pending):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                    held.append(s)
                    pending.remove(port)
                except OSError:  # still the old broker's
                    s.close()
            stop.wait(0.001)
        done.set()

    thread = threading.Thread(target=grab, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()


def reset(quiet: bool = False) -> None:
    """Stop the lab and delete Kafka's data and Flink's checkpoints (every topic is gone)."""
    down(quiet=quiet)
    for sub in [*paths.home().glob("kafka-*"), flink_proc.flink_home()]:
        shutil.rmtree(sub, ignore_errors=True)
    if not quiet:
        print("labkit: deleted every topic and checkpoint; `labkit up` starts an empty cluster.")


def track(name: str, proc: subprocess.Popen, **extra) -> None:
    """Record another process the lab started (e.g. JupyterLab) so `down` stops it."""
    with _lock():
        state = State.load()
        if state is None:
            raise LabError("Start the cluster first (`labkit up`).")
        state.processes[name] = _record(proc, **extra)
        state.save()


def untrack(*names: str, stop: bool = True, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop processes recorded with `track` (all at once, SIGKILL after ``timeout`` s) and
    forget them; returns the names that were still running. Unknown names are ignored."""
    with _lock():
        state = State.load()
        if state is None:
            return []
        infos = {n: state.processes.pop(n) for n in names if n in state.processes}
        alive = [n for n, info in infos.items() if tracked(info)]
        if stop:
            threads = [threading.Thread(target=_stop, args=(infos[n], timeout)) for n in alive]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        state.save()
    return alive


def status() -> dict:
    """What is running, as plain data (for `labkit status` and the notebook panel)."""
    state = State.load()
    if state is None:
        return {"running": False, "backend": None, "processes": {}}
    procs = {}
    for name, info in state.processes.items():
        proc = tracked(info)
        procs[name] = {
            **{k: v for k, v in info.items() if k != "create_time"},
            "alive": proc is not None,
            "rss_mb": rss_mb(info),
        }
    out: dict = {
        "running": any(answers(s) for s in state.endpoints.bootstrap_servers.split(",")),
        **asdict(state.endpoints),
        "brokers_expected": state.brokers,
        "processes": procs,
        "kafka": _kafka_status(state.endpoints.bootstrap_servers),
        "flink": _flink_status(state.endpoints.flink_rest),
    }
    if state.endpoints.backend == "compose":
        from . import compose

        out["services"] = compose.services()
    return out


def _kafka_status(bootstrap: str) -> dict | None:
    """Brokers and the active controller, as Kafka reports them; None if it does not answer."""
    if not any(answers(s, 0.5) for s in bootstrap.split(",")):
        return None
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000
        )
        try:
            info = admin.describe_cluster()
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - status never fails
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "version": artifacts.KAFKA_VERSION,
        "cluster_id": info.get("cluster_id"),
        "controller": info.get("controller_id"),
        "brokers": sorted(f"{b['broker_id']}@{b['host']}:{b['port']}" for b in info.get("brokers") or []),
    }


def _flink_status(rest: str | None) -> dict | None:
    if not rest:
        return None
    info = flink_proc.overview(rest)
    if info is None:
        return {"web_ui": f"http://{rest}", "error": "the JobManager does not answer"}
    return {
        "web_ui": f"http://{rest}",
        "version": info.get("flink-version"),
        "taskmanagers": info.get("taskmanagers"),
        "slots_total": info.get("slots-total"),
        "slots_available": info.get("slots-available"),
        "jobs_running": info.get("jobs-running"),
    }


# --- failure drills: a TaskManager crash (lesson 08) --------------------------------


def kill_taskmanager() -> dict:
    """Kill the lab's Flink TaskManager with SIGKILL, as a crashed machine would die: no
    shutdown, no goodbye to the JobManager, and its Python workers (if any) go with it.

    Only the local backend's TaskManager is the lab's own to kill (on compose: `docker
    compose kill taskmanager`). The state file keeps the dead process: `up` (or
    `start_taskmanager`) sees it is gone and starts a new one, which `down` stops.
    Returns what was killed: ``pid``, ``id`` (the TaskManager id the JobManager and its Web
    UI know it by; None if the JobManager did not list it) and ``killed_at`` (time.time()).
    """
    with _lock():
        state = _own_processes(
            "its TaskManager is not a process the lab started. On compose: `docker compose kill "
            "taskmanager` (then `docker compose up -d`); on a remote cluster, ask whoever runs it."
        )
        proc = tracked(state.processes.get("flink-taskmanager", {}))
        if proc is None:
            raise LabError(
                "The lab's TaskManager is not running: `labkit up` (or `lab.start_taskmanager()`) starts one."
            )
        try:
            ports = {c.laddr.port for c in proc.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
        except psutil.Error:  # some systems do not show a process's sockets: the only TaskManager then
            ports = set()
        tm_id = _taskmanager_on(state.endpoints.flink_rest or "", ports)
        family = [proc, *proc.children(recursive=True)]
        killed_at = time.time()
        for p in family:
            with contextlib.suppress(psutil.Error):
                p.kill()  # SIGKILL
        if wait_gone(family, 10):
            raise LabError(f"The TaskManager (pid {proc.pid}) did not die within 10 s of SIGKILL.")
    return {"pid": proc.pid, "id": tm_id, "killed_at": killed_at}


def _taskmanager_on(rest: str, ports: set[int]) -> str | None:
    """The id of the TaskManager that listens on one of ``ports`` (its RPC or data port)."""
    listed = flink_proc.taskmanagers(rest, timeout=5)
    for tm in listed:
        rpc_port = tm.get("path", "").rpartition(":")[2].partition("/")[0]
        if tm.get("dataPort") in ports or (rpc_port.isdigit() and int(rpc_port) in ports):
            return tm["id"]
    return listed[0]["id"] if len(listed) == 1 and not ports else None


def start_taskmanager(quiet: bool = True) -> dict:
    """Start a new TaskManager if the lab's has stopped (what `up` does for any process of
    the lab that died) and wait until it has registered with the JobManager, and the
    JobManager no longer lists the dead one.

    Returns ``pid``, ``id`` (the new TaskManager's id; None if none had to start),
    ``started`` (False when the TaskManager was running already) and ``seconds`` taken.
    """
    t0 = time.monotonic()
    before = State.load()
    was = tracked(before.processes.get("flink-taskmanager", {})) if before else None
    rest = before.endpoints.flink_rest if before else None
    known = flink_proc.taskmanager_ids(rest) if rest else set()
    state = up(quiet=quiet)
    proc = tracked(state.processes.get("flink-taskmanager", {}))
    rest = state.endpoints.flink_rest or ""
    new = flink_proc.taskmanager_ids(rest) - known
    if was is None:
        # The JobManager lists a killed TaskManager until a heartbeat to it fails (a few
        # seconds; at most heartbeat.timeout): wait, so the cluster looks as it did before.
        deadline = time.monotonic() + 30
        while known & flink_proc.taskmanager_ids(rest):
            if time.monotonic() > deadline:
                raise LabError(f"Flink still lists the stopped TaskManager(s) {sorted(known)} after 30 s.")
            time.sleep(0.2)
    return {
        "pid": proc.pid if proc else None,
        "id": next(iter(new), None) if was is None else None,
        "started": was is None,
        "seconds": round(time.monotonic() - t0, 1),
    }
