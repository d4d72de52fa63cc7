"""Starting and stopping the lab's cluster: ``up``, ``down`` and ``reset``.

``up`` makes sure the cluster the lab should use is running, and is idempotent: on the
local backend it starts Kafka (1 or 3 brokers, :mod:`labkit.runtime.kafka_proc`), a
Flink session cluster (:mod:`labkit.runtime.flink_proc`) and Flink's SQL Gateway
(:mod:`labkit.runtime.gateway_proc`) as processes on this machine,
reuses what still runs and restarts what died, on the ports it had; on compose it runs
``docker compose up`` (:mod:`labkit.runtime.compose`); on a remote cluster it only checks
that Kafka answers (:mod:`labkit.runtime.backends` says which). Whichever it is, ``up``
then writes Kafka's and Flink's own command-line tools for that cluster
(:mod:`labkit.runtime.cli_tools`). ``down`` stops every process the lab started (and a
compose cluster), ``reset`` also deletes Kafka's data and Flink's checkpoints. Everything
is recorded in the state file (:mod:`labkit.runtime.state`) under its lock, so kernels and
the CLI share one cluster.

Kafka's data stays on disk under ``.labkit/``: topics survive ``down``/``up``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from .. import paths
from ..errors import LabError
from ..paths import Say, printer
from . import artifacts, cli_tools, compose, flink_join, flink_proc, gateway_proc, kafka_proc
from . import profile as profiles
from .backends import local_kafka_profile, requested_backend, wanted_brokers
from .jvm import find_java
from .net import PortLost, answers, env_port, pick_port, port_free, require_broker
from .processes import enclosing, record, runs_as_me, stop_all, stop_in_background, tracked
from .state import Endpoints, State, Untrusted, lock, owner_pid, read_own, register_home, registered_homes


def local_brokers(processes: dict[str, dict[str, Any]]) -> list[kafka_proc.Broker]:
    """The Kafka brokers among a local lab's recorded processes, by node id."""
    return [kafka_proc.Broker.of(i) for name, i in sorted(processes.items()) if name.startswith("kafka-")]


def broker_record(broker: kafka_proc.Broker, proc: subprocess.Popen) -> dict[str, Any]:
    """The state file's record of a broker process the lab started."""
    return record(proc, **broker.fields(), log=str(paths.logs() / f"kafka-{broker.node_id}.log"))


def up(
    quiet: bool = False, backend: str | None = None, brokers: int | None = None, flink_host: str | None = None
) -> State:
    """Make sure the lab's cluster is running; start or repair what is missing. Idempotent.

    ``backend`` ('local', 'compose', 'remote') overrides ``LABKIT_BACKEND``; ``brokers``
    (1 or 3) overrides ``LABKIT_BROKERS`` and what is running. ``flink_host``: the local
    Flink's internal listeners on this address of the room's network, so that other
    machines' TaskManagers can join (:mod:`labkit.runtime.flink_join`; 127.0.0.1 takes it
    back); None keeps the address the running Flink has (127.0.0.1 for a new one).
    """
    with lock():
        remote = requested_backend(backend)
        if remote is not None and flink_host:
            raise LabError(f"--flink-host is for the local backend's Flink, not {remote.backend}'s.")
        if remote is not None:
            running = _up_elsewhere(remote, backend, quiet)
        else:
            state = State.load()
            if state and state.endpoints.backend != "local":
                state = State(state.endpoints, state.processes)  # back from compose/remote
            kafka_profile = local_kafka_profile(state)
            if kafka_profile and brokers:
                raise LabError(
                    f"--brokers asks for the lab's own Kafka, but LABKIT_KAFKA_PROFILE names another "
                    f"({kafka_profile}): unset it (LABKIT_KAFKA_PROFILE=) for the lab's own."
                )
            if kafka_profile:  # a wrong password or CA: said now, before Flink starts
                profiles.check(profiles.load(kafka_profile), timeout=10.0)
            n = 0 if kafka_profile else wanted_brokers(brokers, state)
            running = _up_local(state, n, printer(quiet), kafka_profile=kafka_profile, flink_host=flink_host)
        cli_tools.write(running.endpoints)  # kafka-topics.sh..., flink: for the lab as it runs now
        return running


def _up_elsewhere(remote: Endpoints, backend: str | None, quiet: bool) -> State:
    previous = State.load()
    explicit = bool(backend or os.environ.get("LABKIT_BACKEND"))
    servers = remote.bootstrap_servers.split(",")
    if remote.backend == "compose" and (explicit or not all(answers(s) for s in servers)):
        if previous and any(tracked(i) for n, i in previous.processes.items() if n.startswith("kafka")):
            raise LabError("The local cluster is running; stop it first with `labkit down`.")
        remote = compose.up(quiet=quiet)
    require_broker(remote.bootstrap_servers, timeout=3.0)
    state = State(remote, previous.processes if previous else {}, owner_pid=owner_pid())
    state.save()
    return state


def _up_local(
    state: State | None,
    n: int,
    say: Say,
    attempt: int = 0,
    kafka_profile: str | None = None,
    flink_host: str | None = None,
) -> State:
    """The local lab: ``n`` Kafka brokers of its own (0: Kafka through ``kafka_profile``) and
    its Flink (on ``flink_host``, see `up`), reused, repaired or started."""
    processes = dict(state.processes) if state else {}
    kafka_names = [k for k in processes if k.startswith("kafka-")]
    if state and state.endpoints.backend == "local" and state.brokers != n and kafka_names:
        if n:
            say(f"labkit: switching from {state.brokers} to {n} Kafka broker(s): stopping the current ones.")
        else:
            say(f"labkit: Kafka through {kafka_profile}: stopping the lab's own broker(s).")
        stop_all([processes.pop(k) for k in kafka_names])
    java = find_java()  # Java 17 or newer, or a JavaNotFound that says how to get one
    artifacts.ensure(quiet=False)
    t0 = time.monotonic()

    # Kafka: reuse live brokers, restart dead ones on the ports they had
    cluster = local_brokers(processes)
    if len(cluster) != n:
        stop_all([processes.pop(k) for k in list(processes) if k.startswith("kafka-")])
        taken = {int(i["port"]) for i in processes.values() if i.get("port")}
        # after losing a port race, away from the default ports other labs crowd around
        first = kafka_proc.DEFAULT_PORT if not attempt else None
        cluster = kafka_proc.plan(n, env_port("LABKIT_KAFKA_PORT"), taken, first)
    dead_brokers = [b for b in cluster if not tracked(processes.get(f"kafka-{b.node_id}", {}))]

    # Flink: a dead JobManager restarts all three; a dead TaskManager or front door alone.
    # A JobManager from before the Web UI had a front door (no web_port) speaks plain HTTP:
    # it is replaced.
    jm, tm = processes.get("flink-jobmanager", {}), processes.get("flink-taskmanager", {})
    door, sql = processes.get("flink-webui", {}), processes.get(f"flink-{gateway_proc.ROLE}", {})
    host = flink_proc.checked_host(flink_host or jm.get("host") or flink_proc.LOOPBACK)
    current = tracked(jm) and "web_port" in jm
    if current and jm.get("host", flink_proc.LOOPBACK) != host:
        say(f"labkit: Flink moves its internal listeners to {host}: restarting Flink.")
        current = False
    missing = flink_proc.lib_outdated() if current else []
    if missing:  # labkit was upgraded under a running lab: its JVMs never loaded these jars
        say(f"labkit: Flink's lib/ lacks {', '.join(missing)} (a newer labkit): restarting Flink.")
        current = False
    ports = None
    if current:  # the SQL Gateway restarts on its port if it is still free (else on another)
        taken = {b.port for b in cluster} | {int(i["port"]) for i in processes.values() if i.get("port")}
        old = int(sql.get("port") or 0)
        keep = old and (tracked(sql) or port_free(old))
        gateway = old if keep else pick_port(None, None, taken, "Flink's SQL Gateway")
        ports = flink_proc.FlinkPorts(jm["port"], jm["rpc_port"], jm["web_port"], gateway, host)
    roles: tuple[str, ...] = ()
    if ports is None:
        stop_all([jm, tm, door, sql])
        taken = {b.port for b in cluster} | {b.controller_port for b in cluster}
        preferred = flink_proc.DEFAULT_REST_PORT if not attempt else None
        # on a room's address, the RPC port join bundles name stays the same across restarts
        rpc = int(jm.get("rpc_port") or 0) if host != flink_proc.LOOPBACK else None
        ports = flink_proc.plan(env_port("LABKIT_FLINK_PORT"), taken, preferred, rpc)
        ports.host = host
        roles = flink_proc.ROLES
    else:
        again = (("taskmanager", tm), ("webui", door), (gateway_proc.ROLE, sql))
        roles = tuple(r for r, i in again if not tracked(i))

    if not dead_brokers and not roles:
        return _save_local(processes, cluster, ports, n, kafka_profile)
    had = [name for name, info in processes.items() if name.startswith(("kafka-", "flink-"))]
    if had and not missing:  # (an out-of-date lib/ said so above)
        names = {gateway_proc.ROLE: "Flink's SQL Gateway", "webui": "the Flink Web UI's front door"}
        what = [f"Kafka broker {b.node_id}" for b in dead_brokers]
        what += [names.get(r, f"the Flink {r}") for r in roles]
        say(f"labkit: {', '.join(what)} had stopped; starting again.")
    say(
        f"labkit: starting {'Kafka' if dead_brokers else ''}"
        f"{' and ' if dead_brokers and roles else ''}{'Flink' if roles else ''} (a few seconds)..."
    )
    # Flink first: its JVMs start while Kafka's log folder is formatted (a JVM of its own)
    known = flink_proc.taskmanager_ids(ports.rest_address) if "jobmanager" not in roles else set()
    internal = flink_join.ensure_internal(host) if _host(host) and roles else None  # internal SSL
    started_flink = flink_proc.start(java.home, ports, roles, internal) if roles else {}
    for role, proc in started_flink.items():
        log = str(paths.logs() / f"flink-{role}.log")
        processes[f"flink-{role}"] = (
            record(proc, port=ports.rest, rpc_port=ports.rpc, web_port=ports.web, log=log, **_host(host))
            if role == "jobmanager"
            else record(proc, port=ports.web, log=log)
            if role == "webui"
            else record(proc, port=ports.gateway, log=log)
            if role == gateway_proc.ROLE
            else record(proc, log=log)
        )
    _save_local(processes, cluster, ports, n, kafka_profile)  # tracked: `down` stops them if Kafka fails
    started_kafka = kafka_proc.start(java.executable, dead_brokers, cluster) if dead_brokers else []
    for broker, proc in zip(dead_brokers, started_kafka, strict=True):
        processes[f"kafka-{broker.node_id}"] = broker_record(broker, proc)
    state = _save_local(processes, cluster, ports, n, kafka_profile)  # tracked: `down` stops them
    try:
        if started_kafka:
            kafka_proc.wait_ready(
                cluster, {b.node_id: p for b, p in zip(dead_brokers, started_kafka, strict=True)}
            )
        if started_flink:
            need = 1 if "taskmanager" in started_flink else 0
            flink_proc.wait_ready(
                ports.rest_address,
                started_flink,
                need,
                known=known,
                web_port=ports.web,
                gateway=ports.gateway_address,
            )
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
            lost += [f"flink-{role}" for role in flink_proc.ROLES]
        say("labkit: another program took a port the lab had chosen; choosing other ports.")
        stop_all([processes.pop(k) for k in lost if k in processes])
        saved = _save_local(processes, cluster, ports, n, kafka_profile)
        return _up_local(saved, n, say, attempt + 1, kafka_profile, host)
    kafka = (
        f"Kafka {artifacts.KAFKA_VERSION} on {state.endpoints.bootstrap_servers} "
        f"({n} broker{'s' if n > 1 else ''})"
        if n
        else f"Kafka at {state.endpoints.bootstrap_servers} through {Path(kafka_profile or '').name}"
    )
    say(
        f"labkit: {kafka}, Flink {flink_proc.version()} with Web UI "
        f"http://{ports.web_address} and SQL Gateway - ready in {time.monotonic() - t0:.1f} s."
        + (f" TaskManagers may join at {ports.host} (`labkit flink-bundle ADDR`)." if _host(host) else "")
    )
    return state


def _host(host: str) -> dict[str, str]:
    """The JobManager record's ``host`` field: only when it is not 127.0.0.1 (as before)."""
    return {} if host == flink_proc.LOOPBACK else {"host": host}


def _save_local(
    processes: dict[str, dict[str, Any]],
    cluster: list[kafka_proc.Broker],
    ports: flink_proc.FlinkPorts,
    n: int,
    kafka_profile: str | None = None,
) -> State:
    bootstrap = ",".join(b.address for b in cluster)
    if kafka_profile:
        bootstrap = profiles.load(kafka_profile).bootstrap
    endpoints = Endpoints(
        "local",
        bootstrap,
        bootstrap,
        ports.rest_address,
        web_ui=ports.web_address,
        sql_gateway=ports.gateway_address,
        kafka_profile=kafka_profile,
    )
    state = State(endpoints, processes, n, owner_pid=owner_pid())
    state.save()
    register_home()
    return state


def down(quiet: bool = False, all_labs: bool = False) -> list[str]:
    """Stop every process the lab started and forget the state. Safe to repeat. Returns the
    names of what it stopped (or, for what it runs inside, is stopping).

    Run inside a process of the lab - ``labkit down`` in a JupyterLab terminal or a notebook
    cell, whose process is JupyterLab's child - it stops everything else first, says so, and
    hands that process (JupyterLab) to a detached helper that stops it once this one has
    exited: stopping it from here would end this process halfway, leaving Kafka and Flink
    running.

    ``all_labs``: also stop labs in other ``LABKIT_HOME`` folders whose owner (a test
    run) is gone - what a killed run leaves behind. Only labs in this user's private
    registry (`labkit.runtime.state.registry`) whose state file is this user's own, and only
    processes this user runs: CI runs it as root, and nothing another user wrote may choose
    what that stops.
    """
    stopped, last = _down_here(quiet)
    if all_labs:
        stopped += _down_left_over()
    if not quiet:
        said = ", ".join(stopped) if stopped else "nothing (nothing was running)"
        if last:
            said = f"{', '.join(stopped) or 'nothing else'}; stopping {', '.join(last)} last"
            said += ", which this process runs inside, so it ends too"
        print(f"labkit: stopped {said}", flush=True)
    if last:
        stop_in_background(last, paths.logs() / "down.log")
    return stopped + list(last)


def _down_left_over() -> list[str]:
    """``down --all``'s sweep: the labs of killed test runs, as `down` describes."""
    stopped = []
    try:
        homes = registered_homes()
    except (Untrusted, OSError) as exc:
        print(f"labkit: not stopping other labs: {exc}", file=sys.stderr)
        return []
    for entry, home in homes:
        if home == paths.home().resolve() or not (home / "state.json").is_file():
            if not (home / "state.json").is_file():
                entry.unlink(missing_ok=True)
            continue
        try:
            raw = json.loads(read_own(home / "state.json"))
        except Untrusted as exc:
            print(f"labkit: not stopping the lab in {home}: {exc}.", file=sys.stderr)
            continue
        except ValueError:
            continue
        owner = raw.get("owner_pid")
        if owner and psutil.pid_exists(owner):
            continue  # a test run that is still going
        if not owner:
            continue  # a learner's lab in another folder: theirs to stop
        stop_all([info for info in raw.get("processes", {}).values() if runs_as_me(info)])
        (home / "state.json").unlink(missing_ok=True)
        entry.unlink(missing_ok=True)
        stopped.append(f"left-over lab in {home}")
    return stopped


def _down_here(quiet: bool) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Stop this lab; returns what was stopped, and the records of the processes this one
    runs inside (`enclosing`), left running for `down` to hand over."""
    stopped = []
    last: dict[str, dict[str, Any]] = {}
    with lock():
        state = State.load()
        try:
            if compose.down(quiet=quiet):  # only if `up` started a compose cluster
                stopped.append("compose cluster")
        except LabError as exc:  # Docker gone: still stop the local processes below
            if not quiet:
                print(f"labkit: could not stop the compose cluster: {exc}")
        if state:
            last = {name: state.processes.pop(name) for name in enclosing(state.processes)}
            # JupyterLab and its kernels first (they may be using the cluster), then Flink,
            # then Kafka, each group at once
            order = [
                [n for n in state.processes if not n.startswith(("flink-", "kafka-"))],
                [n for n in state.processes if n.startswith("flink-")],
                [n for n in state.processes if n.startswith("kafka-")],
            ]
            for names in order:
                alive = [n for n in names if tracked(state.processes[n])]
                stop_all([state.processes[n] for n in alive])
                stopped += alive
        paths.state_file().unlink(missing_ok=True)
    return stopped, last


def reset(quiet: bool = False) -> None:
    """Stop the lab and delete Kafka's data and Flink's checkpoints (every topic is gone)."""
    down(quiet=quiet)
    for sub in [*paths.home().glob("kafka-*"), flink_proc.flink_home()]:
        shutil.rmtree(sub, ignore_errors=True)
    if not quiet:
        print("labkit: deleted every topic and checkpoint; `labkit up` starts an empty cluster.")
