"""Flink helpers: ready-made PyFlink environments wired to the lab's Kafka and Flink cluster.

Every job goes to the lab's JobManager (``lab.flink_rest``, the Web UI's address) and
runs on its TaskManager: locally, in Docker or on a remote cluster, the same code path.
This kernel only plans jobs (PyFlink's client JVM) and submits them.

What the factories set, and why:

* ``execution.target: remote`` + the JobManager's address - submit to the cluster;
* Flink's official Kafka connector on the client's classpath (the planner needs it to
  read a Kafka table's DDL; the cluster has the same jar in its ``lib/``), see
  :mod:`labkit.runtime.artifacts`;
* ``python.executable`` - Python operators run in a separate worker process, which
  otherwise may not find ``pyflink`` outside an activated virtualenv;
* ``python.fn-execution.bundle.time`` 20 ms - the 1 s default makes every hop through a
  Python function take ~2 s, far too slow for a live plot;
* parallelism 1 - results in a predictable order and a small JVM on a laptop;
* a Flink log folder per process, quiet logs - by default every process overwrites the
  same log files inside site-packages.

Jobs this kernel starts through :meth:`FlinkHelpers.start` are remembered for the whole
process: ``lab.stop_jobs()`` cancels them, ``labkit.connect()`` cancels those of an
earlier run of the notebook, and they are cancelled when the kernel shuts down.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import paths
from .errors import LabError
from .java import ensure_java_env
from .runtime import artifacts

if TYPE_CHECKING:
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import TableEnvironment, TableResult

BUNDLE_TIME_MS = 20
#: How long labkit waits on Flink before it says so (a job's status, a cancel, a result).
FLINK_TIMEOUT_S = 60.0
JVM_ARGS = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k"

_jvm_ready = False


def prepare_jvm() -> None:
    """Settle Java and log locations before PyFlink starts its JVM (once per process)."""
    global _jvm_ready
    if _jvm_ready:
        return
    ensure_java_env()
    from pyflink import java_gateway

    if java_gateway._gateway is None:
        # Only inherited from a parent process whose in-process ("loopback") Python worker
        # copied the JVM's environment into os.environ (PyFlink does that); left set, PyFlink
        # refuses to start this process's own JVM ("...during Python UDF execution").
        os.environ.pop("PYFLINK_GATEWAY_DISABLED", None)
    # Python functions run in Python workers the TaskManager starts ("process" mode). Left
    # to itself PyFlink's TableEnvironment judges the job local (the gateway's default
    # target) and runs them inside this kernel ("loopback"), whatever the cluster.
    os.environ["_python_worker_execution_mode"] = "process"
    os.environ.setdefault("FLINK_LOG_DIR", str(paths.logs() / f"flink-{os.getpid()}"))
    os.environ.setdefault("ROOT_LOG_LEVEL", "WARN")
    # The client JVM only plans and submits jobs: laptop-sized (by default it may take a
    # quarter of the machine's memory and parallel GC threads per core), C1-only JIT for a
    # faster first job. Set JVM_ARGS yourself to override.
    os.environ.setdefault("JVM_ARGS", JVM_ARGS)
    _jvm_ready = True


def connector_classpath() -> list[str]:
    """URLs of the Kafka connector jar(s) the client needs to plan Kafka tables."""
    return [p.as_uri() for p in artifacts.classpath("flink-kafka")]


def flink_config(
    flink_rest: str | None, parallelism: int = 1, flink_python: str | None = None
) -> dict[str, str]:
    """The configuration every lab environment starts from (shown by `lab.flink_config`).

    Jobs go to the JobManager at ``flink_rest``; their Python functions run on the
    TaskManagers with ``flink_python`` (None: this kernel's Python, right for the local
    cluster, whose TaskManager runs on this machine).
    """
    if not flink_rest:
        raise LabError("No Flink JobManager is known for this lab: start it with `labkit up`.")
    host, _, port = flink_rest.rpartition(":")
    return {
        "execution.target": "remote",
        "rest.address": host,
        "rest.port": port,
        "pipeline.classpaths": ";".join(connector_classpath()),
        "parallelism.default": str(parallelism),
        "python.executable": flink_python or sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": str(BUNDLE_TIME_MS),
        # window bounds and TIMESTAMP_LTZ shown in UTC on every laptop, like the generators
        "table.local-time-zone": "UTC",
    }


class Job:
    """A running Flink job: its status, and a way to stop it.

    Wraps the ``JobClient`` PyFlink returns from ``execute_sql`` (INSERT) or
    ``execute_async`` (DataStream).
    """

    def __init__(self, client: Any, name: str = "") -> None:
        self.client = client
        self.name = name
        self.started = time.time()
        # How the job ended, when this handle ended it or waited for it.
        self.final: str | None = None

    @classmethod
    def of(cls, result: TableResult | Any, name: str = "") -> Job:
        client = result.get_job_client() if hasattr(result, "get_job_client") else result
        if client is None:
            raise ValueError("That statement did not start a job (only INSERT/EXECUTE do).")
        return cls(client, name)

    @property
    def job_id(self) -> str:
        return str(self.client.get_job_id())

    @property
    def status(self) -> str:
        """RUNNING, FINISHED, CANCELED, FAILED, ... as the JobManager reports it."""
        try:
            return str(_bounded(self.client.get_job_status(), 10.0, "asking a job's status")).split(".")[-1]
        except Exception as exc:  # noqa: BLE001 - e.g. the cluster was stopped
            return self.final or f"UNKNOWN ({type(exc).__name__})"

    @property
    def web_ui(self) -> str:
        """This job's page in Flink's Web UI."""
        rest = _REST.get(id(self.client), "")
        return f"http://{rest}/#/job/running/{self.job_id}/overview" if rest else ""

    @property
    def checkpoints_ui(self) -> str:
        """This job's *Checkpoints* tab in Flink's Web UI (completed, failed, restored)."""
        return self.web_ui.replace("/overview", "/checkpoints")

    def stop(self, timeout: float = FLINK_TIMEOUT_S) -> None:
        """Cancel the job and wait until it has ended (harmless if it already had)."""
        deadline = time.monotonic() + timeout
        try:
            _bounded(self.client.cancel(), timeout, f"cancelling job {self.name or self.job_id}")
        except Exception:  # noqa: BLE001 - already finished or cancelled
            pass
        while time.monotonic() < deadline:
            status = self.status
            if status in ENDED or status.startswith("UNKNOWN"):
                break
            time.sleep(0.05)  # CANCELLING: tasks are being stopped
        self.final = self.final or "CANCELED"

    def wait(self, timeout: float = 300.0) -> str:
        """Block until the job ends (bounded jobs) and return its final status; a clear
        error after ``timeout`` seconds (the job keeps running: stop it with `stop`)."""
        what = f"waiting for job {self.name or self.job_id}"
        _bounded(self.client.get_job_execution_result(), timeout, what)
        self.final = self.final or "FINISHED"
        return self.status

    def __repr__(self) -> str:
        return f"<Job {self.name or self.job_id} {self.status}>"


def _bounded(future: Any, timeout: float, what: str) -> Any:
    """A PyFlink ``CompletableFuture``'s result with a deadline (PyFlink's own ``result()``
    waits forever) and an error that says what was waited on."""
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    unit = get_gateway().jvm.java.util.concurrent.TimeUnit.MILLISECONDS
    try:
        value = future._j_completable_future.get(int(timeout * 1000), unit)
    except Py4JJavaError as exc:
        if exc.java_exception.getClass().getSimpleName() == "TimeoutException":
            raise LabError(
                f"Flink did not answer within {timeout:.0f} s while {what}. Is the cluster up? "
                "`labkit status` shows it; the Web UI shows the job."
            ) from None
        raise
    return future._py_class(value) if future._py_class is not None else value


#: The states a job does not leave (UNKNOWN: the cluster no longer answers for it).
ENDED = ("CANCELED", "FINISHED", "FAILED", "SUSPENDED")

#: Every job this process started through `FlinkHelpers.start`, newest last.
_JOBS: list[Job] = []
_REST: dict[int, str] = {}


def stop_jobs(jobs: list[Job] | None = None) -> int:
    """Cancel the running jobs among ``jobs`` (default: every job this process started)."""
    jobs = _JOBS if jobs is None else jobs
    running = [j for j in jobs if j.status in ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING")]
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
    job, through the REST API - which ends the wait with an error.
    """
    import threading
    import uuid

    name = f"labkit-query-{uuid.uuid4().hex[:12]}"
    t_env.get_config().set("pipeline.name", name)
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
        return t_env.sql_query(sql).to_pandas()
    except Exception:
        if cancelled:
            raise LabError(
                f"The Flink query did not finish within {timeout:.0f} s"
                + (" and was cancelled" if cancelled[0] else "")
                + f". Is a topic still growing, or the cluster busy? Web UI: http://{flink_rest}"
            ) from None
        raise
    finally:
        timer.cancel()


def cancel_by_name(flink_rest: str, name: str) -> int:
    """Cancel the running jobs called ``name`` on the cluster (its REST API); how many."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://{flink_rest}/jobs/overview", timeout=5) as r:
        jobs = json.load(r)["jobs"]
    ended = ("FINISHED", "CANCELED", "FAILED")
    doomed = [j["jid"] for j in jobs if j["name"] == name and j["state"] not in ended]
    for jid in doomed:
        req = urllib.request.Request(f"http://{flink_rest}/jobs/{jid}?mode=cancel", method="PATCH")
        urllib.request.urlopen(req, timeout=5).close()
    return len(doomed)


class FlinkHelpers:
    """Mixed into the lab handle; needs the lab's endpoints."""

    flink_bootstrap_servers: str
    flink_rest: str | None

    def flink_config(self, parallelism: int = 1) -> dict[str, str]:
        return flink_config(self.flink_rest, parallelism, getattr(self, "flink_python", None))

    def table_env(self, *, streaming: bool = True, parallelism: int = 1) -> TableEnvironment:
        """A new ``TableEnvironment`` (fresh catalog: re-running a cell never hits
        "table already exists") with the Kafka connector attached."""
        prepare_jvm()
        from pyflink.common import Configuration
        from pyflink.table import EnvironmentSettings, TableEnvironment

        config = Configuration()
        for key, value in self.flink_config(parallelism).items():
            config.set_string(key, value)
        builder = EnvironmentSettings.new_instance()
        builder = builder.in_streaming_mode() if streaming else builder.in_batch_mode()
        return TableEnvironment.create(builder.with_configuration(config).build())

    def stream_env(self, *, parallelism: int = 1) -> StreamExecutionEnvironment:
        """A ``StreamExecutionEnvironment`` for the DataStream API, Kafka connector attached."""
        prepare_jvm()
        from pyflink.common import Configuration
        from pyflink.datastream import StreamExecutionEnvironment
        from pyflink.java_gateway import get_gateway

        config = Configuration()
        for key, value in self.flink_config(parallelism).items():
            config.set_string(key, value)
        # Not `get_execution_environment(config)`: outside `flink run` that builds a
        # LocalStreamEnvironment, which forces execution.target=local (an in-process
        # mini-cluster). The plain constructor honours execution.target=remote.
        jenv = get_gateway().jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
        env = StreamExecutionEnvironment(jenv(config._j_configuration))
        env.set_parallelism(parallelism)
        env.set_python_executable(config.get_string("python.executable", sys.executable))
        return env

    def kafka_options(
        self,
        topic: str,
        *,
        format: str = "json",
        start: str = "earliest-offset",
        group_id: str | None = None,
        bounded: bool = False,
        **extra: str,
    ) -> str:
        """The ``WITH (...)`` body of a Kafka table for ``topic``, as Flink must see it.

        ``bounded=True`` stops reading at the end of the topic as it is when the job
        starts (``scan.bounded.mode = latest-offset``), so a query over it finishes.
        ``start`` is the lab's default, ``earliest-offset``: the connector's own default is
        ``group-offsets`` (resume where the consumer group left off), which a first read
        with no group does not have. Flink's Kafka source commits a group's offsets only
        when a checkpoint completes (``properties.commit.offsets.on.checkpoint``), so
        ``group-offsets`` resumes only jobs that checkpoint - lesson 05 shows both.
        """
        opts = {
            "connector": "kafka",
            "topic": topic,
            "properties.bootstrap.servers": self.flink_bootstrap_servers,
            "format": format,
            "scan.startup.mode": start,
        }
        if group_id:
            opts["properties.group.id"] = group_id
        if bounded:
            opts["scan.bounded.mode"] = "latest-offset"
        opts.update(extra)
        return ",\n  ".join(f"'{k}' = '{v}'" for k, v in opts.items())

    def kafka_table(
        self,
        t_env: TableEnvironment,
        name: str,
        schema: str,
        *,
        topic: str | None = None,
        **options: Any,
    ) -> str:
        """Register a Kafka-backed table ``name`` (columns ``schema``) and return its DDL.

        ``schema`` is what goes between the parentheses of CREATE TABLE, so it may include
        computed columns, METADATA columns and a WATERMARK clause.
        """
        ddl = (
            f"CREATE TABLE `{name}` (\n  {schema.strip()}\n) WITH (\n  "
            f"{self.kafka_options(topic or name, **options)}\n)"
        )
        t_env.execute_sql(ddl)
        return ddl

    def query(
        self,
        sql: str,
        tables: Mapping[str, str],
        *,
        topics: Mapping[str, str] | None = None,
        streaming: bool = False,
        options: Mapping[str, str] | None = None,
        timeout: float = 300.0,
    ) -> pd.DataFrame:
        """Run a Flink SQL query over everything now in some Kafka topics; a DataFrame.

        ``tables`` maps each table name used in ``sql`` to its columns (computed columns
        and a WATERMARK clause allowed); the topic has the same name unless ``topics``
        says otherwise. The read is bounded at the current end of each topic (the end
        offsets are read correctly, see `kafka_options`), so re-running it gives the same
        answer until new events arrive. Time zone is UTC, whatever the machine's, so
        ``TO_TIMESTAMP_LTZ`` columns and window bounds compare equal to pandas UTC times.

        By default the query runs in batch mode, so aggregates come back final (no
        changelog rows)::

            lab.query("SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id",
                      {"clicks": "user_id STRING, url STRING"})

        ``streaming=True`` runs the same bounded read as a streaming job: needed for
        what batch mode does not do (SESSION windows - in Flink 2.3 a limitation of the
        SQL window functions, not of batch processing -, watermarks deciding that an
        event is late, ``CURRENT_WATERMARK``). Its result must be insert-only (a window aggregate
        or a filter is; a plain GROUP BY is not). ``options`` are extra table
        options for every table, e.g. ``{"scan.watermark.emit.strategy": "on-event"}``.
        Every call is one Flink job on the cluster; after ``timeout`` seconds it is
        cancelled and a `LabError` says so.
        """
        t_env = self.table_env(streaming=streaming)
        for name, schema in tables.items():
            self.kafka_table(
                t_env, name, schema, topic=(topics or {}).get(name, name), bounded=True, **dict(options or {})
            )
        return collect(t_env, sql, self.flink_rest, timeout)

    def stopping_offsets(self, topic: str) -> Any:
        """A DataStream ``KafkaOffsetsInitializer`` at the end of ``topic`` as it is when the
        job starts, for ``KafkaSource.builder().set_bounded(...)``: read what is there, then stop."""
        from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer

        return KafkaOffsetsInitializer.latest()

    def start(self, result: TableResult | Any, name: str = "") -> Job:
        """Wrap a started job (``t_env.execute_sql("INSERT ...")`` or
        ``env.execute_async(...)``) so it can be watched and stopped; the lab keeps a list
        (``lab.jobs``) and `stop_jobs` cancels them all."""
        job = Job.of(result, name)
        if self.flink_rest:
            _REST[id(job.client)] = self.flink_rest
        _JOBS.append(job)
        return job

    @property
    def jobs(self) -> list[Job]:
        """The jobs this kernel started through `start` (and has not stopped)."""
        return _JOBS

    def stop_jobs(self) -> int:
        """Cancel every job this kernel started through `start`; returns how many were running."""
        return stop_jobs()

    # --- failure drills: checkpoints, and a TaskManager crash (lesson 08) ---------------

    def flink_api(self, path: str, body: dict | None = None, timeout: float = 10.0) -> Any:
        """Ask the JobManager's REST API (the data behind Flink's Web UI): GET ``path``, or
        POST ``body``; the reply's JSON. E.g. ``lab.flink_api("overview")`` (TaskManagers,
        slots, jobs) or ``lab.flink_api(f"jobs/{job.job_id}/checkpoints")``."""
        return rest_api(self.flink_rest, path, body, timeout)

    def tasks(self, job: Job) -> pd.DataFrame:
        """A job's tasks as the Web UI's job graph shows them: operator (chain) name,
        parallelism and status (CREATED, DEPLOYING, INITIALIZING, RUNNING, FINISHED, ...)."""
        vertices = self.flink_api(f"jobs/{job.job_id}")["vertices"]
        return pd.DataFrame(
            [{"operator": v["name"], "parallelism": v["parallelism"], "status": v["status"]} for v in vertices],
            columns=["operator", "parallelism", "status"],
        )

    def wait_until_running(self, job: Job, timeout: float = 60.0) -> pd.DataFrame:
        """Block until every task of ``job`` runs on a TaskManager, and return `tasks`.

        A job is RUNNING as soon as the JobManager has scheduled it; its tasks then still
        deploy and initialise (start Python workers, restore state) for a few seconds before
        they read anything. Raises if the job ends or ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = self.tasks(job)
            if len(now) and (now["status"] == "RUNNING").all():
                return now
            if job.status in ("FAILED", "CANCELED", "FINISHED"):
                raise RuntimeError(f"job {job.name or job.job_id} ended ({job.status}) before all its tasks ran")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the tasks of job {job.name or job.job_id} were not all RUNNING within {timeout:.0f} s:\n"
                    f"{now.to_string(index=False)}\nSee {job.web_ui or self.web_ui}"
                )
            time.sleep(0.2)

    def failures(self, job: Job) -> list[str]:
        """The failures Flink recorded for ``job``, oldest first, one line each (the Web UI's
        *Exceptions* tab): the last line of each exception's Python or Java message."""
        reply = self.flink_api(f"jobs/{job.job_id}/exceptions")
        history = reply.get("exceptionHistory", {}).get("entries", [])
        lines = []
        for entry in sorted(history, key=lambda e: e.get("timestamp", 0)):
            text = entry.get("stacktrace") or entry.get("exceptionName") or ""
            python = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("\t", " "))]
            errors = [ln for ln in python if "Error:" in ln or "Exception:" in ln]
            lines.append((errors or python or [entry.get("exceptionName", "?")])[-1])
        return lines

    def checkpoints(self, job: Job) -> dict:
        """Flink's checkpoint statistics of ``job`` - the Web UI's *Checkpoints* tab
        (`Job.checkpoints_ui`), from REST ``GET /jobs/<id>/checkpoints``: ``counts``
        (completed, failed, restored, in progress) and ``latest`` (``completed``: the last
        checkpoint taken; ``restored``: the one the job was last restored from, or None)."""
        return rest_api(self.flink_rest, f"/jobs/{job.job_id}/checkpoints")

    def trigger_checkpoint(self, job: Job, timeout: float = FLINK_TIMEOUT_S) -> dict:
        """Take a checkpoint of ``job`` now and wait until it has completed; returns its
        statistics (``id``, ``state_size`` in bytes, ``end_to_end_duration`` in ms,
        ``external_path``, ``tasks``: the same per operator chain).

        REST ``POST /jobs/<id>/checkpoints`` (Flink 1.19+): the same checkpoint the
        periodic ones (``execution.checkpointing.interval``) are - exactly-once sinks commit
        on it - only at a moment you choose.
        """
        rest = self.flink_rest
        trigger = rest_api(rest, f"/jobs/{job.job_id}/checkpoints", body={})["request-id"]
        deadline = time.monotonic() + timeout
        while True:
            reply = rest_api(rest, f"/jobs/{job.job_id}/checkpoints/{trigger}")
            if reply["status"]["id"] == "COMPLETED":
                failure = reply.get("operation", {}).get("failure-cause")
                if failure:
                    raise LabError(
                        f"Flink could not take the checkpoint: {failure.get('class')}: "
                        f"{(failure.get('stack-trace') or '').partition(chr(10))[0]}"
                    )
                cid = reply["operation"]["checkpointId"]
                break
            if time.monotonic() > deadline:
                raise LabError(
                    f"The checkpoint of job {job.name or job.job_id} did not complete within "
                    f"{timeout:.0f} s. Web UI: {job.checkpoints_ui}"
                )
            time.sleep(0.1)
        while True:  # the statistics follow the completion by a moment
            try:
                return rest_api(rest, f"/jobs/{job.job_id}/checkpoints/details/{cid}")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait_restored(self, job: Job, after: float = 0.0, timeout: float = 120.0) -> dict:
        """Block until ``job`` has been restored from a checkpoint (at ``after``, a
        ``time.time()``, or later) and all its tasks run again; returns the REST
        ``latest.restored`` entry: ``id`` (the checkpoint), ``restore_timestamp`` (ms),
        ``external_path``, ``is_savepoint``. A `LabError` if the job ends or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        restored = None
        while True:
            if restored is None:
                latest = self.checkpoints(job)["latest"].get("restored")
                if latest and latest["restore_timestamp"] >= after * 1000:
                    restored = latest
            if restored is not None:
                info = rest_api(self.flink_rest, f"/jobs/{job.job_id}")
                if info["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in info["vertices"]):
                    return restored
            status = job.status
            if status in ENDED:
                raise LabError(
                    f"Job {job.name or job.job_id} ended ({status}) instead of being restored: "
                    f"see {job.web_ui}"
                )
            if time.monotonic() > deadline:
                what = "running again after its restore" if restored else "restored from a checkpoint"
                raise LabError(
                    f"Job {job.name or job.job_id} was not {what} within {timeout:.0f} s: "
                    f"see {job.checkpoints_ui}"
                )
            time.sleep(0.2)

    def kill_taskmanager(self) -> dict:
        """Kill the lab's TaskManager process with SIGKILL, mid-job: a real crash (no clean
        shutdown). Returns ``pid``, ``id`` (as the Web UI shows it) and ``killed_at``
        (``time.time()``). Local backend only; see `labkit.cluster.kill_taskmanager`."""
        from . import cluster

        return cluster.kill_taskmanager()

    def start_taskmanager(self) -> dict:
        """Start a new TaskManager in place of one that died (what `labkit up` repairs too)
        and wait until it has registered with its slots; `labkit down` stops it. Returns
        ``pid``, ``id``, ``started`` and ``seconds`` (see `labkit.cluster.start_taskmanager`)."""
        from . import cluster

        return cluster.start_taskmanager()


def rest_api(rest: str | None, path: str, body: dict | None = None, timeout: float = 10.0) -> Any:
    """GET (or POST ``body`` as JSON to) ``path`` of the JobManager at ``rest`` (host:port);
    the reply's JSON. The Web UI shows the same data."""
    import json
    import urllib.request

    if not rest:
        raise LabError("No Flink JobManager is known for this lab: start it with `labkit up`.")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{rest}/{path.lstrip('/')}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.load(reply)
