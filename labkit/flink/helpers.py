"""The lab's Flink methods (`FlinkHelpers`, mixed into `labkit.Lab`): environments wired
to the lab's cluster and Kafka, Kafka tables, a bounded query, the jobs this kernel started,
and the JobManager's answers about them (tasks, failures, checkpoints).

    t_env = lab.table_env()
    lab.kafka_table(t_env, "clicks", "user_id STRING, page STRING")
    job = lab.start(t_env.execute_sql("INSERT INTO carts SELECT * FROM clicks WHERE page = '/cart'"))
    lab.wait_until_running(job); lab.checkpoints(job); lab.stop_jobs()

Every job goes to the lab's JobManager (``lab.flink_rest``, the Web UI's address) and
runs on its TaskManager: locally, in Docker or on a remote cluster, the same code path.
How the client is configured, and why: :mod:`labkit.flink.client`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import LabError
from ..runtime import drills
from ..runtime import profile as profiles
from ..sql.statements import NAMED_OPTIONS, hide_secrets
from .client import ENDED, FLINK_TIMEOUT_S, flink_config, flink_sql, java_object, prepare_jvm, rest_api
from .jobs import Job, collect, remember, rescale, started, stop_jobs
from .owners import owned_stream_env, owned_table_env

if TYPE_CHECKING:
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import TableEnvironment, TableResult

    from ..jobview.panel import JobView


class SqlOptions(str):
    """Table options (``'key' = 'value', ...``) as Flink must read them - a login's JAAS
    config in clear - whose repr, what a notebook shows for ``lab.kafka_options(...)``,
    masks every secret option as Flink itself does (`hide_secrets`). Printing it on
    purpose shows it all."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(hide_secrets(str(self)))


def _sql_options(options: Mapping[str, str]) -> str:
    return ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())


class FlinkHelpers:
    """Mixed into the lab handle, which provides the endpoints declared here."""

    @property
    def flink_bootstrap_servers(self) -> str:
        """Kafka, as Flink's workers reach it (the lab handle says)."""
        raise NotImplementedError

    @property
    def flink_rest(self) -> str | None:
        """The JobManager's REST address, host:port (the lab handle says)."""
        raise NotImplementedError

    @property
    def flink_python(self) -> str | None:
        """The Python on Flink's workers; None: this kernel's (the lab handle says)."""
        return None

    @property
    def flink_web_ui(self) -> str | None:
        """The Web UI's front door (host:port); None: Flink's own address (the lab handle says)."""
        return None

    def flink_config(self, parallelism: int = 1) -> dict[str, str]:
        return flink_config(self.flink_rest, parallelism, self.flink_python)

    def table_env(self, *, streaming: bool = True, parallelism: int = 1) -> TableEnvironment:
        """A new ``TableEnvironment`` (fresh catalog: re-running a cell never hits
        "table already exists") with the Kafka connector attached. Its jobs carry this
        kernel in their names (``insert-into_carts [kernel 12345 started ...]``), so those of a
        kernel that died are cancelled by the next ``labkit.connect()`` (`owned_table_env`)."""
        prepare_jvm()
        from pyflink.common import Configuration
        from pyflink.table import EnvironmentSettings, TableEnvironment

        config = Configuration()
        for key, value in self.flink_config(parallelism).items():
            config.set_string(key, value)
        builder = EnvironmentSettings.new_instance()
        builder = builder.in_streaming_mode() if streaming else builder.in_batch_mode()
        return owned_table_env(TableEnvironment.create(builder.with_configuration(config).build()))

    def stream_env(self, *, parallelism: int = 1) -> StreamExecutionEnvironment:
        """A ``StreamExecutionEnvironment`` for the DataStream API, Kafka connector attached;
        ``execute_async(name)`` names the job ``name`` plus this kernel (`owned_stream_env`)."""
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
        env = StreamExecutionEnvironment(jenv(java_object(config)))
        env.set_parallelism(parallelism)
        env.set_python_executable(config.get_string("python.executable", sys.executable))
        return owned_stream_env(env)

    @property
    def flink_kafka_connection(self) -> SqlOptions:
        """How Flink's Kafka connector reaches the lab's Kafka, as table options to put in a
        ``WITH (...)``: ``'properties.bootstrap.servers' = '...'`` and, when the lab has a
        connection profile (a Kafka that wants SASL_SSL), its TLS and login options. In a
        ``%%flink_sql`` cell ``{lab.flink_kafka_connection}`` works on every lab::

            CREATE TABLE clicks (`user` STRING) WITH ('connector' = 'kafka', 'topic' = 'clicks',
              {lab.flink_kafka_connection}, 'format' = 'json')

        Shown (its repr, a cell's echo, an error), the JAAS config reads ``'******'``."""
        return SqlOptions(_sql_options(self._kafka_connection()))

    def _kafka_connection(self) -> dict[str, str]:
        found = profiles.of_endpoints(getattr(self, "endpoints", None))
        secured = profiles.flink_kafka_options(found) if found is not None else {}
        # SQL string literals double their quotes (a password may hold one)
        quoted = {k: v.replace("'", "''") for k, v in secured.items()}
        return {"properties.bootstrap.servers": self.flink_bootstrap_servers, **quoted}

    def kafka_options(
        self,
        topic: str,
        *,
        format: str = "json",
        start: str = "earliest-offset",
        group_id: str | None = None,
        bounded: bool = False,
        **extra: str,
    ) -> SqlOptions:
        """The ``WITH (...)`` body of a Kafka table for ``topic``, as Flink must see it.

        ``bounded=True`` stops reading at the end of the topic as it is when the job
        starts (``scan.bounded.mode = latest-offset``), so a query over it finishes.
        ``start`` is the lab's default, ``earliest-offset``: the connector's own default is
        ``group-offsets`` (resume where the consumer group left off), which a first read
        with no group does not have. Flink's Kafka source commits a group's offsets only
        when a checkpoint completes (``properties.commit.offsets.on.checkpoint``), so
        ``group-offsets`` resumes only jobs that checkpoint - lesson 05 shows both.

        A lab with a connection profile adds its TLS and login options
        (`flink_kafka_connection`; ``extra`` may override them). The text holds the login in
        clear, as Flink needs it; its repr (what a notebook shows) masks the JAAS config.
        """
        name = getattr(self, "kafka_name", lambda n: n)  # a shared Kafka: the learner's prefix
        opts = {"connector": "kafka", "topic": name(topic), **self._kafka_connection()}
        opts.update({"format": format, "scan.startup.mode": start})
        if group_id:
            opts["properties.group.id"] = name(group_id)
        if bounded:
            opts["scan.bounded.mode"] = "latest-offset"
        opts.update(extra)
        for key in NAMED_OPTIONS:
            if key in extra:
                opts[key] = name(extra[key])
        return SqlOptions(_sql_options(opts))

    def kafka_client_properties(self) -> dict[str, str]:
        """The Kafka client properties a DataStream ``KafkaSource`` / ``KafkaSink`` needs
        besides the address, to reach the lab's Kafka: none for a plain Kafka, the TLS and
        login of the lab's connection profile (a Kafka that wants SASL_SSL) otherwise::

            builder = KafkaSource.builder().set_bootstrap_servers(lab.flink_bootstrap_servers)
            for key, value in lab.kafka_client_properties().items():
                builder.set_property(key, value)

        With a profile, the login is tried once from here first (`profile.ensure_login`): a
        wrong password is a clear `ProfileError` now, not a Flink job that retries in vain.
        The dict prints the JAAS config as ``'******'``."""
        found = profiles.of_endpoints(getattr(self, "endpoints", None))
        if found is None:
            return {}
        profiles.ensure_login(found, getattr(self, "bootstrap_servers", None))
        return profiles.datastream_properties(found)

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
        computed columns, METADATA columns and a WATERMARK clause. A schema Flink refuses is
        a `FlinkSqlError` pointing into the DDL; the options, Flink checks only when a query
        reads (or writes) the table.

        A lab with a connection profile (a Kafka that wants SASL_SSL) adds its TLS and login
        options (`kafka_options`; ``options`` may override them). The DDL returned, and any
        error about it, shows the login's JAAS config as ``'******'``.
        """
        ddl = (
            f"CREATE TABLE `{name}` (\n  {schema.strip()}\n) WITH (\n  "
            f"{self.kafka_options(topic or name, **options)}\n)"
        )
        shown = hide_secrets(ddl)
        with flink_sql(shown):
            t_env.execute_sql(ddl)
        return shown

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
        cancelled and a `LabError` says so. A query Flink refuses (or a job that fails) is a
        `FlinkSqlError`: Flink's message, the position it names in ``sql`` (``line``,
        ``column``), the Java stack trace in its ``details``.
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
        (``lab.jobs``) and `stop_jobs` cancels them all. ``name`` is labkit's label for it:
        the job is already submitted, under the name its environment gave it (Web UI)."""
        return remember(Job.of(result, name, self.flink_rest or "", self.flink_web_ui))

    @property
    def jobs(self) -> list[Job]:
        """The jobs this kernel started through `start` (and has not stopped)."""
        return started()

    def stop_jobs(self) -> int:
        """Cancel every job this kernel started through `start`; returns how many were running."""
        return stop_jobs()

    def rescale(self, job: Job, parallelism: int, timeout: float = 120.0) -> Job:
        """The rescale drill in one line: stop ``job`` with a savepoint (Flink's own stop) and
        start it again from it at ``parallelism``; the new job (`labkit.flink.jobs.rescale`).
        With a TaskManager joined from another machine (``labkit join``), its subtasks spread
        over both machines and the totals carry on exactly."""
        return rescale(job, parallelism, timeout)

    # --- failure drills: checkpoints, and a TaskManager crash (lesson 08) ---------------

    def flink_api(self, path: str, body: dict | None = None, timeout: float = 10.0) -> Any:
        """Ask the JobManager's REST API (the data behind Flink's Web UI): GET ``path``, or
        POST ``body``; the reply's JSON. E.g. ``lab.flink_api("overview")`` (TaskManagers,
        slots, jobs) or ``lab.flink_api(f"jobs/{job.job_id}/checkpoints")``."""
        return rest_api(self.flink_rest, path, body, timeout)

    def job_view(self, job: Job | str, every: float = 2.0) -> JobView:
        """A live view of ``job`` (a `Job`, or a job id from the Web UI): its graph coloured by
        busy/backpressured time, records and rates per operator, checkpoints, watermarks per
        subtask and per Kafka partition, refreshed every ``every`` seconds (a Pause toggle;
        ``.stop()`` ends the refreshing, not the job). See :mod:`labkit.jobview`."""
        from ..jobview.panel import JobView  # ipywidgets: loaded when a notebook asks for a panel
        from ..runtime import webui

        if isinstance(job, Job):
            return job.view(every)
        page = f"#/job/running/{str(job).strip().lower()}/overview"
        link = lambda: webui.open_link(self.flink_rest, self.flink_web_ui, page)  # noqa: E731 - fresh each time
        return JobView(self.flink_rest, job, link=link, every=every)

    def tasks(self, job: Job) -> pd.DataFrame:
        """A job's tasks as the Web UI's job graph shows them: operator (chain) name,
        parallelism and status (CREATED, DEPLOYING, INITIALIZING, RUNNING, FINISHED, ...)."""
        vertices = self.flink_api(f"jobs/{job.job_id}")["vertices"]
        columns = ["operator", "parallelism", "status"]
        rows = [(v["name"], v["parallelism"], v["status"]) for v in vertices]
        return pd.DataFrame(rows, columns=columns)

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
                raise RuntimeError(
                    f"job {job.name or job.job_id} ended ({job.status}) before all its tasks ran"
                )
            if time.monotonic() > deadline:
                ui = job.web_ui or "`lab.web_ui`"
                raise TimeoutError(
                    f"the tasks of job {job.name or job.job_id} were not all RUNNING within "
                    f"{timeout:.0f} s:\n{now.to_string(index=False)}\nSee {ui}"
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
            python = [ln.strip() for ln in text.splitlines() if ln.strip() and ln[0] not in "\t "]
            errors = [ln for ln in python if "Error:" in ln or "Exception:" in ln]
            lines.append((errors or python or [entry.get("exceptionName", "?")])[-1])
        return lines

    def checkpoints(self, job: Job) -> dict:
        """Flink's checkpoint statistics of ``job`` - the Web UI's *Checkpoints* tab
        (`Job.checkpoints_ui`), from REST ``GET /jobs/<id>/checkpoints``: ``counts``
        (completed, failed, restored, in progress) and ``latest`` (``completed``: the last
        checkpoint taken; ``restored``: the one the job was last restored from, or None)."""
        return self.flink_api(f"jobs/{job.job_id}/checkpoints")

    def trigger_checkpoint(self, job: Job, timeout: float = FLINK_TIMEOUT_S) -> dict:
        """Take a checkpoint of ``job`` now and wait until it has completed; returns its
        statistics (``id``, ``state_size`` in bytes, ``end_to_end_duration`` in ms,
        ``external_path``, ``tasks``: the same per operator chain).

        REST ``POST /jobs/<id>/checkpoints`` (Flink 1.19+): the same checkpoint the
        periodic ones (``execution.checkpointing.interval``) are - exactly-once sinks commit
        on it - only at a moment you choose.
        """
        trigger = self.flink_api(f"jobs/{job.job_id}/checkpoints", body={})["request-id"]
        deadline = time.monotonic() + timeout
        while True:
            reply = self.flink_api(f"jobs/{job.job_id}/checkpoints/{trigger}")
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
        # The statistics follow the completion by a moment - and until the JobManager's copy
        # of this job catches up (up to 3 s), Flink 2.3's REST handler answers from a cache
        # keyed by checkpoint id alone: another job's checkpoint with the same id. Only
        # details naming this job's own operators are this checkpoint's.
        ours = {v["id"] for v in self.flink_api(f"jobs/{job.job_id}")["vertices"]}
        while True:
            try:
                details = self.flink_api(f"jobs/{job.job_id}/checkpoints/details/{cid}")
                if details.get("tasks") and set(details["tasks"]) <= ours:
                    return details
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LabError(f"Flink did not give the statistics of checkpoint {cid} of job {job.job_id}.")
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
                info = self.flink_api(f"jobs/{job.job_id}")
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
        (``time.time()``). Local backend only; see `labkit.runtime.drills.kill_taskmanager`."""
        return drills.kill_taskmanager()

    def start_taskmanager(self) -> dict:
        """Start a new TaskManager in place of one that died (what `labkit up` repairs too)
        and wait until it has registered with its slots; `labkit down` stops it. Returns
        ``pid``, ``id``, ``started`` and ``seconds`` (see `labkit.runtime.drills.start_taskmanager`)."""
        return drills.start_taskmanager()
