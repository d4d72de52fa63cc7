"""Failure drills the lessons run on the lab's own processes.

- `restart_broker` (lesson 04): stop Kafka broker(s) cleanly and start them again on the
  same ports and data: what a broker stored is still there afterwards.
- `kill_taskmanager` / `start_taskmanager` (lesson 08): SIGKILL Flink's TaskManager as a
  crashed machine would die, then start a new one and wait until Flink knows it.

Only the local backend's processes are the lab's own to break: on compose or a remote
cluster each drill raises a `LabError` saying how to do it there.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil

from ..errors import LabError
from ..paths import printer
from ..waiting import wait_for
from . import flink_proc, kafka_proc
from .jvm import find_java
from .lifecycle import broker_record, local_brokers, up
from .processes import stop_all, tracked, wait_gone
from .state import State, lock

#: Words in a drill's name (`Lab.drill_here`'s ``what``) that say it breaks the lab's Kafka.
KAFKA_WORDS = ("broker", "kafka")


def about_kafka(what: str) -> bool:
    """Whether the drill ``what`` (``"the broker restart"``) breaks the lab's Kafka rather than
    its Flink (``"the TaskManager kill"``): on a shared Kafka only the latter is the lab's."""
    return any(word in what.lower() for word in KAFKA_WORDS)


def own_processes(elsewhere: str) -> State:
    """The running lab's state, when its Kafka and Flink are processes this lab started (the
    local backend): only those can be restarted or killed from a notebook. ``elsewhere`` says
    what to do on compose or a remote cluster. Call with the lab's lock held."""
    state = State.load()
    if state is None:
        raise LabError("No lab is running: start it with `labkit up` (or `labkit.connect()`).")
    if state.endpoints.backend != "local":
        raise LabError(f"This lab runs on the {state.endpoints.backend!r} backend: {elsewhere}")
    return state


def own_kafka(state: State) -> None:
    """Raise a clear `LabError` when the lab's Kafka is a shared one (a connection profile,
    `Endpoints.kafka_profile`): its brokers are not the lab's processes to restart."""
    if state.endpoints.kafka_profile:
        raise LabError(
            "This lab's Kafka is a shared one (a connection profile: LABKIT_KAFKA_PROFILE), not a "
            "process the lab started: restarting its brokers would stop everybody's. Whoever runs "
            "it can (`labkit classroom stop` / `start`); a lab of your own (no profile) can too."
        )


# --- a broker restart (lesson 04) ----------------------------------------------------


def restart_broker(node_id: int | None = None, quiet: bool = False) -> State:
    """Stop the lab's Kafka broker(s) cleanly and start them again on the same ports, with
    the same data folder, then wait until they serve. For lesson 04: what a broker stored
    is still there after it restarts.

    ``node_id`` restarts one broker of a three-broker lab; None restarts every broker.
    Only the local backend's brokers are the lab's own to restart: on compose or remote
    this raises a `LabError` saying how to restart Kafka there. Flink is not touched.
    Holds the lab's lock throughout, so no other kernel "repairs" the stopped broker
    meanwhile, and holds the freed ports (see `holding`) so no other lab takes them.
    """
    say = printer(quiet)
    with lock():
        state = own_processes(
            "its Kafka is not a process the lab started, so the lab cannot restart it. On compose: "
            "`docker compose restart kafka`; on a remote cluster, ask whoever runs it. The local "
            "backend (`labkit up --backend local`) can restart its broker from a notebook."
        )
        own_kafka(state)
        cluster = local_brokers(state.processes)
        chosen = [b for b in cluster if node_id is None or b.node_id == node_id]
        if not chosen:
            known = [b.node_id for b in cluster]
            raise LabError(f"There is no Kafka broker {node_id}; the lab's are {known}.")
        java = find_java()
        which = ", ".join(str(b.node_id) for b in chosen)
        t0 = time.monotonic()
        say(f"labkit: stopping Kafka broker {which} (a clean shutdown: it writes its log to disk)...")
        ports = [p for b in chosen for p in (b.port, b.controller_port)]
        with holding(ports) as held:  # from the moment the old broker lets go of them
            stop_all([state.processes[f"kafka-{b.node_id}"] for b in chosen])
            stopped = time.monotonic() - t0
            held.wait(5.0)
            folder = kafka_proc.data_dir(len(cluster))
            say(
                f"labkit: stopped in {stopped:.1f} s; starting it again on "
                f"{', '.join(b.address for b in chosen)} with the same data ({folder})..."
            )
            started = kafka_proc.start(java.executable, chosen, cluster)
            for broker, proc in zip(chosen, started, strict=True):
                state.processes[f"kafka-{broker.node_id}"] = broker_record(broker, proc)
            state.save()  # tracked at once: `down` stops them even if waiting fails
            kafka_proc.wait_ready(cluster, {b.node_id: p for b, p in zip(chosen, started, strict=True)})
        say(f"labkit: Kafka broker {which} serves again - restarted in {time.monotonic() - t0:.1f} s.")
        return state


@contextlib.contextmanager
def holding(ports: list[int]) -> Iterator[threading.Event]:
    """Keep ports from other programs while a broker restarts on them; yields an Event set
    once every port is held.

    A broker closes its listeners early in a clean shutdown, seconds before it exits: a lab
    starting meanwhile could choose those ports. So a thread binds each port the moment it
    is free, with SO_REUSEADDR and without listening: an ordinary bind of the port (how
    labs test a port) then fails, while Kafka's own server socket (Java sets SO_REUSEADDR)
    can still bind and listen there. Released once the new broker serves.
    """
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


# --- a TaskManager crash (lesson 08) -------------------------------------------------


def kill_taskmanager() -> dict[str, Any]:
    """Kill the lab's Flink TaskManager with SIGKILL, as a crashed machine would die: no
    shutdown, no goodbye to the JobManager, and its Python workers (if any) go with it.

    Only the local backend's TaskManager is the lab's own to kill (on compose: `docker
    compose kill taskmanager`). The state file keeps the dead process: `up` (or
    `start_taskmanager`) sees it is gone and starts a new one, which `down` stops.
    Returns what was killed: ``pid``, ``id`` (the TaskManager id the JobManager and its Web
    UI know it by; None if the JobManager did not list it) and ``killed_at`` (time.time()).
    """
    with lock():
        state = own_processes(
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
            return str(tm["id"])
    return str(listed[0]["id"]) if len(listed) == 1 and not ports else None


def start_taskmanager(quiet: bool = True) -> dict[str, Any]:
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
        wait_for(
            lambda: not known & flink_proc.taskmanager_ids(rest),
            f"Flink to stop listing the stopped TaskManager(s) {sorted(known)}",
            timeout=30,
            every=0.2,
        )
    return {
        "pid": proc.pid if proc else None,
        "id": next(iter(new), None) if was is None else None,
        "started": was is None,
        "seconds": round(time.monotonic() - t0, 1),
    }
