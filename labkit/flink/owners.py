"""Whose job is it: the kernel in a Flink job's name, and cancelling the jobs of dead kernels.

A kernel killed outright (``kill -9``, the OOM killer) cancels nothing, and its streaming
jobs would hold the TaskManager's slots for good. So every job submitted from the lab's
environments (`owned_table_env`, `owned_stream_env`) carries its kernel in its name -
``insert-into_carts [kernel 12345 started 2025-01-31 09:15:02 UTC]`` - and `cancel_orphans`
(run by ``labkit.connect()``, ``labkit up`` and ``labkit status``) cancels the running jobs
whose kernel is gone. A job without that marker (submitted by hand, from Flink's SQL
client or a plain PyFlink environment) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cache
from typing import TYPE_CHECKING, Any

import psutil

from ..errors import LabError
from ..waiting import wait_for
from .client import ACTIVE, ENDED, FLINK_TIMEOUT_S, rest_api

if TYPE_CHECKING:
    from pyflink.table import TableEnvironment, TableResult

#: Flink's option for a job's name: what the Web UI lists under *Job Name*.
PIPELINE_NAME = "pipeline.name"
#: The name of a job the Table API starts (``to_pandas``, ``Table.execute``,
#: ``execute_insert``): no statement passes by to name it after.
TABLE_API_JOB = "Table API job"
#: Flink's own name for a DataStream job whose program gives none.
STREAMING_JOB = "Flink Streaming Job"
#: How far a process's start time may lie from the one in a job's name and still be that
#: process: the name keeps whole seconds, and psutil derives start times from the boot time.
START_SLACK_S = 2.0

_STAMP = "%Y-%m-%d %H:%M:%S"
_MARKER = re.compile(r" \[kernel (\d+) started (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\]\Z")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_IDENT = r"(?:`[^`]+`|[\w$]+)"
_INSERT = re.compile(
    rf"(?:^|;|\bBEGIN\b)\s*(?:EXECUTE\s+)?INSERT\s+(?:INTO|OVERWRITE)\s+(?:TABLE\s+)?({_IDENT}(?:\s*\.\s*{_IDENT})*)",
    re.IGNORECASE,
)


def marker(pid: int, started: float) -> str:
    """The end of the name of a job that process ``pid``, started at ``started`` (epoch
    seconds, psutil's ``create_time``), submitted: `` [kernel 12345 started 2025-01-31
    09:15:02 UTC]``. The start time tells a recycled pid from the kernel; UTC and the date
    keep it unambiguous on any machine; at the end, the readable part of the name comes first
    in the Web UI."""
    stamp = datetime.fromtimestamp(started, timezone.utc).strftime(_STAMP)
    return f" [kernel {pid} started {stamp} UTC]"


@cache
def _started(pid: int) -> float:
    return psutil.Process(pid).create_time()


def owned(name: str) -> str:
    """``name`` as the name of a job of this process: any owner marker it had is replaced by
    this process's (`marker`), which `owner` reads back."""
    pid = os.getpid()  # not cached: a forked child is a process of its own
    return _MARKER.sub("", name) + marker(pid, _started(pid))


def owner(name: str) -> tuple[int, float] | None:
    """(pid, start time) of the process a job's name says submitted it; None for a name
    without the marker (a job submitted by hand: not labkit's to cancel)."""
    found = _MARKER.search(name)
    if found is None:
        return None
    try:
        started = datetime.strptime(found[2], _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:  # digits in place, but no date (month 13): not a marker labkit wrote
        return None
    return int(found[1]), started.timestamp()


def is_gone(pid: int, started: float) -> bool:
    """Whether process ``pid``, started at ``started``, has ended on this machine: no such
    process, a zombie its parent has not reaped (a SIGKILLed kernel, until Jupyter notices), or
    the pid now belongs to a process started at another time (recycled). A process this user
    may not inspect counts as alive: a job is never cancelled on a guess."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started) > START_SLACK_S:
            return True
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def sinks(sql: str) -> list[str]:
    """The tables the INSERT statements in ``sql`` write to, as written there (without
    backticks): ``INSERT INTO carts ...`` -> ``["carts"]``; every INSERT of an
    ``EXECUTE STATEMENT SET``."""
    return [re.sub(r"\s*\.\s*", ".", t).replace("`", "") for t in _INSERT.findall(_COMMENTS.sub(" ", sql))]


def job_label(tables: list[str], default: str = "collect") -> str:
    """The readable part of a job's name: Flink's own default, ``insert-into_<tables>``, with
    the tables as the statement names them rather than fully qualified (shorter in the Web
    UI); ``default`` without tables (Flink calls a query whose rows come back ``collect``)."""
    return "insert-into_" + ",".join(tables) if tables else default


def _chosen(config: Any) -> str | None:
    """The job name the program chose itself (``t_env.get_config().set("pipeline.name",
    ...)``), without the marker; None while labkit names the jobs."""
    base = _MARKER.sub("", config.get(PIPELINE_NAME, ""))
    return None if base in ("", TABLE_API_JOB) else base


@contextlib.contextmanager
def _named(config: Any, label: str) -> Iterator[None]:
    """The job submitted inside the block is called ``label`` - or the name the program chose -
    plus this kernel's marker. Flink has no default to add a suffix to, so the name is set
    for this one job, and the Table API's default name is back afterwards."""
    chosen = _chosen(config)
    config.set(PIPELINE_NAME, owned(chosen or label))
    try:
        yield
    finally:
        config.set(PIPELINE_NAME, owned(chosen or TABLE_API_JOB))


def owned_table_env(t_env: TableEnvironment) -> TableEnvironment:
    """``t_env`` whose jobs carry this kernel in their names (`owned`), so `cancel_orphans`
    finds them if the kernel dies: ``execute_sql`` and statement sets name a job after its
    sink tables (`job_label`), the Table API's own jobs are `TABLE_API_JOB`. A name the
    program sets (``pipeline.name`` in ``t_env.get_config()``) is kept and gets the marker
    at the next statement. PyFlink offers no hook before a submission, so the two public
    methods are wrapped on this instance."""
    config = t_env.get_config()
    config.set(PIPELINE_NAME, owned(TABLE_API_JOB))
    execute_sql, create_statement_set = t_env.execute_sql, t_env.create_statement_set

    def named_execute_sql(stmt: str) -> TableResult:
        with _named(config, job_label(sinks(stmt))):
            return execute_sql(stmt)

    def named_statement_set() -> Any:
        statements = create_statement_set()
        tables: list[str] = []
        add_insert_sql, add_insert = statements.add_insert_sql, statements.add_insert
        execute = statements.execute

        def named_add_insert_sql(stmt: str) -> Any:
            tables.extend(sinks(stmt))
            return add_insert_sql(stmt)

        def named_add_insert(target: Any, table: Any, overwrite: bool = False) -> Any:
            tables.append(target if isinstance(target, str) else "table")
            return add_insert(target, table, overwrite)

        def named_execute() -> TableResult:
            with _named(config, job_label(tables, TABLE_API_JOB)):
                return execute()

        statements.add_insert_sql, statements.add_insert = named_add_insert_sql, named_add_insert
        statements.execute = named_execute
        return statements

    t_env.execute_sql, t_env.create_statement_set = named_execute_sql, named_statement_set
    return t_env


def owned_stream_env(env: Any) -> Any:
    """A ``StreamExecutionEnvironment`` whose jobs carry this kernel in their names: the
    name given to ``execute_async``/``execute`` plus `owned`'s marker (e.g.
    ``l09 fraud rules g1 [kernel 12345 started ...]``). ``DataStream.execute_and_collect``
    names its job in Java and stays unmarked: its jobs are bounded reads, done by themselves."""
    execute, execute_async = env.execute, env.execute_async

    def named_execute(job_name: str | None = None) -> Any:
        return execute(owned(job_name or STREAMING_JOB))

    def named_execute_async(job_name: str = STREAMING_JOB) -> Any:
        return execute_async(owned(job_name))

    env.execute, env.execute_async = named_execute, named_execute_async
    return env


def orphans(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Among ``jobs`` (REST ``jobs/overview`` entries), those still running (or about to)
    whose name carries a kernel that is gone. A name without the marker is never one."""
    found = []
    for job in jobs:
        kernel = owner(str(job.get("name", "")))
        if job.get("state") in ACTIVE and kernel is not None and is_gone(*kernel):
            found.append(job)
    return found


def cancel_orphans(rest: str | None, timeout: float = FLINK_TIMEOUT_S) -> list[str]:
    """Cancel the jobs of kernels that are gone (`orphans`) and return their names.

    A kernel killed outright cancels nothing itself, and its streaming jobs hold the
    TaskManager's slots until someone does; ``labkit.connect()`` calls this. Only for a
    cluster whose kernels run on this machine (the local backend): elsewhere a pid means
    nothing here. Waits until the jobs have ended (at most ``timeout`` s), so the next job
    finds their slots free. Never raises: a JobManager that does not answer has nothing to
    cancel now, and the caller reports the cluster's state anyway.
    """
    if not rest:
        return []
    try:
        listed = rest_api(rest, "jobs/overview")["jobs"]
    except (OSError, ValueError, LabError, KeyError, TypeError):
        return []
    cancelled: dict[str, str] = {}
    for job in orphans(listed):
        with contextlib.suppress(OSError, ValueError, LabError):  # e.g. it ended meanwhile
            rest_api(rest, f"jobs/{job['jid']}?mode=cancel", method="PATCH")
            cancelled[job["jid"]] = job["name"]

    def ended() -> bool:
        try:
            states = {j["jid"]: j["state"] for j in rest_api(rest, "jobs/overview")["jobs"]}
        except (OSError, ValueError, LabError, KeyError, TypeError):
            return False
        return all(states.get(jid, "CANCELED") in ENDED for jid in cancelled)

    if cancelled:
        what = f"Flink to cancel the jobs of dead kernels: {'; '.join(cancelled.values())}"
        with contextlib.suppress(LabError):  # still cancelling: Flink finishes it on its own
            wait_for(ended, what, timeout)
    return list(cancelled.values())


def orphans_line(names: list[str]) -> str:
    """What `cancel_orphans` did, in one line for ``labkit.connect()`` and ``labkit status``."""
    plural = "s" if len(names) > 1 else ""
    return f"(cancelled {len(names)} Flink job{plural} whose kernel is gone: {'; '.join(names)})"
