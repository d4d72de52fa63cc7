"""The lab handle: the one object a notebook holds to reach Kafka and Flink.

`connect` makes sure the cluster runs (:mod:`labkit.runtime.lifecycle`) and returns a
`Lab`: the cluster's addresses (:class:`~labkit.runtime.state.Endpoints`) plus the Kafka
helpers (:mod:`labkit.kafka`) and the Flink helpers (:mod:`labkit.flink`) mixed in.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import flink
from .errors import LabError
from .flink import FlinkHelpers
from .flink.errors import show_java_errors
from .flink.named_kafka import name_datastream_kafka
from .flink.owners import cancel_orphans, orphans_line
from .kafka import KafkaHelpers, closing
from .runtime import cli_tools, drills, lifecycle, webui
from .runtime.state import Endpoints
from .runtime.status import status

if TYPE_CHECKING:
    from .panels.status import StatusPanel
    from .runtime.connect_proc import KafkaConnect
    from .runtime.postgres_proc import Postgres


class Lab(KafkaHelpers, FlinkHelpers):
    """Where the broker and Flink are, plus the Kafka and Flink helpers.

    Get one with :func:`labkit.connect`. The handle holds addresses, not connections, so
    it is cheap and safe to keep for a whole notebook.
    """

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

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
        """The Flink JobManager's REST address (host:port): jobs are submitted there."""
        return self.endpoints.flink_rest

    @property
    def web_ui(self) -> str:
        """A link to Flink's Web UI: running jobs, their graphs, checkpoints, TaskManagers.
        On the local backend it signs this browser in to the lab's front door
        (:mod:`labkit.runtime.webui`): each link works once, within an hour."""
        return webui.open_link(self.flink_rest, self.endpoints.web_ui)

    @property
    def flink_web_ui(self) -> str | None:
        """The Web UI's address (host:port) when the lab has a front door, else None."""
        return self.endpoints.web_ui

    @property
    def flink_python(self) -> str | None:
        """The Python that runs Python functions on Flink's workers (None: this kernel's)."""
        return self.endpoints.flink_python

    @property
    def brokers(self) -> int:
        """How many Kafka brokers are up (3 for the replication lessons: `labkit up --brokers 3`)."""
        with closing(self.kafka_admin()) as admin:
            return len(admin.describe_cluster().get("brokers") or [])

    def restart_broker(self, node_id: int | None = None) -> float:
        """Restart the lab's Kafka broker: a clean stop, then a start on the same port with
        the same data folder; returns the seconds it took, once the broker serves again.

        Lesson 04 uses it to show that what Kafka stored survives a restart. Only the local
        backend's brokers are the lab's to restart (a clear error elsewhere).
        """
        t0 = time.monotonic()
        drills.restart_broker(node_id)
        return time.monotonic() - t0

    def drill_here(self, what: str) -> bool:
        """Whether a lesson's failure drill - or a part that needs what only the local lab has,
        its PostgreSQL - can run on this lab: True on the local backend, whose Kafka and Flink
        are processes the lab started (its to restart or kill, on this machine). Elsewhere
        (compose, remote) it prints one line saying ``what`` (e.g. "the broker restart") is
        skipped and why, and returns False: the lesson's cell skips it.

        A local lab on a shared (classroom) Kafka - a connection profile - started its own
        Flink but not its Kafka: a drill on Flink (a TaskManager kill) still runs; one on
        Kafka (``what`` names its broker) would break the whole class's, so it is skipped
        with one line, the same way.
        """
        if self.backend == "local" and not (self.endpoints.kafka_profile and drills.about_kafka(what)):
            return True
        if self.backend == "local":
            print(
                f"Skipped: {what} needs a Kafka of the lab's own; this lab's is a shared one "
                f"({self.bootstrap_servers}, through a connection profile), not the lab's to break."
            )
            return False
        print(
            f"Skipped: {what} needs the local backend (the default); this lab runs on {self.backend!r}"
            " - see docs/compose.md, 'Lessons that need the local backend'."
        )
        return False

    def postgres(self) -> Postgres:
        """The lab's PostgreSQL, the database at the end of a pipeline: started on first use
        (a few seconds the first time), then reused; ``labkit down`` stops it, its data stays
        in LABKIT_HOME. ``.jdbc_url`` for Flink's JDBC connector, ``.query(sql)`` for a
        DataFrame, ``.connect()`` for psycopg (:mod:`labkit.runtime.postgres_proc`)."""
        from .runtime import postgres_proc

        if self.backend != "local":
            raise LabError(
                f"The lab's PostgreSQL runs beside a local lab only; this lab runs on {self.backend!r}, "
                "whose Flink could not reach a database on this machine's loopback."
            )
        return postgres_proc.ensure_running(quiet=False)

    def kafka_connect(self) -> KafkaConnect:
        """The lab's Kafka Connect worker (standalone), data *into* Kafka from a file or from
        PostgreSQL (Debezium): started on first use, then reused; ``labkit down`` stops it.
        ``.create(name, config)`` / ``.wait_running(name)`` / ``.status(name)`` /
        ``.delete(name)``; its REST API takes the lab's password only
        (:mod:`labkit.runtime.connect_proc`)."""
        from .runtime import connect_proc

        if self.backend != "local":
            raise LabError(
                f"The lab's Kafka Connect runs beside a local lab only; this lab runs on {self.backend!r}."
            )
        return connect_proc.ensure_running(quiet=False)

    def status(self) -> dict[str, Any]:
        """What runs where, as plain data (what `labkit status --json` prints)."""
        return status()

    def health(self) -> StatusPanel:
        """A panel showing Kafka's and Flink's versions, brokers, TaskManagers, slots, jobs,
        memory per process and a link to Flink's Web UI, with a Refresh button."""
        from .panels.status import StatusPanel  # ipywidgets: loaded when a notebook asks for a panel

        return StatusPanel()

    def __repr__(self) -> str:
        web = self.endpoints.web_ui or self.flink_rest
        return f"<Lab {self.backend}: Kafka at {self.bootstrap_servers}, Flink Web UI at http://{web}>"


def connect(quiet: bool = False) -> Lab:
    """Return a handle to the running lab, starting (or repairing) the cluster if needed.

    Safe to call from any number of notebooks and after a kernel restart: they all find
    the same cluster through ``.labkit/state.json``. Jobs this kernel started before
    (an earlier run of the same notebook) are cancelled, so a re-run starts clean; so are
    the jobs of kernels that died without cancelling theirs (``kill -9``), which would
    hold the TaskManager's slots - on the local backend, where those kernels ran.
    """
    state = lifecycle.up(quiet=quiet)
    stopped = flink.stop_jobs()
    local = state.endpoints.backend == "local"
    orphaned = cancel_orphans(state.endpoints.flink_rest) if local else []
    lab = Lab(state.endpoints)
    name_datastream_kafka(lab if state.endpoints.kafka_profile else None)
    cli_tools.add_to_path()  # in a notebook: `!kafka-topics.sh ...`, `!flink list` (runtime/cli_tools.py)
    _load_sql_cell()
    show_java_errors()  # in a notebook: PyFlink's Java errors as Flink's message, short
    if not quiet:
        print(lab)
        if stopped:
            plural = "s" if stopped > 1 else ""
            print(f"(cancelled {stopped} Flink job{plural} this kernel had started before)")
        if orphaned:
            print(orphans_line(orphaned))
    return lab


def _load_sql_cell() -> None:
    """In a notebook: the ``%%flink_sql`` cell (:mod:`labkit.sql.magic`), ready to use, on a
    new SQL Gateway session (the old one's jobs were stopped with the kernel's others)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return
    shell = get_ipython()
    if shell is None:
        return
    from .sql import magic

    if "flink_sql" not in shell.magics_manager.magics["cell"]:
        magic.load_ipython_extension(shell)
    magic.reset()  # a re-run of the notebook starts with a new session: no tables left over
