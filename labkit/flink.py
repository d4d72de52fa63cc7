"""Flink helpers: ready-made PyFlink environments wired to the lab's Kafka.

What the factories set, and why:

* the Kafka connector jars (verified, see :mod:`labkit.jars`) - PyFlink ships none;
* ``python.executable`` - Python operators run in a separate worker process, which
  otherwise may not find ``pyflink`` outside an activated virtualenv;
* ``python.fn-execution.bundle.time`` 20 ms - the 1 s default makes every hop through a
  Python function take ~2 s, far too slow for a live plot;
* parallelism 1 - results in a predictable order and a small JVM on a laptop;
* a Flink log folder per process, quiet logs - by default every process overwrites the
  same log files inside site-packages.

On the embedded backend jobs run on a mini-cluster inside this Python process's JVM. On
a cluster with a JobManager (``flink_rest``) the same code submits jobs there.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import jars, paths
from .java import ensure_java_env

if TYPE_CHECKING:
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import TableEnvironment, TableResult

BUNDLE_TIME_MS = 20
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
    os.environ.setdefault("FLINK_LOG_DIR", str(paths.logs() / f"flink-{os.getpid()}"))
    os.environ.setdefault("ROOT_LOG_LEVEL", "WARN")
    # A laptop-sized JVM: by default it may take a quarter of the machine's memory and
    # parallel GC threads per core. Measured: ~1.27 GB -> ~0.95 GB peak for the lab, and
    # faster job start (C1-only JIT). Set JVM_ARGS yourself to override.
    os.environ.setdefault("JVM_ARGS", JVM_ARGS)
    _jvm_ready = True


def flink_config(
    flink_rest: str | None, parallelism: int = 1, flink_python: str | None = None
) -> dict[str, str]:
    """The configuration every lab environment starts from (shown by `lab.flink_config`).

    With ``flink_rest`` jobs go to that JobManager; their Python functions then run with
    ``flink_python`` on the TaskManagers (this kernel's Python path means nothing there).
    """
    conf = {
        "pipeline.jars": ";".join(p.as_uri() for p in jars.ensure_jars()),
        "parallelism.default": str(parallelism),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": str(BUNDLE_TIME_MS),
        # window bounds and TIMESTAMP_LTZ shown in UTC on every laptop, like the generators
        "table.local-time-zone": "UTC",
        # the local mini-cluster's defaults (128 MB managed, 64 MB network) are sized for
        # real workloads; lessons need a fraction of that
        "taskmanager.memory.managed.size": "64m",
        "taskmanager.memory.network.min": "32m",
        "taskmanager.memory.network.max": "32m",
    }
    if flink_rest:
        host, _, port = flink_rest.rpartition(":")
        conf.update({"execution.target": "remote", "rest.address": host, "rest.port": port})
        if flink_python:
            conf["python.executable"] = flink_python
    return conf


class Job:
    """A running Flink job: its status, and a way to stop it.

    Wraps the ``JobClient`` PyFlink returns from ``execute_sql`` (INSERT) or
    ``execute_async`` (DataStream).
    """

    def __init__(self, client: Any, name: str = "") -> None:
        self.client = client
        self.name = name
        self.started = time.time()
        # How the job ended, when this handle ended it or waited for it: once a job on the
        # local mini-cluster has ended, asking for its status fails (the cluster is gone).
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
        """RUNNING, FINISHED, CANCELED, FAILED, ... as Flink reports it."""
        try:
            return str(self.client.get_job_status().result()).split(".")[-1]
        except Exception as exc:  # noqa: BLE001 - a finished mini-cluster job may be gone
            return self.final or f"UNKNOWN ({type(exc).__name__})"

    def stop(self) -> None:
        """Cancel the job (harmless if it already ended)."""
        try:
            self.client.cancel().result()
            self.final = self.final or "CANCELED"
        except Exception:  # noqa: BLE001 - already finished or cancelled
            pass

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (bounded jobs) and return its final status."""
        fut = self.client.get_job_execution_result()
        fut.result(timeout) if timeout else fut.result()
        self.final = self.final or "FINISHED"
        return self.status

    def __repr__(self) -> str:
        return f"<Job {self.name or self.job_id} {self.status}>"


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
        from pyflink.table import EnvironmentSettings, TableEnvironment

        settings = (
            EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
        )
        t_env = TableEnvironment.create(settings)
        conf = t_env.get_config()
        for key, value in self.flink_config(parallelism).items():
            conf.set(key, value)
        return t_env

    def stream_env(self, *, parallelism: int = 1) -> StreamExecutionEnvironment:
        """A ``StreamExecutionEnvironment`` for the DataStream API, Kafka connector attached."""
        prepare_jvm()
        from pyflink.common import Configuration
        from pyflink.datastream import StreamExecutionEnvironment

        config = Configuration()
        for key, value in self.flink_config(parallelism).items():
            config.set_string(key, value)
        env = StreamExecutionEnvironment.get_execution_environment(config)
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

        ``bounded=True`` stops reading at the events present *now*: the end offsets are
        read correctly here and passed as ``specific-offsets`` (the embedded broker's
        ``latest-offset`` answer is wrong, see :meth:`end_offsets`).
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
            ends = self.end_offsets(topic)  # type: ignore[attr-defined]
            opts["scan.bounded.mode"] = "specific-offsets"
            opts["scan.bounded.specific-offsets"] = ";".join(
                f"partition:{p},offset:{o}" for p, o in sorted(ends.items())
            )
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
        what only streaming has (SESSION windows, watermarks deciding that an event is
        late, ``CURRENT_WATERMARK``). Its result must be insert-only (a window aggregate
        or a filter is; a plain GROUP BY is not). ``options`` are extra table
        options for every table, e.g. ``{"scan.watermark.emit.strategy": "on-event"}``.
        Every call is one Flink job (see the JVM note in the platform facts).
        """
        t_env = self.table_env(streaming=streaming)
        for name, schema in tables.items():
            self.kafka_table(
                t_env, name, schema, topic=(topics or {}).get(name, name), bounded=True, **dict(options or {})
            )
        return t_env.sql_query(sql).to_pandas()

    def stopping_offsets(self, topic: str) -> Any:
        """A DataStream ``KafkaOffsetsInitializer`` at the current end of ``topic``, for
        ``KafkaSource.builder().set_bounded(...)``: the source reads what is there now, then stops.

        PyFlink's own ``KafkaOffsetsInitializer.offsets`` cannot be used with the lab's jars
        (it looks for the *shaded* ``TopicPartition`` of the fat SQL-connector jar), and
        ``latest()`` asks the broker, whose answer is wrong on the embedded backend.
        """
        from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer
        from pyflink.java_gateway import get_gateway
        from pyflink.util.java_utils import get_java_class

        jvm = get_gateway().jvm
        offsets = jvm.org.apache.flink.python.util.HashMapWrapper(None, get_java_class(jvm.Long))
        for partition, offset in self.end_offsets(topic).items():  # type: ignore[attr-defined]
            offsets.put(jvm.org.apache.kafka.common.TopicPartition(topic, partition), offset)
        j_init = jvm.org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer
        return KafkaOffsetsInitializer(j_init.offsets(offsets.asMap()))

    def start(self, result: TableResult | Any, name: str = "") -> Job:
        """Wrap a started job (``t_env.execute_sql("INSERT ...")`` or
        ``env.execute_async(...)``) so it can be watched and stopped; the lab keeps a list
        (``lab.jobs``) and `stop_jobs` cancels them all."""
        job = Job.of(result, name)
        self.jobs.append(job)
        return job

    jobs: list[Job]

    def stop_jobs(self) -> int:
        """Cancel every job started through `start`; returns how many were running."""
        running = [j for j in self.jobs if j.status in ("RUNNING", "CREATED", "INITIALIZING")]
        for job in running:
            job.stop()
        self.jobs.clear()
        return len(running)
