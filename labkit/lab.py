"""The lab handle: the one object a notebook holds to reach Kafka and Flink."""

from __future__ import annotations

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

    def status(self) -> dict:
        return cluster.status()

    def __repr__(self) -> str:
        flink = self.flink_rest or "local mini-cluster in this kernel"
        return f"<Lab {self.backend}: Kafka at {self.bootstrap_servers}, Flink {flink}>"


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
