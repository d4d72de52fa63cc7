"""Which backend the lab runs on, and how many brokers: one stack, only the addresses differ.

``local`` (default)
    Apache Kafka (KRaft; 1 broker, or 3 with ``labkit up --brokers 3``) and a Flink
    session cluster as processes on this machine (:mod:`labkit.runtime.lifecycle`).
``compose``
    The same services in Docker containers (:mod:`labkit.runtime.compose`).
``remote``
    An existing Kafka and Flink JobManager given by the user (``LABKIT_BOOTSTRAP_SERVERS``,
    ``LABKIT_FLINK_REST``; optionally ``LABKIT_FLINK_BOOTSTRAP_SERVERS``,
    ``LABKIT_FLINK_PYTHON`` and ``LABKIT_SQL_GATEWAY``, Flink's SQL Gateway for the
    ``%%flink_sql`` cell, written like the REST address). Nothing is started or stopped.
    A JobManager that asks for a client certificate (another labkit lab's) is ``LABKIT_FLINK_REST=https://host:port``
    with ``LABKIT_FLINK_TLS`` naming that lab's ``tls`` folder (:mod:`labkit.runtime.tls`).
    A Kafka that wants a login over TLS (SASL_SSL: a managed Kafka, a classroom cluster) is
    ``LABKIT_KAFKA_PROFILE``, the path of a connection profile (:mod:`labkit.runtime.profile`),
    read and checked when the lab connects (the login itself at its first Kafka client); its
    bootstrap servers are used unless ``LABKIT_BOOTSTRAP_SERVERS`` (or, for Flink's side,
    ``LABKIT_FLINK_BOOTSTRAP_SERVERS``) says otherwise. Every labkit Kafka client and Kafka
    table then logs in with it; the state file records the profile's path, never its password.

A learner in a class runs the ``local`` backend with ``LABKIT_KAFKA_PROFILE`` naming the
profile the instructor handed out (`local_kafka_profile`): the lab starts its own Flink
(its own jobs, nobody else's) and no Kafka - every client, table and job reaches the
class's Kafka (:mod:`labkit.runtime.classroom`) with that login.

The backend is chosen by ``labkit up --backend NAME`` or ``LABKIT_BACKEND``; without
either, a kernel keeps using the compose or remote cluster recorded in the state file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LabError
from . import compose, profile
from .state import Endpoints, State


def requested_backend(backend: str | None = None) -> Endpoints | None:
    """The compose or remote cluster asked for (by ``backend``, else ``LABKIT_BACKEND``,
    else the state file), or None for the local one."""
    backend = backend or os.environ.get("LABKIT_BACKEND")
    if not backend:
        state = State.load()
        if state and state.endpoints.backend in ("compose", "remote"):
            return state.endpoints
        backend = "local"
    if backend == "local":
        return None
    if backend == "compose":
        return compose.endpoints()
    if backend == "remote":
        return remote_endpoints()
    raise LabError(f"Unknown backend {backend!r}; use 'local', 'compose' or 'remote'.")


def remote_endpoints() -> Endpoints:
    """The remote cluster the environment names; a `LabError` saying what is missing (or
    what is wrong with the connection profile ``LABKIT_KAFKA_PROFILE`` names)."""
    named = os.environ.get("LABKIT_KAFKA_PROFILE") or None
    found = profile.load(named) if named else None
    servers = os.environ.get("LABKIT_BOOTSTRAP_SERVERS") or (found.bootstrap if found else None)
    rest = os.environ.get("LABKIT_FLINK_REST")
    if not servers or not rest:
        raise LabError(
            "LABKIT_BACKEND=remote needs LABKIT_BOOTSTRAP_SERVERS=host:port (or a connection "
            "profile in LABKIT_KAFKA_PROFILE) and LABKIT_FLINK_REST=host:port (a Flink JobManager)."
        )
    return Endpoints(
        "remote",
        servers,
        os.environ.get("LABKIT_FLINK_BOOTSTRAP_SERVERS", servers),
        rest,
        os.environ.get("LABKIT_FLINK_PYTHON") or None,
        sql_gateway=os.environ.get("LABKIT_SQL_GATEWAY") or None,
        kafka_profile=str(Path(named).expanduser().resolve()) if named else None,
    )


def local_kafka_profile(state: State | None) -> str | None:
    """The connection profile a local lab reaches Kafka through instead of starting its own
    (a learner in a class: own Flink, the class's Kafka), as an absolute path, loaded and
    checked now (a clear `ProfileError` otherwise): ``LABKIT_KAFKA_PROFILE`` when it is set
    (set but empty: none, the lab's own Kafka again), else what the running local lab uses."""
    if "LABKIT_KAFKA_PROFILE" in os.environ:
        named = os.environ["LABKIT_KAFKA_PROFILE"] or None
    else:
        named = state.endpoints.kafka_profile if state and state.endpoints.backend == "local" else None
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    profile.load(path)
    return str(path)


def wanted_brokers(brokers: int | None, state: State | None) -> int:
    """How many Kafka brokers the local lab runs: ``brokers``, else ``LABKIT_BROKERS``,
    else what the running local lab has, else 1. Only 1 or 3."""
    n = brokers or int(os.environ.get("LABKIT_BROKERS", 0) or 0)
    if not n:
        n = (state.brokers or 1) if state and state.endpoints.backend == "local" else 1  # 0: a profile's
    if n not in (1, 3):
        raise LabError(f"The lab runs 1 or 3 Kafka brokers, not {n}.")
    return n
