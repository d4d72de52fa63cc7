"""Three scratch Kafka brokers beside the lab, as processes: start, kill, restart, stop.

Lesson 04b kills brokers. Doing that to the lab's own Kafka would disturb every later
lesson, so a second KRaft cluster runs next to it: Apache Kafka's own brokers
(:mod:`labkit.runtime.kafka_proc`, the settings of ``labkit up --brokers 3``), their data
in ``LABKIT_HOME/kafka-trio`` (scratch: a fresh start deletes it), their logs in
``logs/trio-kafka-N.log``. They are recorded in the lab's state file as
``trio-kafka-1..3`` (:mod:`labkit.runtime.processes`): ``labkit status`` lists them and
``labkit down`` stops them.

`Brokers` is the process side of the handle lessons hold; :class:`labkit.replication.Trio`
adds the Kafka clients and the questions about partition leaders and in-sync replicas.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .. import paths
from ..errors import LabError
from ..paths import printer
from . import artifacts, kafka_proc
from .jvm import find_java
from .net import PortLost
from .processes import rss_mb, track, tracked, untrack, wait_gone
from .state import State

#: The trio's one KRaft controller (also a broker). Brokers 2 and 3 are brokers only, so
#: killing both still leaves a controller to move leaders and shrink ISRs; with three
#: combined controllers, two dead would be a lost quorum and no metadata change at all.
CONTROLLER = 1
#: Process names in the lab's state file and log file prefix: trio-kafka-1.log, ...
PREFIX = "trio-kafka"


def folder() -> Path:
    """Where the trio keeps its data (scratch: a fresh start deletes it)."""
    return paths.home() / "kafka-trio"


def names() -> list[str]:
    """The trio's process names in the lab's state file."""
    return [f"{PREFIX}-{n}" for n in (1, 2, 3)]


def _java() -> Path:
    return find_java().executable  # Java 17+, or a JavaNotFound that names the fix


def _track(brokers: list[kafka_proc.Broker], procs: list[subprocess.Popen]) -> None:
    """Record the trio's broker processes in the lab's state, so `labkit down` stops them."""
    for broker, proc in zip(brokers, procs, strict=True):
        track(
            f"{PREFIX}-{broker.node_id}",
            proc,
            **broker.fields(),
            log=str(paths.logs() / f"{PREFIX}-{broker.node_id}.log"),
        )


def _lab_state() -> State:
    state = State.load()
    if state is None:
        raise LabError("Start the lab first (`labkit.connect()` or `labkit up`): the trio is recorded in it.")
    return state


@dataclass
class Mark:
    """Something done to the trio, at a time (``time.monotonic()``), for the pictures."""

    t: float
    label: str


class Brokers:
    """The trio's three broker processes: where they listen, which are alive, and a real
    crash (`kill`) and repair (`restart`) of one. ``marks`` records both, with their times."""

    def __init__(
        self, brokers: list[kafka_proc.Broker], procs: dict[int, subprocess.Popen] | None = None
    ) -> None:
        self.cluster = brokers
        self._procs = dict(procs or {})  # the Popen objects this kernel holds (reaped on kill)
        self.marks: list[Mark] = []
        self.start_seconds: float | None = None

    @property
    def all_servers(self) -> str:
        return ",".join(b.address for b in self.cluster)

    @property
    def live_servers(self) -> str:
        """The addresses of the brokers whose processes are alive (all of them if none is)."""
        up = self._alive()
        live = [b.address for b in self.cluster if b.node_id in up]
        return ",".join(live) or self.all_servers

    def broker(self, node_id: int) -> kafka_proc.Broker:
        for b in self.cluster:
            if b.node_id == node_id:
                return b
        raise LabError(f"The trio has brokers 1, 2 and 3, not {node_id!r}.")

    def _info(self, node_id: int) -> dict[str, Any]:
        state = State.load()
        info = state.processes.get(f"{PREFIX}-{node_id}") if state else None
        if not info:
            raise LabError("The trio is not running (stopped, or `labkit down`): start it again.")
        return info

    def pid(self, node_id: int) -> int:
        """The process id of broker ``node_id``'s JVM."""
        self.broker(node_id)
        return int(self._info(node_id)["pid"])

    def alive(self, node_id: int) -> bool:
        try:
            return tracked(self._info(node_id)) is not None
        except LabError:
            return False

    def _alive(self) -> set[int]:
        """The node ids of the brokers whose processes are alive (one read of the state file)."""
        state = State.load()
        recorded = state.processes if state else {}
        return {b.node_id for b in self.cluster if tracked(recorded.get(f"{PREFIX}-{b.node_id}") or {})}

    def memory_mb(self) -> dict[int, float | None]:
        """Resident memory of each broker's JVM, in MB (None: not running)."""
        out: dict[int, float | None] = {}
        for b in self.cluster:
            try:
                out[b.node_id] = rss_mb(self._info(b.node_id))
            except LabError:
                out[b.node_id] = None
        return out

    def kill(self, node_id: int) -> None:
        """SIGKILL broker ``node_id``'s JVM (no clean shutdown: a crash) and wait until it is gone.

        Broker 1 is refused: it is also the trio's only controller (see `CONTROLLER`)."""
        if node_id == CONTROLLER:
            raise LabError(
                f"Broker {CONTROLLER} is also the trio's KRaft controller: killed, no leader could move "
                "and no ISR change. Kill broker 2 or 3 (e.g. trio.leader_to_kill(topic))."
            )
        pid = self.pid(node_id)
        proc = tracked(self._info(node_id))
        if proc is None:
            raise LabError(f"Broker {node_id} is not running.")
        proc.send_signal(signal.SIGKILL)
        self.marks.append(Mark(time.monotonic(), f"SIGKILL broker {node_id}"))
        popen = self._procs.get(node_id)
        if popen is not None:
            popen.wait(30)  # reap it (this kernel started it)
        else:
            wait_gone([proc], 30)  # a zombie of another parent counts as gone
        if tracked(self._info(node_id)) is not None:
            raise LabError(f"Broker {node_id} (pid {pid}) did not die within 30 s of SIGKILL.")

    def restart(self, *node_ids: int, timeout: float = kafka_proc.READY_TIMEOUT_S) -> float:
        """Start killed brokers again on their own ports and data; returns the seconds until
        all three are registered again."""
        t0 = time.monotonic()
        up = self._alive()
        dead = [self.broker(n) for n in node_ids if n not in up]
        procs = kafka_proc.start(_java(), dead, self.cluster, folder(), PREFIX, [CONTROLLER]) if dead else []
        started = {b.node_id: p for b, p in zip(dead, procs, strict=True)}
        self._procs.update(started)
        _track(dead, procs)
        names_ = " + ".join(f"broker {b.node_id}" for b in dead)
        self.marks.append(Mark(time.monotonic(), f"restart {names_}"))
        kafka_proc.wait_ready(self.cluster, started, timeout=timeout, log_prefix=PREFIX)
        return time.monotonic() - t0

    def stop(self, quiet: bool = False) -> list[str]:
        """Stop the three brokers and delete their scratch data (the lab runs on)."""
        return stop(quiet)

    def __repr__(self) -> str:
        alive = self._alive()
        up = [b.node_id for b in self.cluster if b.node_id in alive]
        return f"<Trio: brokers {up} up of 1, 2, 3 at {self.all_servers}>"


B = TypeVar("B", bound=Brokers)


def start(handle: type[B], brokers: int = 3, *, quiet: bool = False) -> B:
    """Start three Kafka brokers beside the lab, or reuse the ones already running; a
    ``handle`` on them (`Brokers` or a subclass).

    A trio whose three brokers are all alive and registered is reused as it is; otherwise
    whatever is left of it is stopped and a fresh, empty one starts (its data is scratch).
    Needs the lab to be up: the brokers are recorded in its state so that ``labkit down``
    stops them. Prints what it does and how long it took.
    """
    if brokers != 3:
        raise LabError(f"The replication trio has 3 brokers, not {brokers!r}.")
    say = printer(quiet)
    state = _lab_state()
    t0 = time.monotonic()
    recorded = [state.processes.get(n) for n in names()]
    alive = [i for i in recorded if i and tracked(i)]
    if len(alive) == len(recorded):
        trio = handle([kafka_proc.Broker.of(i) for i in alive])
        try:
            kafka_proc.wait_ready(trio.cluster, {}, timeout=10, log_prefix=PREFIX)
        except LabError:
            say("labkit: the running trio does not answer; replacing it.")
        else:
            trio.start_seconds = time.monotonic() - t0
            say(f"labkit: reusing the three brokers already running at {trio.all_servers}.")
            return trio
    if any(recorded):
        say("labkit: stopping what is left of an earlier trio.")
        untrack(*names(), timeout=5)
    shutil.rmtree(folder(), ignore_errors=True)
    java = _java()
    artifacts.ensure(quiet=True)
    for attempt in range(3):
        taken = {p for i in state.processes.values() for p in (i.get("port"), i.get("controller_port")) if p}
        plan = kafka_proc.plan(3, None, taken, first=None)
        say(
            "labkit: starting 3 Kafka brokers beside the lab on "
            + ", ".join(b.address for b in plan)
            + " (formatting their log folders, then starting; 10-30 s)..."
        )
        t_format = time.monotonic()
        procs = kafka_proc.start(java, plan, plan, folder(), PREFIX, [CONTROLLER])
        _track(plan, procs)
        took = time.monotonic() - t_format
        say(f"labkit: 3 broker JVMs started ({took:.1f} s); waiting for them to register...")
        mine = {b.node_id: p for b, p in zip(plan, procs, strict=True)}
        try:
            kafka_proc.wait_ready(plan, mine, log_prefix=PREFIX)
        except PortLost:
            if attempt == 2:
                raise
            say("labkit: another program took a port the trio had chosen; choosing other ports.")
            untrack(*names(), timeout=5)
            shutil.rmtree(folder(), ignore_errors=True)
            continue
        trio = handle(plan, mine)
        trio.start_seconds = time.monotonic() - t0
        say(f"labkit: trio ready at {trio.all_servers} in {trio.start_seconds:.1f} s.")
        return trio
    raise AssertionError("unreachable")


def running() -> bool:
    """True while a trio's brokers are recorded in the lab's state and alive."""
    state = State.load()
    return state is not None and any(tracked(state.processes.get(n) or {}) for n in names())


def stop(quiet: bool = False) -> list[str]:
    """Stop the trio (if any) and delete its scratch data; returns what was still running."""
    stopped = untrack(*names(), timeout=10)
    shutil.rmtree(folder(), ignore_errors=True)
    if not quiet:
        print(f"labkit: trio stopped ({len(stopped)} broker(s) were running); the lab runs on.")
    return stopped
