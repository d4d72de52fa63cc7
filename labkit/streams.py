"""Lesson 10's questions about a Kafka Streams application: is it balanced, what did it
leave in Kafka, what did it count - and the same for the Flink job beside it.

The application's processes (compiling ``ClickCounts.java``, starting and stopping
instances, `StreamsApp`) are :mod:`labkit.runtime.streams_proc`'s; `start`, `running` and
`stop` are re-exported here so lesson 10 needs one import. This module asks Kafka about
them::

    app = streams.start(lab, "clicks-app", clicks="clicks", counts="counts")
    app.wait_running()
    streams.counts(lab, "counts", rows=12)      # the window counts, one tidy table
    streams.internal_topics(lab, "clicks-app")  # its changelog topics
    streams.reset(lab, "clicks-app")            # stop it and delete all it left behind
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from kafka.admin import ConfigResource, ConfigResourceType

from . import paths
from .errors import LabError
from .kafka import closing
from .runtime.streams_proc import (
    READY_TIMEOUT_S,
    SOURCE,
    StreamsApp,
    StreamsUnavailable,
    app_home,
    running,
    start,
    stop,
)
from .waiting import wait_for

if TYPE_CHECKING:
    from IPython.display import Code

    from .lab import Lab

#: What lesson 10 uses from the app's processes (see the module docstring).
__all__ = [
    "EXERCISE_ARRIVALS",
    "LATE_ARRIVALS",
    "LATE_CHOICES",
    "StreamsApp",
    "StreamsUnavailable",
    "arrivals",
    "assignment",
    "closers",
    "counts",
    "dropped",
    "dropped_by",
    "expected_counts",
    "internal_topics",
    "owners",
    "read",
    "reset",
    "running",
    "send_arrivals",
    "source",
    "start",
    "stop",
    "tidy",
    "wait_balanced",
]


def source(path: Path = SOURCE) -> Code:
    """The application's Java source, syntax-highlighted in a notebook."""
    from IPython.display import Code

    return Code(path.read_text(), language="java")


def wait_balanced(
    lab: Lab, apps: list[StreamsApp], topic: str, timeout: float = READY_TIMEOUT_S
) -> pd.DataFrame:
    """Until ``apps`` (the instances of one application) are all RUNNING and split the
    partitions of ``topic`` between them - each task on exactly one instance, each instance
    with a task (while there are enough), and Kafka's group coordinator agreeing - then
    return `assignment`.

    A rebalance takes a round or two (Kafka Streams rebalances cooperatively: an instance
    first gives a task up, then the other one takes it), so one RUNNING is not enough.
    """
    application_id = apps[0].application_id
    partitions = lab.partitions(topic)
    expected = sorted(f"0_{p}" for p in partitions)
    expected_assignment = sorted(f"{topic}[{p}]" for p in partitions)
    deadline = time.monotonic() + timeout
    while True:
        for app in apps:
            if not app.alive:
                raise LabError(f"{app.name} stopped. Its log ends:\n{paths.log_tail(app.log)}")
        per_app = [app.tasks for app in apps]  # each reads the app's log: once per poll
        tasks = [t for mine in per_app for t in mine]
        everyone_works = all(per_app) or len(apps) > len(expected)
        if all(app.state == "RUNNING" for app in apps) and sorted(tasks) == expected and everyone_works:
            now = assignment(lab, application_id)
            assigned = sorted(p for parts in now["partitions"] for p in parts)
            if len(now) == len(apps) and assigned == expected_assignment:
                return now
        if time.monotonic() > deadline:
            raise LabError(
                f"The {len(apps)} instance(s) of {application_id} did not split {topic}'s partitions "
                f"within {timeout:.0f} s: states {[a.state for a in apps]}, tasks {per_app}."
            )
        time.sleep(0.2)


# --- what an application leaves in Kafka ----------------------------------------------


def _internal_topic_names(lab: Lab, application_id: str) -> list[str]:
    """The application's internal topics in Kafka: ``<application.id>-...-changelog`` and
    ``<application.id>-...-repartition``."""
    prefix = f"{application_id}-"
    return [t for t in lab.topics() if t.startswith(prefix) and t.endswith(("-changelog", "-repartition"))]


def internal_topics(lab: Lab, application_id: str) -> pd.DataFrame:
    """The topics Kafka Streams created in Kafka for the application, named
    ``<application.id>-<store>-changelog`` (a state store's backup) or ``...-repartition``
    (records re-keyed on their way to another task): partitions, events and cleanup policy."""
    names = _internal_topic_names(lab, application_id)
    with closing(lab.admin()) as admin:
        wanted = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        configs = admin.describe_configs(wanted) if names else {}
    flat: dict[str, Any] = {}
    for by_name in (configs or {}).values():
        flat.update(by_name)
    rows = []
    for name in names:
        ends = lab.end_offsets(name)
        policy = (flat.get(name) or {}).get("cleanup.policy") or {}
        rows.append(
            {
                "topic": name,
                "partitions": len(ends),
                "events": sum(ends.values()),
                "cleanup.policy": policy.get("value") if isinstance(policy, dict) else policy,
            }
        )
    return pd.DataFrame(rows, columns=["topic", "partitions", "events", "cleanup.policy"])


def assignment(lab: Lab, application_id: str) -> pd.DataFrame:
    """The application's consumer group as Kafka's group coordinator reports it: one row
    per member (an instance's stream thread) with the partitions assigned to it (topics by
    the lesson's names)."""
    with closing(lab.admin()) as admin:
        group = admin.describe_groups([application_id]).get(application_id) or {}
    rows = []
    for member in group.get("members") or []:
        assigned = member.get("member_assignment") or {}
        topics = assigned.get("assigned_partitions", [])
        parts = [f"{lab.lab_name(t['topic'])}[{p}]" for t in topics for p in sorted(t["partitions"])]
        rows.append({"client_id": member.get("client_id"), "partitions": parts})
    df = pd.DataFrame(rows, columns=["client_id", "partitions"])
    return df.sort_values("client_id", ignore_index=True)


def owners(now: pd.DataFrame) -> dict[int, int]:
    """Which instance owns which partition, from an `assignment`: ``{partition: instance}``.
    An instance's consumer is named after its ``client.id``, ``<application.id>-instance-<n>``
    (set by labkit), followed by Kafka Streams' ``-StreamThread-1-consumer``."""
    owned = {}
    for client_id, parts in zip(now["client_id"], now["partitions"], strict=True):
        found = re.search(r"-instance-(\d+)", str(client_id))
        for part in parts:
            owned[int(str(part).rsplit("[", 1)[1].rstrip("]"))] = int(found.group(1)) if found else 0
    return dict(sorted(owned.items()))


def reset(lab: Lab, application_id: str) -> None:
    """Start the application afresh, as Kafka's ``kafka-streams-application-reset`` tool
    and ``KafkaStreams.cleanUp()`` would: stop its instances, delete its consumer group
    (committed offsets), its internal topics and its local state."""
    stop(application_id)
    lab.delete_groups(application_id)
    doomed = _internal_topic_names(lab, application_id)
    if doomed:
        lab.delete_topic(*doomed)
        gone = lambda: not set(doomed) & set(lab.topics())  # noqa: E731
        wait_for(gone, f"{application_id}'s internal topics to go", 30, every=0.05)
    shutil.rmtree(app_home(application_id), ignore_errors=True)


# --- sending test data -----------------------------------------------------------

#: Lesson 10's late-data test, in the order the events are sent: (user, partition, event
#: time in seconds after `events.start_ms`). ``a`` at 5 s arrives after ``a`` at 25 s.
LATE_ARRIVALS: list[tuple[str, int, int]] = [
    ("a", 0, 1), ("a", 0, 12), ("a", 0, 25), ("b", 1, 2), ("a", 0, 5), ("b", 1, 6)
]
#: The exercise's test: two stragglers, ``a`` at 8 s (after ``a`` at 31 s) and ``b`` at 4 s
#: (after ``b`` at 9 s).
EXERCISE_ARRIVALS: list[tuple[str, int, int]] = [
    ("a", 0, 3), ("b", 1, 2), ("a", 0, 14), ("b", 1, 9), ("a", 0, 31), ("a", 0, 8), ("b", 1, 4)
]


def send_arrivals(lab: Lab, topic: str, arrivals: Sequence[tuple[str, int, int]], t0: int) -> pd.DataFrame:
    """Send each ``(user, partition, second)`` to that partition of ``topic``, in this order,
    as ``{"user_id": user, "ts": t0 + second * 1000}`` with that record timestamp (Kafka
    Streams' and Flink's event time). Returns what was sent, one row per event."""
    producer = lab.producer()
    try:
        for user, partition, second in arrivals:
            ts = t0 + second * 1000
            value = {"user_id": user, "ts": ts}
            producer.send(topic, key=user, value=value, partition=partition, timestamp_ms=ts)
        producer.flush()
    finally:
        producer.close()
    return pd.DataFrame(list(arrivals), columns=["user", "partition", "event time (s)"])


def closers(lab: Lab, topic: str, at_ms: int) -> list[dict[str, Any]]:
    """One click per partition of ``topic`` at event time ``at_ms``, each by a user already in
    that partition (so, keyed by user, it lands there): both engines' clocks move past every
    earlier window. Sent (and returned)."""
    a_user_per_partition = lab.read(topic).groupby("partition")["key"].first()
    made = [
        {"event_id": f"closer-{p}", "user_id": user, "page": "/", "device": "mobile", "ts": at_ms}
        for p, user in a_user_per_partition.items()
    ]
    lab.produce(topic, made, key="user_id", timestamp="ts")
    return made


def expected_counts(clicks: Iterable[dict[str, Any]], window_s: int) -> pd.DataFrame:
    """What both engines should say, counted with pandas: clicks per user per ``window_s``
    seconds of event time (``ts``), as user_id, window_start (UTC), clicks."""
    size = window_s * 1000
    return (
        pd.DataFrame(list(clicks))
        .assign(window_start=lambda d: pd.to_datetime(d["ts"] // size * size, unit="ms", utc=True))
        .groupby(["user_id", "window_start"])
        .size()
        .rename("clicks")
        .reset_index()
    )


_EXPIRED = re.compile(
    r"partition=\[(\d+)\] offset=\[(\d+)\] timestamp=\[(\d+)\] window=\[(\d+),(\d+)\) "
    r"expiration=\[(\d+)\] streamTime=\[(\d+)\]"
)


def dropped(app: StreamsApp, at_least: int = 0, timeout: float = 60.0) -> pd.DataFrame:
    """The events an instance dropped as late, from its log's "Skipping record for expired
    window" warnings: partition, offset, timestamp (the event's time), its window, the
    expiration (stream time - grace) and the partition's stream time then (epoch ms).
    With ``at_least``, first waits until it has logged that many."""
    columns = ["partition", "offset", "timestamp", "window_start", "window_end", "expiration", "stream_time"]

    def now() -> pd.DataFrame:
        rows = [
            [int(x) for x in found.groups()]
            for line in app.log_lines("Skipping record for expired window")
            if (found := _EXPIRED.search(line))
        ]
        return pd.DataFrame(rows, columns=columns)

    if not at_least:
        return now()
    return wait_for(
        lambda: table if len(table := now()) >= at_least else None,
        f"{app.name} to log {at_least} late event(s)",
        timeout,
    )


#: Lesson 10's prediction: who drops ``a`` at 5 s of `LATE_ARRIVALS`, and why (the keys are
#: what `dropped_by` says).
LATE_CHOICES = {
    "kafka streams": "Kafka Streams: partition 0's own clock is already at 25 s",
    "flink": "Flink: its watermark follows the newest event of all, 25 s",
    "both": "both: it arrived after a newer event of its user",
    "neither": "neither: 2 s of grace is enough for it",
}


def arrivals(sent: Sequence[tuple[str, int, int]]) -> pd.DataFrame:
    """``(user, partition, second)`` tuples (`LATE_ARRIVALS`, `EXERCISE_ARRIVALS`) as a table."""
    return pd.DataFrame(list(sent), columns=["user", "partition", "event time (s)"])


def dropped_by(
    streams_dropped: pd.DataFrame,
    flink_counts: pd.DataFrame,
    sent: pd.DataFrame,
    t0: int,
    user: str,
    second: int,
    window_s: int = 10,
) -> str:
    """Who dropped ``user``'s event at ``second`` (after ``t0``) of ``sent`` (`send_arrivals`):
    "kafka streams" (its log warned about it, `dropped`), "flink" (its count of that window,
    ``flink_counts``, is short of the events sent into it), "both" or "neither"."""
    by_streams = bool((streams_dropped["timestamp"] == t0 + second * 1000).any())
    start = pd.Timestamp(t0 + second // window_s * window_s * 1000, unit="ms", tz="UTC")
    window = flink_counts[(flink_counts["user_id"] == user) & (flink_counts["window_start"] == start)]
    into = sent[(sent["user"] == user) & (sent["event time (s)"] // window_s == second // window_s)]
    by_flink = int(window["clicks"].sum()) < len(into)
    return {(True, True): "both", (True, False): "kafka streams", (False, True): "flink"}.get(
        (by_streams, by_flink), "neither"
    )


# --- reading results ---------------------------------------------------------------


def read(lab: Lab, topic: str, rows: int, timeout: float = 90.0) -> pd.DataFrame:
    """``lab.read(topic)`` once the topic holds at least ``rows`` events."""
    return wait_for(
        lambda: df if len(df := lab.read(topic)) >= rows else None, f"{rows} events in {topic}", timeout
    )


def counts(lab: Lab, topic: str, rows: int | None = None, timeout: float = 90.0) -> pd.DataFrame:
    """The window counts in ``topic`` as one tidy table - user_id, window_start, window_end
    (UTC), clicks - sorted, whichever engine wrote them (Kafka Streams writes epoch ms,
    Flink SQL timestamps). With ``rows``, first waits until the topic holds that many."""
    raw = lab.read(topic) if rows is None else read(lab, topic, rows, timeout)
    return tidy(raw)


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """Window counts from either engine (or `lab.query`) as user_id, window_start,
    window_end (UTC timestamps), clicks (int), sorted by user and window."""
    columns = ["user_id", "window_start", "window_end", "clicks"]
    if raw.empty:
        return pd.DataFrame(columns=columns)

    def when(values: pd.Series) -> pd.Series:
        stamps = (
            pd.to_datetime(values, unit="ms", utc=True)
            if pd.api.types.is_numeric_dtype(values)
            else pd.to_datetime(values, utc=True)
        )
        return stamps.astype("datetime64[ns, UTC]")  # one unit, so tables from both engines compare equal

    out = raw.assign(window_start=when(raw["window_start"]), window_end=when(raw["window_end"]))[columns]
    return out.astype({"clicks": "int64"}).sort_values(["user_id", "window_start"], ignore_index=True)
