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

import shutil
import time
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
    "StreamsApp",
    "StreamsUnavailable",
    "assignment",
    "counts",
    "internal_topics",
    "read",
    "reset",
    "running",
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
    per member (an instance's stream thread) with the partitions assigned to it."""
    with closing(lab.admin()) as admin:
        group = admin.describe_groups([application_id]).get(application_id) or {}
    rows = []
    for member in group.get("members") or []:
        assigned = member.get("member_assignment") or {}
        topics = assigned.get("assigned_partitions", [])
        parts = [f"{t['topic']}[{p}]" for t in topics for p in sorted(t["partitions"])]
        rows.append({"client_id": member.get("client_id"), "partitions": parts})
    df = pd.DataFrame(rows, columns=["client_id", "partitions"])
    return df.sort_values("client_id", ignore_index=True)


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
