"""Lesson 04b (failure and replication): a partition leader killed mid-write, and what
was acknowledged, lost or written twice.

The lesson breaks three scratch brokers beside the lab (their processes:
:mod:`labkit.runtime.trio`), never the lab's own Kafka::

    trio = labkit.replication.start()        # 3 brokers on free 127.0.0.1 ports
    trio.create_topic("orders", partitions=3, replication_factor=3,
                      config={"min.insync.replicas": "2"})
    timeline = trio.watch("orders")           # leader + ISR of each partition, in the background
    sending = replication.Sender(trio.producer(), "orders", count=3000, per_second=300)
    trio.kill(2)                              # a real SIGKILL of broker 2's JVM
    trio.restart(2)
    replication.count_back(trio, "orders", sending.acked)
    trio.stop()

A `Trio` is a lab-like handle (the same ``producer()``, ``consumer()``, ``admin()``,
``create_topic()``, ``read()`` as `labkit.Lab`) whose clients bootstrap from the brokers
that are alive, plus what the metadata says (`Trio.leaders`, `Trio.wait_for`). `drill`
runs the whole experiment for the lesson's exercise check; the picture of a drill is
:func:`labkit.panels.lesson04b.plot_timeline`. `running` (are the trio's brokers up?) is
re-exported from the runtime so the lesson needs one import.

To make the lab itself three brokers instead, run ``labkit up --brokers 3``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from kafka import KafkaAdminClient

from .errors import LabError
from .kafka import KafkaHelpers, closing
from .runtime import trio as processes
from .runtime.trio import CONTROLLER, Brokers, running
from .waiting import wait_for

#: How long a broker's death may take to show in the metadata: the controller fences a broker
#: that misses heartbeats for broker.session.timeout.ms (Kafka's default 9 s), with margin for
#: a loaded machine.
FAILOVER_TIMEOUT_S = 60.0


__all__ = [
    "CONTROLLER", "Sender", "Timeline", "Trio", "close_producer", "count_back", "drill", "running", "start",
]


def start(brokers: int = 3, *, quiet: bool = False) -> Trio:
    """Start three Kafka brokers beside the lab, or reuse the ones already running (see
    :func:`labkit.runtime.trio.start`). Needs the lab to be up (``labkit.connect()``)."""
    return processes.start(Trio, brokers, quiet=quiet)


class Trio(Brokers, KafkaHelpers):
    """A handle on the three brokers: Kafka clients (as `labkit.Lab` has), kill/restart
    (`Brokers`), and what the metadata says of partition leaders and in-sync replicas.

    ``bootstrap_servers`` lists only the brokers whose processes are alive, so a client made
    after a kill never waits on a dead address.
    """

    @property
    def bootstrap_servers(self) -> str:
        return self.live_servers

    def create_topic(self, name: str, partitions: int = 1, **options: Any) -> str:
        """`KafkaHelpers.create_topic`, then wait until each live broker lists the topic: a
        client bootstraps from any of them, and one that had not heard of it yet answered
        `UnknownTopic` right after the creation (lesson 04b's browser run in CI, once in four)."""
        super().create_topic(name, partitions, **options)
        for address in self.live_servers.split(","):
            with closing(KafkaAdminClient(**self.client_config({"bootstrap_servers": address}))) as admin:
                listed = lambda: name in admin.list_topics()  # noqa: B023, E731 - used right here
                wait_for(listed, f"broker {address} to list {name!r}", 15, every=0.05)
        return name

    # --- what the metadata says ----------------------------------------------------

    def create_topic_on(self, name: str, broker: int, *, config: dict[str, str] | None = None) -> str:
        """A one-partition topic whose only replica is on ``broker`` (replication factor 1)."""
        self.broker(broker)
        self.create_topic(name, replace=True, assignments={0: [broker]}, config=config)
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
        last: list[pd.DataFrame | str] = ["(no answer)"]

        def holds() -> pd.DataFrame | None:
            try:
                df = self.leaders(*names)
            except Exception as exc:  # noqa: BLE001 - a broker going down mid-request: ask again
                last[0] = f"{type(exc).__name__}: {exc}"
                return None
            last[0] = df
            return df if len(df) and condition(df) else None

        try:
            return wait_for(holds, what, timeout, every=0.2)
        except LabError as exc:
            raise LabError(f"{exc} Last seen:\n{last[0]}") from None

    def watch(self, *topics: str, every: float = 0.25) -> Timeline:
        """Record every partition's leader and ISR in the background until ``.stop()``."""
        return Timeline(self, list(topics), every)


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
        self._polled = threading.Condition()
        self._polls = 0
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
            with self._polled:
                self._polls += 1
                self._polled.notify_all()
            self._done.wait(self.every)

    def wait_polls(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` more polls have been made (each records every partition once)."""
        with self._polled:
            target = self._polls + n
            if not self._polled.wait_for(lambda: self._polls >= target, timeout):
                raise TimeoutError(f"the timeline made {self._polls - target + n} of {n} polls in {timeout}s")

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
        left = max(0.0, deadline - time.monotonic())
        wait_for(lambda: self.done() >= self.count, f"answers for all {self.count} events", left, every=0.05)
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
        wait_for(lambda: len(self.acked) >= n, f"{n} acknowledged events", timeout, every=0.05)

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
    ``close()`` itself would have after its timeout. The one place labkit touches that
    thread: kafka-python has no public way to stop it."""
    from kafka.errors import KafkaTimeoutError

    try:
        producer.close(timeout=timeout)
    except KafkaTimeoutError:
        sender = producer._sender  # noqa: SLF001 - kafka-python 3.0.12 bug work-around, see above
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
