"""Flink jobs this kernel started: the `Job` handle, the kernel's list of them, and a query
with a deadline.

Jobs started through ``lab.start`` (:meth:`labkit.flink.FlinkHelpers.start`) are
remembered for the whole process: ``lab.stop_jobs()`` cancels them, ``labkit.connect()``
cancels those of an earlier run of the notebook, and they are cancelled when the kernel
shuts down. `collect` runs a query whose job is cancelled, by its unique name, when its
deadline passes.
The names of their jobs say which kernel started them (:mod:`labkit.flink.owners`).

Also here: stopping a job with a savepoint and starting its successor from it
(`stop_with_savepoint`, `resume_from`: lesson 09's drill), and `rescale`, the rescale drill:
stop with a savepoint, start again from it at another parallelism.
"""

from __future__ import annotations

import atexit
import functools
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..runtime import webui
from ..waiting import wait_for
from .client import ACTIVE, ENDED, FLINK_TIMEOUT_S, bounded, flink_sql, java_object, rest_api
from .owners import PIPELINE_NAME, owned

if TYPE_CHECKING:
    import pandas as pd
    from pyflink.table import TableEnvironment, TableResult

    from ..jobview.panel import JobView


class Job:
    """A running Flink job: its status, and a way to stop it.

    Wraps the ``JobClient`` PyFlink returns from ``execute_sql`` (INSERT) or
    ``execute_async`` (DataStream). ``rest`` is the JobManager's address (host:port), for
    the links to its Web UI pages.
    """

    def __init__(self, client: Any, name: str = "", rest: str = "", web: str | None = None) -> None:
        self.client = client
        self.name = name
        self.rest = rest
        self.web = web  # the lab's Web UI front door (host:port), if it has one
        self.started = time.time()
        self.views: weakref.WeakSet[JobView] = weakref.WeakSet()  # shown ended at once by stop()
        # How the job ended, when this handle ended it or waited for it.
        self.final: str | None = None
        # How to start this job again from a savepoint at a parallelism (`rescale`); None:
        # the job's code is not known here (whoever built it may set it)
        self.restart: Callable[[str, int], Job] | None = None

    @classmethod
    def of(cls, result: TableResult | Any, name: str = "", rest: str = "", web: str | None = None) -> Job:
        client = result.get_job_client() if hasattr(result, "get_job_client") else result
        if client is None:
            raise ValueError("That statement did not start a job (only INSERT/EXECUTE do).")
        return cls(client, name, rest, web)

    @property
    def job_id(self) -> str:
        return str(self.client.get_job_id())

    @property
    def status(self) -> str:
        """RUNNING, FINISHED, CANCELED, FAILED, ... as the JobManager reports it."""
        try:
            return str(bounded(self.client.get_job_status(), 10.0, "asking a job's status")).split(".")[-1]
        except Exception as exc:  # noqa: BLE001 - e.g. the cluster was stopped
            return self.final or f"UNKNOWN ({type(exc).__name__})"

    @property
    def web_ui(self) -> str:
        """This job's page in Flink's Web UI."""
        return self._page("overview")

    @property
    def checkpoints_ui(self) -> str:
        """This job's *Checkpoints* tab in Flink's Web UI (completed, failed, restored)."""
        return self._page("checkpoints")

    def _page(self, tab: str) -> str:
        """A link to one tab of this job's page (a login link on the lab's front door)."""
        return webui.open_link(self.rest, self.web, f"#/job/running/{self.job_id}/{tab}") if self.rest else ""

    def view(self, every: float = 2.0) -> JobView:
        """A live view of this job in a notebook (`labkit.jobview.panel.JobView`): its graph,
        records and rates, checkpoints, watermarks, refreshed every ``every`` seconds."""
        from ..jobview.panel import JobView  # ipywidgets: loaded when a notebook asks for a panel

        made = JobView(self.rest or None, self.job_id, link=lambda: self.web_ui, every=every)
        self.views.add(made)
        return made

    def show_ended(self, timeout: float = 10.0) -> None:
        """Redraw every view of this job now that it has ended (`stop` calls it): a view says
        CANCELED when the cell that stopped the job ends, not at its next refresh. The
        JobManager answers from a copy of the job's graph kept up to 3 s (its
        ``web.refresh-interval``), so a view asks again until it sees the end."""

        def shows_the_end(view: JobView) -> bool:
            view.refresh()
            return view.finished.is_set()

        for view in list(self.views):
            try:
                wait_for(functools.partial(shows_the_end, view), "a view to show its job ended", timeout)
            except Exception:  # noqa: BLE001 - a view is a picture: stopping the job must not fail on it
                pass

    def stop(self, timeout: float = FLINK_TIMEOUT_S) -> None:
        """Cancel the job and wait until it has ended (harmless if it already had)."""
        deadline = time.monotonic() + timeout
        try:
            bounded(self.client.cancel(), timeout, f"cancelling job {self.name or self.job_id}")
        except Exception:  # noqa: BLE001 - already finished or cancelled
            pass
        while time.monotonic() < deadline:
            status = self.status
            if status in ENDED or status.startswith("UNKNOWN"):
                break
            time.sleep(0.05)  # CANCELLING: tasks are being stopped
        self.final = self.final or "CANCELED"
        self.show_ended()

    def wait(self, timeout: float = 300.0) -> str:
        """Block until the job ends (bounded jobs) and return its final status; a clear
        error after ``timeout`` seconds (the job keeps running: stop it with `stop`), a
        `FlinkSqlError` (Flink's message, short) if the job failed."""
        what = f"waiting for job {self.name or self.job_id}"
        bounded(self.client.get_job_execution_result(), timeout, what)
        self.final = self.final or "FINISHED"
        return self.status

    def __repr__(self) -> str:
        return f"<Job {self.name or self.job_id} {self.status}>"


#: Every job this process started through `FlinkHelpers.start`, newest last.
_JOBS: list[Job] = []


def remember(job: Job) -> Job:
    """Add ``job`` to this kernel's jobs (`started`), which `stop_jobs` cancels."""
    _JOBS.append(job)
    return job


def forget(job: Job) -> None:
    """Drop ``job`` from this kernel's jobs (`started`), e.g. once it has been stopped;
    harmless if it is not there."""
    if job in _JOBS:
        _JOBS.remove(job)


def started() -> list[Job]:
    """The jobs this kernel started through ``lab.start`` (and has not stopped)."""
    return _JOBS


def stop_jobs(jobs: list[Job] | None = None) -> int:
    """Cancel the running jobs among ``jobs`` (default: every job this process started)."""
    jobs = _JOBS if jobs is None else jobs
    running = [j for j in jobs if j.status in ACTIVE]
    for job in running:
        job.stop()
    if jobs is _JOBS:
        _JOBS.clear()
    return len(running)


def _stop_at_exit() -> None:
    try:
        stop_jobs()
    except Exception:  # noqa: BLE001 - the interpreter is going away
        pass


atexit.register(_stop_at_exit)


def collect(t_env: TableEnvironment, sql: str, flink_rest: str | None, timeout: float) -> pd.DataFrame:
    """``t_env.sql_query(sql).to_pandas()`` with a deadline: PyFlink's own waits forever.

    The query runs in the calling thread: Flink's planner keeps per-thread state (Calcite's
    metadata provider), set up in the thread that created ``t_env``; planned from another
    thread it fails now and then with "NullPointerException: metadataHandlerProvider". A
    timer cancels the job when the deadline passes - it has a unique name, so exactly this
    job, through the REST API - which ends the wait with an error. A query Flink refuses,
    or whose job fails (it is not restarted), raises a `FlinkSqlError`
    (:func:`labkit.flink.client.flink_error`): Flink's message, short.
    """
    name = owned(f"labkit-query-{uuid.uuid4().hex[:12]}")
    t_env.get_config().set(PIPELINE_NAME, name)
    # A restart cannot help: the client stops reading at the first one ("Job restarted",
    # instead of why), and the job would go on failing, restarting, on the cluster.
    t_env.get_config().set("restart-strategy.type", "none")
    cancelled: list[int] = []

    def cancel() -> None:
        try:
            cancelled.append(cancel_by_name(flink_rest, name) if flink_rest else 0)
        except Exception:  # noqa: BLE001 - the JobManager did not answer
            cancelled.append(0)

    timer = threading.Timer(timeout, cancel)
    timer.daemon = True
    timer.start()
    try:
        with flink_sql(sql):  # Flink's message, short (the Java trace in its details)
            return t_env.sql_query(sql).to_pandas()
    except Exception:
        if cancelled:
            raise LabError(
                f"The Flink query did not finish within {timeout:.0f} s"
                + (" and was cancelled" if cancelled[0] else "")
                + ". Is a topic still growing, or the cluster busy? `lab.web_ui` opens Flink's Web UI."
            ) from None
        raise
    finally:
        timer.cancel()


def cancel_by_name(flink_rest: str, name: str) -> int:
    """Cancel the running jobs called ``name`` on the cluster (its REST API); how many."""
    jobs = rest_api(flink_rest, "jobs/overview", timeout=5)["jobs"]
    ended = ("FINISHED", "CANCELED", "FAILED")
    doomed = [j["jid"] for j in jobs if j["name"] == name and j["state"] not in ended]
    for jid in doomed:
        rest_api(flink_rest, f"jobs/{jid}?mode=cancel", timeout=5, method="PATCH")
    return len(doomed)


# --- savepoints: stop, resume, rescale ---------------------------------------------------


def stop_with_savepoint(job: Job, timeout: float = 120.0, *, drain: bool = False) -> str:
    """Stop ``job`` with a savepoint; the savepoint's path. The job's state (and a Kafka
    source's offsets) are in it.

    ``drain=False`` (lesson 09): take a savepoint, then cancel - not Flink's own
    stop-with-savepoint, which the legacy socket source fails ("Socket closed" while
    stopping); records that arrive between the two are processed again by a job resumed
    from it. ``drain=True``: Flink's own stop (``flink stop``): the sources stop first,
    then the last savepoint, so nothing is processed after it (for sources that support it,
    such as Kafka's).
    """
    from pyflink.common.completable_future import CompletableFuture
    from pyflink.java_gateway import get_gateway

    # PyFlink's JobClient.trigger_savepoint / stop_with_savepoint call Java signatures Flink 2
    # no longer has (they gained a format argument): call the Java client directly
    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    client = java_object(job.client)
    what = f"{'stopping' if drain else 'taking a savepoint of'} {job.name or job.job_id}"
    if drain:
        path = bounded(CompletableFuture(client.stopWithSavepoint(False, None, canonical)), timeout, what)
        job.final = "FINISHED"
    else:
        path = bounded(CompletableFuture(client.triggerSavepoint(None, canonical)), timeout, what)
    job.stop()
    return str(path)


def resume_from(env: Any, savepoint: str) -> Any:
    """Make the next job built on ``env`` (a stream or table environment) start from
    ``savepoint`` (its state restored)."""
    from pyflink.common import Configuration

    if hasattr(env, "get_config") and not hasattr(env, "configure"):  # a TableEnvironment
        env.get_config().set("execution.savepoint.path", savepoint)
        return env
    config = Configuration()
    config.set_string("execution.savepoint.path", savepoint)
    env.configure(config)
    return env


def rescale(job: Job, parallelism: int, timeout: float = 120.0) -> Job:
    """The rescale drill: stop ``job`` with a savepoint (Flink's own stop, `stop_with_savepoint`
    with ``drain``), then start it again from that savepoint with ``parallelism``; the new
    job. Its keyed state is split anew over the new subtasks (by key group) and each Kafka
    partition's position goes with it: totals carry on exactly. On a cluster with TaskManagers
    on several machines (:mod:`labkit.runtime.flink_join`) the new subtasks spread over them.
    Only a job that knows how to start again (``job.restart``, e.g. the drill's
    `labkit.runtime.flink_join.keyed_totals`)."""
    if job.restart is None:
        raise LabError(
            f"labkit does not know how to start {job.name or job.job_id} again: rescale a job built by a "
            "labkit function that sets `job.restart` (e.g. flink_join.keyed_totals), or stop it with "
            "`stop_with_savepoint` and start your own code with `resume_from` and the new parallelism."
        )
    if parallelism < 1:
        raise LabError(f"A job's parallelism is at least 1, not {parallelism}.")
    savepoint = stop_with_savepoint(job, timeout, drain=True)
    return job.restart(savepoint, parallelism)
