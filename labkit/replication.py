"""Three Kafka brokers beside the lab, to break on purpose (lesson 04b: failure and replication).

The lesson kills brokers. Doing that to the lab's own Kafka would disturb every later
lesson (and the learner's topics), so this module runs a second, scratch KRaft cluster
next to it::

    trio = labkit.replication.start()        # 3 brokers on free 127.0.0.1 ports
    trio.create_topic("orders", partitions=3, replication_factor=3,
                      config={"min.insync.replicas": "2"})
    trio.kill(2)                              # a real SIGKILL of broker 2's JVM
    trio.restart(2)
    trio.stop()

The brokers are Apache Kafka's own (:mod:`labkit.runtime.kafka_proc`, the settings of
``labkit up --brokers 3``: ``default.replication.factor=3``, ``min.insync.replicas=2``),
with their data in ``LABKIT_HOME/kafka-trio`` and their logs in ``logs/trio-kafka-N.log``.
They are recorded in the lab's state file as ``trio-kafka-1..3``: ``labkit status`` lists
them and ``labkit down`` stops them. A `Trio` is a lab-like handle (the same
``producer()``, ``consumer()``, ``admin()``, ``create_topic()``, ``read()`` as `labkit.Lab`)
whose clients bootstrap from the brokers that are alive.

To make the lab itself three brokers instead, run ``labkit up --brokers 3``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import cluster, paths
from .errors import LabError
from .kafka import KafkaHelpers, closing
from .runtime import artifacts, kafka_proc
from .runtime.net import PortLost

#: The trio's one KRaft controller (also a broker). Brokers 2 and 3 are brokers only, so
#: killing both still leaves a controller to move leaders and shrink ISRs; with three
#: combined controllers, two dead would be a lost quorum and no metadata change at all.
CONTROLLER = 1
#: Process names in the lab's state file and log file prefix: trio-kafka-1.log, ...
PREFIX = "trio-kafka"
#: How long a broker's death may take to show in the metadata: the controller fences a broker
#: that misses heartbeats for broker.session.timeout.ms (Kafka's default 9 s), with margin for
#: a loaded machine.
FAILOVER_TIMEOUT_S = 60.0


def folder():
    """Where the trio keeps its data (scratch: a fresh start deletes it)."""
    return paths.home() / "kafka-trio"


def _names() -> list[str]:
    return [f"{PREFIX}-{n}" for n in (1, 2, 3)]


def _say(quiet: bool) -> Callable[..., None]:
    return (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))


def _track(brokers: list[kafka_proc.Broker], procs: list) -> None:
    """Record the trio's broker processes in the lab's state, so `labkit down` stops them."""
    for broker, proc in zip(brokers, procs, strict=True):
        cluster.track(
            f"{PREFIX}-{broker.node_id}",
            proc,
            node_id=broker.node_id,
            port=broker.port,
            controller_port=broker.controller_port,
            log=str(paths.logs() / f"{PREFIX}-{broker.node_id}.log"),
        )


def start(brokers: int = 3, *, quiet: bool = False) -> Trio:
    """Start three Kafka brokers beside the lab, or reuse the ones already running.

    A trio whose three brokers are all alive and registered is reused as it is; otherwise
    whatever is left of it is stopped and a fresh, empty one starts (its data is scratch).
    Needs the lab to be up (``labkit.connect()``): the brokers are recorded in its state so
    that ``labkit down`` stops them. Prints what it does and how long it took.
    """
    if brokers != 3:
        raise LabError(f"The replication trio has 3 brokers, not {brokers!r}.")
    say = _say(quiet)
    state = cluster.State.load()
    if state is None:
        raise LabError("Start the lab first (`labkit.connect()` or `labkit up`): the trio is recorded in it.")
    t0 = time.monotonic()
    recorded = [state.processes.get(n) for n in _names()]
    if all(i and cluster.tracked(i) for i in recorded):
        trio = Trio([kafka_proc.Broker(i["node_id"], i["port"], i["controller_port"]) for i in recorded])
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
        cluster.untrack(*_names(), timeout=5)
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
            cluster.untrack(*_names(), timeout=5)
            shutil.rmtree(folder(), ignore_errors=True)
            continue
        trio = Trio(plan, mine)
        trio.start_seconds = time.monotonic() - t0
        say(f"labkit: trio ready at {trio.all_servers} in {trio.start_seconds:.1f} s.")
        return trio
    raise AssertionError("unreachable")


def running() -> bool:
    """True while a trio's brokers are recorded in the lab's state and alive."""
    state = cluster.State.load()
    return bool(state) and any(cluster.tracked(state.processes.get(n) or {}) for n in _names())


def stop(quiet: bool = False) -> list[str]:
    """Stop the trio (if any) and delete its scratch data; returns what was still running."""
    stopped = cluster.untrack(*_names(), timeout=10)
    shutil.rmtree(folder(), ignore_errors=True)
    if not quiet:
        print(f"labkit: trio stopped ({len(stopped)} broker(s) were running); the lab runs on.")
    return stopped


def _java():
    from .java import find_java

    java = find_java()
    if java.major < 17:
        raise LabError(f"{java.describe()} is too old: Kafka 4 needs Java 17 or newer. {cluster.java_fix()}")
    return java.executable


@dataclass
class Mark:
    """Something done to the trio, at a time (``time.monotonic()``), for the pictures."""

    t: float
    label: str


class Trio(KafkaHelpers):
    """A handle on the three brokers: Kafka clients (as `labkit.Lab` has) plus kill/restart.

    ``bootstrap_servers`` lists only the brokers whose processes are alive, so a client made
    after a kill never waits on a dead address.
    """

    def __init__(self, brokers: list[kafka_proc.Broker], procs: dict[int, subprocess.Popen] | None = None):
        self.cluster = brokers
        self._procs = dict(procs or {})  # the Popen objects this kernel holds (reaped on kill)
        self.marks: list[Mark] = []
        self.start_seconds: float | None = None

    # --- where ---------------------------------------------------------------------

    @property
    def all_servers(self) -> str:
        return ",".join(b.address for b in self.cluster)

    @property
    def bootstrap_servers(self) -> str:  # type: ignore[override]
        live = [b.address for b in self.cluster if self.alive(b.node_id)]
        return ",".join(live) or self.all_servers

    def broker(self, node_id: int) -> kafka_proc.Broker:
        for b in self.cluster:
            if b.node_id == node_id:
                return b
        raise LabError(f"The trio has brokers 1, 2 and 3, not {node_id!r}.")

    def _info(self, node_id: int) -> dict:
        state = cluster.State.load()
        info = state.processes.get(f"{PREFIX}-{node_id}") if state else None
        if not info:
            raise LabError("The trio is not running (stopped, or `labkit down`): start it again.")
        return info

    def pid(self, node_id: int) -> int:
        """The process id of broker ``node_id``'s JVM."""
        self.broker(node_id)
        return self._info(node_id)["pid"]

    def alive(self, node_id: int) -> bool:
        try:
            return cluster.tracked(self._info(node_id)) is not None
        except LabError:
            return False

    def memory_mb(self) -> dict[int, float | None]:
        """Resident memory of each broker's JVM, in MB (None: not running)."""
        out = {}
        for b in self.cluster:
            try:
                out[b.node_id] = cluster.rss_mb(self._info(b.node_id))
            except LabError:
                out[b.node_id] = None
        return out

    # --- breaking and repairing ----------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL broker ``node_id``'s JVM (no clean shutdown: a crash) and wait until it is gone.

        Broker 1 is refused: it is also the trio's only controller (see `CONTROLLER`)."""
        if node_id == CONTROLLER:
            raise LabError(
                f"Broker {CONTROLLER} is also the trio's KRaft controller: killed, no leader could move "
                "and no ISR change. Kill broker 2 or 3 (e.g. trio.leader_to_kill(topic))."
            )
        pid = self.pid(node_id)
        proc = cluster.tracked(self._info(node_id))
        if proc is None:
            raise LabError(f"Broker {node_id} is not running.")
        proc.send_signal(signal.SIGKILL)
        self.marks.append(Mark(time.monotonic(), f"SIGKILL broker {node_id}"))
        popen = self._procs.get(node_id)
        if popen is not None:
            popen.wait(30)  # reap it (this kernel started it)
        else:
            cluster.wait_gone([proc], 30)  # a zombie of another parent counts as gone
        if cluster.tracked(self._info(node_id)) is not None:
            raise LabError(f"Broker {node_id} (pid {pid}) did not die within 30 s of SIGKILL.")

    def restart(self, *node_ids: int, timeout: float = kafka_proc.READY_TIMEOUT_S) -> float:
        """Start killed brokers again on their own ports and data; returns the seconds until
        all three are registered again."""
        t0 = time.monotonic()
        dead = [self.broker(n) for n in node_ids if not self.alive(n)]
        procs = kafka_proc.start(_java(), dead, self.cluster, folder(), PREFIX, [CONTROLLER]) if dead else []
        self._procs.update({b.node_id: p for b, p in zip(dead, procs, strict=True)})
        _track(dead, procs)
        names = " + ".join(f"broker {b.node_id}" for b in dead)
        self.marks.append(Mark(time.monotonic(), f"restart {names}"))
        started = {b.node_id: p for b, p in zip(dead, procs, strict=True)}
        kafka_proc.wait_ready(self.cluster, started, timeout=timeout, log_prefix=PREFIX)
        return time.monotonic() - t0

    def stop(self, quiet: bool = False) -> list[str]:
        """Stop the three brokers and delete their scratch data (the lab runs on)."""
        return stop(quiet)

    # --- what the metadata says ----------------------------------------------------

    def create_topic_on(self, name: str, broker: int, *, config: dict[str, str] | None = None) -> str:
        """A one-partition topic whose only replica is on ``broker`` (replication factor 1)."""
        self.broker(broker)
        with closing(self.admin()) as admin:
            if name in admin.list_topics():
                admin.delete_topics([name])
                _until(lambda: name not in admin.list_topics(), f"topic {name!r} to be deleted", 15)
            deadline = time.monotonic() + 15
            while True:
                try:
                    admin.create_topics({name: {"assignments": {0: [broker]}, "configs": dict(config or {})}})
                    break
                except Exception as exc:  # noqa: BLE001 - "already exists" while the old one is deleted
                    if "TopicAlreadyExists" not in type(exc).__name__ or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            _until(lambda: name in admin.list_topics(), f"topic {name!r} to appear", 15)
        self.wait_for(name, lambda d: d.leader.notna().all(), f"topic {name!r} to have its leader", 15)
        return name

    def leader_to_kill(self, topic: str) -> tuple[int, int]:
        """(partition, its leader): the first partition of ``topic`` led by a broker other
        than the controller, so that killing that leader leaves the controller running."""
        for row in self.leaders(topic).itertuples():
            if row.leader is not None and row.leader != CONTROLLER:
                return int(row.partition), int(row.leader)
        raise LabError(f"Every partition of {topic!r} is led by broker {CONTROLLER} (the controller).")

    def leaders(self, *topics: str) -> pd.DataFrame:
        """One row per partition: its leader (None: no leader, the partition is offline), its
        replicas and its in-sync replicas (ISR), as the live brokers' metadata says now."""
        with closing(self.admin()) as admin:
            described = admin.describe_topics(list(topics))
        rows = []
        for t in described:
            for p in t["partitions"]:
                rows.append(
                    {
                        "topic": t["name"],
                        "partition": p["partition_index"],
                        "leader": None if p["leader_id"] < 0 else p["leader_id"],
                        "replicas": sorted(p["replica_nodes"]),
                        "isr": sorted(p["isr_nodes"]),
                    }
                )
        df = pd.DataFrame(rows, columns=["topic", "partition", "leader", "replicas", "isr"])
        df["leader"] = _ids_or_none(df["leader"])
        return df.sort_values(["topic", "partition"]).reset_index(drop=True)

    def wait_for(
        self,
        topics: str | Iterable[str],
        condition: Callable[[pd.DataFrame], bool],
        what: str,
        timeout: float = FAILOVER_TIMEOUT_S,
    ) -> pd.DataFrame:
        """Poll the metadata until ``condition(leaders)`` holds; returns that table. A clear
        error naming ``what`` after ``timeout`` s."""
        names = [topics] if isinstance(topics, str) else list(topics)
        deadline = time.monotonic() + timeout
        last: pd.DataFrame | str = "(no answer)"
        while True:
            try:
                df = self.leaders(*names)
                if len(df) and condition(df):
                    return df
                last = df
            except Exception as exc:  # noqa: BLE001 - a broker going down mid-request: ask again
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise LabError(f"Timed out after {timeout:.0f} s waiting for {what}. Last seen:\n{last}")
            time.sleep(0.2)

    def watch(self, *topics: str, every: float = 0.25) -> Timeline:
        """Record every partition's leader and ISR in the background until ``.stop()``."""
        return Timeline(self, list(topics), every)

    def __repr__(self) -> str:
        up = [b.node_id for b in self.cluster if self.alive(b.node_id)]
        return f"<Trio: brokers {up} up of 1, 2, 3 at {self.all_servers}>"


# --- recording and drawing ----------------------------------------------------------


@dataclass
class Timeline:
    """Leader and ISR of each partition over time, polled in a background thread."""

    trio: Trio
    topics: list[str]
    every: float = 0.25
    rows: list[dict] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trio-timeline", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                now = time.monotonic()
                for row in self.trio.leaders(*self.topics).to_dict("records"):
                    self.rows.append({"t": now, **row})
            except Exception:  # noqa: BLE001 - a broker dying mid-request: the next poll answers
                pass
            self._done.wait(self.every)

    def stop(self) -> pd.DataFrame:
        self._done.set()
        self._thread.join(10)
        return self.frame()

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(list(self.rows), columns=["t", "topic", "partition", "leader", "replicas", "isr"])
        df["t"] = df["t"] - self.t0
        df["leader"] = _ids_or_none(df["leader"])
        return df


def _ids_or_none(column: pd.Series) -> pd.Series:
    """Broker ids as ints and a missing leader as None (pandas would make both floats, NaN)."""
    return pd.Series([None if pd.isna(v) else int(v) for v in column], index=column.index, dtype=object)


BROKER_COLORS = {1: "#4C72B0", 2: "#DD8452", 3: "#55A868"}


def plot_timeline(timeline: Timeline, sent: Sender | None = None, title: str = ""):
    """The picture of a drill: per partition, a bar coloured by its leader (grey: no
    leader) with its in-sync replicas written on it; the kills and restarts as numbered red
    lines; underneath, the events acknowledged per second in each partition. Returns the
    matplotlib figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    df = timeline.frame()
    keys = sorted({(r.topic, r.partition) for r in df.itertuples()})
    rows = 2 if sent is not None else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 1.4 + 0.6 * len(keys) + (2.4 if sent else 0)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [max(1, len(keys)), 3][:rows]},
    )
    ax = axes[0][0]
    end = float(df["t"].max()) if len(df) else 1.0
    for y, (topic, part) in enumerate(keys):
        seq = df[(df.topic == topic) & (df.partition == part)].sort_values("t").to_dict("records")
        segments = []  # (start, end, leader, isr): runs of the same leader and ISR
        for r in seq:
            state = (r["leader"], tuple(r["isr"]))
            if segments and tuple(segments[-1][2:]) == state:
                segments[-1][1] = r["t"]
            else:
                if segments:
                    segments[-1][1] = r["t"]
                segments.append([r["t"], r["t"], *state])
        if segments:
            segments[-1][1] = end
        for n, (a, b, leader, isr) in enumerate(segments, 1):
            color = BROKER_COLORS.get(leader, "#bbbbbb") if leader is not None else "#bbbbbb"
            ax.barh(y, b - a, left=a, color=color, edgecolor="white", height=0.6)
            text = "ISR " + (",".join(map(str, isr)) if isr else "none")
            if b - a > 0.06 * end:  # room for a label
                ax.text(a + 0.01 * end, y, text, va="center", fontsize=8)
            elif n == len(segments):  # the state at the end, however short: right-aligned
                ax.text(end - 0.005 * end, y, text, va="center", ha="right", fontsize=8, weight="bold")
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{t} p{p}" for t, p in keys])
    ax.invert_yaxis()
    handles = [Patch(color=c, label=f"leader: broker {n}") for n, c in BROKER_COLORS.items()]
    handles.append(Patch(color="#bbbbbb", label="no leader (offline)"))
    marks = [(m.t - timeline.t0, m.label) for m in timeline.trio.marks if 0 <= m.t - timeline.t0 <= end]
    for i, (x, label) in enumerate(marks, 1):
        for row in axes:
            row[0].axvline(x, color="#cf222e", linestyle="--", linewidth=1)
        ax.text(x, -0.55, str(i), color="#cf222e", fontsize=9, ha="center", va="bottom", weight="bold")
        handles.append(Patch(color="#cf222e", label=f"{i}: {label} ({x:.1f} s)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(title or "leader (colour) and in-sync replicas (ISR) of each partition", pad=14)
    if sent is not None:
        ax2 = axes[1][0]
        acks = sent.acks_frame(timeline.t0)
        if len(acks):
            acks["second"] = acks["t"].clip(lower=0).astype(int)
            per = acks.groupby(["second", "partition"]).size().unstack(fill_value=0)
            per = per.reindex(range(int(end) + 1), fill_value=0)
            for part in per.columns:
                ax2.step(per.index, per[part], where="post", label=f"{sent.topic} p{part}")
        ax2.set_ylabel("acknowledged\nevents / s")
        ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes[-1][0].set_xlabel("seconds since the watch began")
    axes[-1][0].set_xlim(0, end)
    fig.tight_layout()
    return fig


# --- producing numbered events and counting them back ------------------------------


class Sender:
    """Sends ``count`` numbered events (``{"seq": n}``) at a steady pace from a background
    thread with the producer given, and records which the broker acknowledged (and when, and
    to which partition) and which failed (and why)."""

    def __init__(
        self, producer: Any, topic: str, count: int, per_second: float, first: int = 0, key: bool = True
    ) -> None:
        self.producer, self.topic, self.count, self.per_second = producer, topic, count, per_second
        self.first = first
        self.key = key
        self.acked: dict[int, tuple[float, int]] = {}  # seq -> (monotonic time, partition)
        self.failed: dict[int, BaseException] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"sender-{topic}", daemon=True)
        self._thread.start()

    def _ok(self, seq: int, metadata: Any) -> None:
        with self._lock:
            self.acked[seq] = (time.monotonic(), metadata.partition)

    def _fail(self, seq: int, exc: BaseException) -> None:
        with self._lock:
            self.failed[seq] = exc

    def _run(self) -> None:
        t0 = time.monotonic()
        for i in range(self.count):
            seq = self.first + i
            key = str(seq) if self.key else None
            try:
                future = self.producer.send(self.topic, key=key, value={"seq": seq})
            except Exception as exc:  # noqa: BLE001 - e.g. metadata never arrives: counted as failed
                self._fail(seq, exc)
                continue
            future.add_callback(lambda md, seq=seq: self._ok(seq, md))
            future.add_errback(lambda exc, seq=seq: self._fail(seq, exc))
            pause = t0 + (i + 1) / self.per_second - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    def done(self) -> int:
        """How many sends have an answer (acknowledged or failed) so far."""
        return len(self.acked) + len(self.failed)

    def wait(self, timeout: float = 180.0) -> Sender:
        """Until every event is sent and answered (acknowledged or failed)."""
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        self.producer.flush(timeout=max(1.0, deadline - time.monotonic()))
        left = deadline - time.monotonic()
        _until(lambda: self.done() >= self.count, f"answers for all {self.count} events", left)
        return self

    def settle(self, timeout: float) -> int:
        """Wait until every event has an answer or ``timeout`` s have passed, without
        raising; returns how many have no answer. (kafka-python 3.0.12 may keep retrying a
        refused batch past ``delivery_timeout_ms``, so a flush is not a bounded wait.)"""
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        while self.done() < self.count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.count - self.done()

    def wait_acked(self, n: int, timeout: float = 60.0) -> None:
        _until(lambda: len(self.acked) >= n, f"{n} acknowledged events", timeout)

    def acks_frame(self, t0: float) -> pd.DataFrame:
        with self._lock:
            rows = [{"seq": s, "t": t - t0, "partition": p} for s, (t, p) in self.acked.items()]
        return pd.DataFrame(rows, columns=["seq", "t", "partition"])

    def errors(self) -> dict[str, int]:
        """Failed sends per error type."""
        out: dict[str, int] = {}
        for exc in list(self.failed.values()):
            out[type(exc).__name__] = out.get(type(exc).__name__, 0) + 1
        return out


def close_producer(producer: Any, timeout: float = 5.0) -> None:
    """Close a kafka-python producer even when some of its batches never got an answer.

    kafka-python 3.0.12's ``close()`` raises from its flush when batches are still pending
    and then leaves its I/O thread running (retrying for ever); stop that thread the way
    ``close()`` itself would have after its timeout."""
    from kafka.errors import KafkaTimeoutError

    try:
        producer.close(timeout=timeout)
    except KafkaTimeoutError:
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.is_alive():
            sender.force_close()
            sender.join(timeout)


def count_back(
    handle: KafkaHelpers, topic: str, acked: Iterable[int], timeout: float = 60.0
) -> dict[str, Any]:
    """Read ``topic`` from the start and compare with the acknowledged sequence numbers:
    how many were read, which acknowledged ones are missing, which appear more than once."""
    df = handle.read(topic, timeout=timeout)
    seqs = df["seq"].astype(int).tolist() if "seq" in df else []
    counts: dict[int, int] = {}
    for s in seqs:
        counts[s] = counts.get(s, 0) + 1
    acked_set = set(acked)
    return {
        "read": len(seqs),
        "acknowledged": len(acked_set),
        "missing": sorted(acked_set - set(counts)),
        "duplicates": sorted(s for s, c in counts.items() if c > 1),
    }


def _until(cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + max(0.0, timeout)
    while not cond():
        if time.monotonic() > deadline:
            raise LabError(f"Timed out waiting for {what}.")
        time.sleep(0.05)


def drill(
    trio: Trio,
    topic: str,
    *,
    replication_factor: int,
    min_insync_replicas: int,
    acks: int | str,
    count: int = 1500,
    per_second: float = 300,
    delivery_timeout_ms: int = 40_000,
) -> dict[str, Any]:
    """Create ``topic`` (3 partitions) with these settings on the trio, produce ``count``
    numbered events with ``acks``, SIGKILL a partition's leader a third of the way in, let
    the producer finish, restart the broker, wait for every ISR to be full again, then count
    what was acknowledged and what is in the topic. Used by lesson 04b's exercise check.

    A write that is refused or never answered counts as not acknowledged once
    ``delivery_timeout_ms`` (Kafka's default is 120 s; 40 s leaves time for the controller
    to fence the dead broker, 9 s by default, on a loaded machine) and 15 s more have passed.
    """
    trio.create_topic(
        topic,
        partitions=3,
        replace=True,
        replication_factor=replication_factor,
        config={"min.insync.replicas": str(min_insync_replicas)},
    )
    full = lambda d: all(len(i) == len(r) for i, r in zip(d.isr, d.replicas, strict=True))  # noqa: E731
    trio.wait_for(topic, full, f"every replica of {topic} in sync")
    partition, leader = trio.leader_to_kill(topic)
    idempotent = acks in ("all", -1)  # kafka-python turns idempotence off (warning) for acks 0/1
    producer = trio.producer(
        acks=acks,
        enable_idempotence=idempotent,
        delivery_timeout_ms=delivery_timeout_ms,
        request_timeout_ms=10_000,
    )
    try:
        sender = Sender(producer, topic, count, per_second)
        sender.wait_acked(count // 3, timeout=60)
        trio.kill(leader)
        unanswered = sender.settle(timeout=delivery_timeout_ms / 1000 + 15)
    finally:
        close_producer(producer)
    # count once the broker is back: with one copy, its partition cannot be read before
    trio.restart(leader)
    trio.wait_for(topic, full, f"every replica of {topic} back in sync", 120)
    counted = count_back(trio, topic, sender.acked)
    return {
        "killed": leader,
        "partition": partition,
        "sent": count,
        "acknowledged": len(sender.acked),
        "errors": {**sender.errors(), **({"no answer": unanswered} if unanswered else {})},
        **{k: v for k, v in counted.items() if k != "acknowledged"},
    }
