"""The lab handle: the one object a notebook holds to reach Kafka and Flink."""

from __future__ import annotations

import os

from . import cluster
from .flink import FlinkHelpers, Job
from .kafka import KafkaHelpers


class Lab(KafkaHelpers, FlinkHelpers):
    """Where the broker and Flink are, plus the Kafka and Flink helpers.

    Get one with :func:`labkit.connect`. The handle holds addresses, not connections, so
    it is cheap and safe to keep for a whole notebook.
    """

    def __init__(self, endpoints: cluster.Endpoints) -> None:
        self.endpoints = endpoints
        self.jobs: list[Job] = []

    @property
    def backend(self) -> str:
        return self.endpoints.backend

    @property
    def bootstrap_servers(self) -> str:
        """Kafka, as this notebook reaches it."""
        return self.endpoints.bootstrap_servers

    @property
    def flink_bootstrap_servers(self) -> str:
        """Kafka, as Flink's workers reach it (differs on a containerised cluster)."""
        return self.endpoints.flink_bootstrap_servers

    @property
    def flink_rest(self) -> str | None:
        return self.endpoints.flink_rest

    @property
    def flink_python(self) -> str | None:
        """The Python that runs Python functions on Flink's workers (None: this kernel's)."""
        return self.endpoints.flink_python

    @property
    def capabilities(self) -> frozenset[str]:
        """What this backend can show in full, out of :data:`CAPABILITIES`.

        The embedded broker has none of them; Apache Kafka (compose, or a remote cluster)
        has all, ``replication`` only when three or more brokers are up. A lesson shows
        the full version where ``lab.supports(name)`` and says what it would show
        elsewhere. ``LABKIT_CAPABILITIES`` (comma list, or ``all`` / ``none``) overrides.
        """
        return _capabilities(self)

    def supports(self, name: str) -> bool:
        """True when this backend can show ``name`` (e.g. ``"retention"``) in full."""
        key = name.strip().lower().replace("-", "_")
        if key not in CAPABILITIES:
            raise ValueError(f"Unknown capability {name!r}; known: {', '.join(sorted(CAPABILITIES))}.")
        return key in self.capabilities

    def status(self) -> dict:
        return cluster.status()

    def __repr__(self) -> str:
        flink = self.flink_rest or "local mini-cluster in this kernel"
        return f"<Lab {self.backend}: Kafka at {self.bootstrap_servers}, Flink {flink}>"


#: What a lesson may need that the embedded broker cannot do (see the platform facts).
CAPABILITIES: dict[str, str] = {
    "retention": "old events deleted by age or size (retention.ms / retention.bytes)",
    "compaction": "cleanup.policy=compact keeps the latest event per key",
    "add_partitions": "a topic's partition count can grow (CreatePartitions)",
    "delete_records": "events before an offset can be deleted (DeleteRecords)",
    "replication": "replication factor 3 on three brokers; a topic survives a broker failure",
    "exactly_once": "end-to-end exactly-once after a failure (aborted transactions stay hidden)",
    "persistence": "topics keep their events when the broker restarts",
}

_REPLICATION_BROKERS = 3


def _capabilities(lab: Lab) -> frozenset[str]:
    override = os.environ.get("LABKIT_CAPABILITIES")
    if override is not None:
        names = {n.strip().lower().replace("-", "_") for n in override.split(",") if n.strip()}
        if names == {"all"}:
            return frozenset(CAPABILITIES)
        unknown = names - set(CAPABILITIES) - {"none"}
        if unknown:
            raise ValueError(f"LABKIT_CAPABILITIES names unknown capabilities: {', '.join(sorted(unknown))}.")
        return frozenset(names & set(CAPABILITIES))
    if lab.backend == "embedded":
        return frozenset()
    from .kafka import _closing

    with _closing(lab.admin()) as admin:
        cluster_info = admin.describe_cluster()
    if str(cluster_info.get("cluster_id") or "").startswith("tansu"):
        return frozenset()  # the embedded broker's engine, reached as a remote cluster
    names = set(CAPABILITIES) - {"replication"}
    if len(cluster_info.get("brokers") or []) >= _REPLICATION_BROKERS:
        names.add("replication")
    return frozenset(names)


def connect(quiet: bool = False) -> Lab:
    """Return a handle to the running lab, starting the embedded cluster if needed.

    Safe to call from any number of notebooks and after a kernel restart: they all find
    the same broker through ``.labkit/state.json``.
    """
    state = cluster.up(quiet=quiet)
    lab = Lab(state.endpoints)
    if not quiet:
        print(lab)
    return lab
