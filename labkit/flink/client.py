"""The PyFlink client in this kernel: its JVM, its configuration, and waiting on it.

This kernel only plans jobs (PyFlink's client JVM) and submits them to the lab's
JobManager. What the configuration sets, and why:

* ``execution.target: remote`` + the JobManager's address - submit to the cluster;
* Flink's official Kafka and JDBC connectors and Parquet format on the client JVM's own
  classpath (`client_lib`: the planner needs them to read a table's DDL, and the DataStream
  API's ``KafkaSink`` or Parquet writers in every thread of the kernel; the cluster has the
  same jars in its ``lib/``), see :func:`labkit.runtime.artifacts.flink_lib`. (PyFlink
  2.3's own ``JdbcSink`` wrapper calls a method JDBC connector 4.0 no longer has: write to
  PostgreSQL through a ``'connector' = 'jdbc'`` table);
* ``python.execution-mode: thread`` (the lab's own cluster) - Python functions run inside
  the TaskManager's JVM, in an interpreter that is this kernel's Python
  (:mod:`labkit.runtime.flink_proc` prepares it): no Python worker process and none of the
  Beam gRPC servers it needs, which listen on every interface. Another cluster (compose,
  remote) keeps PyFlink's "process" mode;
* ``python.executable`` - the Python of the functions (thread mode finds its interpreter
  from it; a worker process otherwise may not find ``pyflink`` outside an activated venv);
* ``python.fn-execution.bundle.time`` 20 ms - for what still runs in worker processes
  (pandas UDFs, Python aggregate functions, or another cluster): the 1 s default makes every
  hop through a Python function take ~2 s, far too slow for a live plot;
* `PYFLINK_PROCESS_ENV` - so that no Python function ever runs inside this kernel;
* parallelism 1 - results in a predictable order and a small JVM on a laptop;
* a Flink log folder per process, quiet logs - by default every process overwrites the
  same log files inside site-packages.

This is the one module that touches PyFlink's private names (``_gateway``,
``_j_completable_future``, ``_py_class``, ``_j_configuration``): PyFlink has no public way
to do these things, and each reach-in says why. Also the JobManager's REST API
(`rest_api`), the data behind Flink's Web UI, and Flink's errors as a person reads them
(`flink_error`, `flink_sql`): Py4J raises a Java exception as a ``Py4JJavaError`` whose text is
the whole Java stack trace, Flink's own message somewhere in its first lines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import FlinkSqlError, LabError, causes_in, flink_message
from ..runtime import artifacts, tls
from ..runtime.jvm import ensure_java_env

BUNDLE_TIME_MS = 20
#: The states a job does not leave (UNKNOWN: the cluster no longer answers for it).
ENDED = ("CANCELED", "FINISHED", "FAILED", "SUSPENDED")
#: The states of a job that still runs, or will (`stop_jobs` cancels these).
ACTIVE = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING")
#: How long labkit waits on Flink before it says so (a job's status, a cancel, a result).
FLINK_TIMEOUT_S = 60.0
JVM_ARGS = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k"
NO_JOBMANAGER = "No Flink JobManager is known for this lab: start it with `labkit up`."

#: What PyFlink reads from os.environ at every new TableEnvironment/StreamExecutionEnvironment
#: (not only when its JVM starts): `prepare_jvm` sets it at every call. "process" is not the
#: cluster's ``python.execution-mode``: it only tells PyFlink that Python functions run on
#: the cluster. Unset, PyFlink judges the job local (the gateway's default target), starts a
#: Beam worker-pool server in this kernel (on every interface, never stopped) and has Python
#: functions run here ("loopback"), whatever the cluster.
PYFLINK_PROCESS_ENV = {"_python_worker_execution_mode": "process"}

_jvm_ready = False


def prepare_jvm() -> None:
    """Settle Java and log locations before PyFlink starts its JVM (once per process), and
    `PYFLINK_PROCESS_ENV` before every new environment (something may have cleared it since:
    the test suite resets os.environ before every test)."""
    global _jvm_ready
    os.environ.update(PYFLINK_PROCESS_ENV)
    if _jvm_ready:
        return
    ensure_java_env()
    from pyflink import java_gateway

    if java_gateway._gateway is None:  # noqa: SLF001 - PyFlink's only "is the JVM up?" without starting it
        # Only inherited from a parent process whose in-process ("loopback") Python worker
        # copied the JVM's environment into os.environ (PyFlink does that); left set, PyFlink
        # refuses to start this process's own JVM ("...during Python UDF execution").
        os.environ.pop("PYFLINK_GATEWAY_DISABLED", None)
    os.environ.setdefault("FLINK_LOG_DIR", str(paths.logs() / f"flink-{os.getpid()}"))
    os.environ.setdefault("ROOT_LOG_LEVEL", "WARN")
    # The client JVM only plans and submits jobs: laptop-sized (by default it may take a
    # quarter of the machine's memory and parallel GC threads per core), C1-only JIT for a
    # faster first job. Set JVM_ARGS yourself to override.
    os.environ.setdefault("JVM_ARGS", JVM_ARGS)
    # PyFlink replaces FLINK_LIB_DIR with its own lib/ unless FLINK_HOME is set: its home
    import pyflink

    os.environ.setdefault("FLINK_HOME", str(Path(pyflink.__file__).parent))
    os.environ.setdefault("FLINK_LIB_DIR", str(client_lib()))
    _jvm_ready = True


def client_lib() -> Path:
    """The ``lib/`` folder the client JVM starts with (PyFlink reads ``FLINK_LIB_DIR``):
    PyFlink's own jars and the connectors and formats of the cluster's ``lib/``, as links.

    Not only ``pipeline.classpaths``: PyFlink loads those jars into the context class
    loader of one Java thread, and Py4J serves each Python thread - a dashboard's restart,
    say - on a Java thread of its own, where ``KafkaSink`` was then not found. A kernel
    whose JVM started before labkit added a jar here must restart to see it.
    """
    import pyflink

    jars = [*(Path(pyflink.__file__).parent / "lib").glob("*.jar"), *artifacts.flink_lib()]
    digest = hashlib.sha256("\n".join(sorted(str(j) for j in jars)).encode()).hexdigest()[:16]
    lib = paths.cache() / "client-lib" / digest
    if not lib.is_dir():
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
        for jar in jars:
            (tmp / jar.name).symlink_to(jar)
        try:
            tmp.rename(lib)
        except OSError:  # another kernel made the same folder first
            shutil.rmtree(tmp, ignore_errors=True)
    return lib


def connector_classpath() -> list[str]:
    """URLs of the Kafka connector jar(s) the client needs to plan Kafka tables.

    The Kafka connector only, as before `client_lib` existed: the JDBC and Parquet jars
    reach jobs through the cluster's ``lib/`` alone. On ``pipeline.classpaths`` each job's
    own class loader would load them again (child-first), Hadoop's 50 MB client included,
    into a TaskManager metaspace of 192 MB."""
    return [p.as_uri() for p in artifacts.classpath("flink-kafka")]


def flink_config(
    flink_rest: str | None, parallelism: int = 1, flink_python: str | None = None
) -> dict[str, str]:
    """The configuration every lab environment starts from (shown by `lab.flink_config`).

    Jobs go to the JobManager at ``flink_rest``; their Python functions run on the
    TaskManagers with ``flink_python`` in worker processes, or - None - with this kernel's
    Python inside the TaskManager ("thread" mode), right for the local cluster, whose
    TaskManager runs on this machine with its interpreter prepared for that.
    """
    if not flink_rest:
        raise LabError(NO_JOBMANAGER)
    host, port = tls.host_port(flink_rest)
    return {
        "execution.target": "remote",
        "rest.address": host,
        "rest.port": str(port),
        # the lab's JobManager asks for the lab's certificate (runtime/tls.py)
        **(tls.flink_options() if tls.is_tls(flink_rest) else {}),
        "pipeline.classpaths": ";".join(connector_classpath()),
        "parallelism.default": str(parallelism),
        # the planner picks thread-mode operators from this (the cluster's config.yaml says
        # the same for the lab's own cluster)
        "python.execution-mode": "process" if flink_python else "thread",
        "python.executable": flink_python or sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": str(BUNDLE_TIME_MS),
        # window bounds and TIMESTAMP_LTZ shown in UTC on every laptop, like the generators
        "table.local-time-zone": "UTC",
    }


def java_object(wrapper: Any) -> Any:
    """The Java object behind a PyFlink ``Configuration``, ``StreamExecutionEnvironment`` or
    ``JobClient``: for a Java constructor, or a Java method PyFlink 2.3 does not wrap
    (``socketTextStream``; a ``triggerSavepoint`` Flink 2 accepts). PyFlink offers no
    public accessor for them, so this is where labkit reaches into its private handles."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    if isinstance(wrapper, Configuration):
        return wrapper._j_configuration  # noqa: SLF001 - see the docstring
    if isinstance(wrapper, StreamExecutionEnvironment):
        return wrapper._j_stream_execution_environment  # noqa: SLF001 - see the docstring
    return wrapper._j_job_client  # noqa: SLF001 - see the docstring


def bounded(future: Any, timeout: float, what: str) -> Any:
    """A PyFlink ``CompletableFuture``'s result with a deadline (PyFlink's own ``result()``
    waits forever) and an error that says what was waited on."""
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    unit = get_gateway().jvm.java.util.concurrent.TimeUnit.MILLISECONDS
    # PyFlink's CompletableFuture offers only an unbounded result(): wait on the Java
    # future it wraps, then convert the value as result() would (its _py_class).
    java_future = future._j_completable_future  # noqa: SLF001 - see above
    convert = future._py_class  # noqa: SLF001 - see above
    try:
        value = java_future.get(int(timeout * 1000), unit)
    except Py4JJavaError as exc:
        if exc.java_exception.getClass().getSimpleName() == "TimeoutException":
            raise LabError(
                f"Flink did not answer within {timeout:.0f} s while {what}. Is the cluster up? "
                "`labkit status` shows it; the Web UI shows the job."
            ) from None
        raise flink_error(exc) from None  # e.g. the job failed: why, in Flink's words
    return convert(value) if convert is not None else value


#: At most this many causes of a Java exception are read (a cycle ends there too).
_MAX_CAUSES = 32


def java_errors() -> tuple[type[Exception], ...]:
    """What PyFlink raises for an exception in its JVM: Py4J's ``Py4JJavaError``, or PyFlink's
    own ``JavaException`` (PyFlink converts a few Java classes, e.g. ``TableException``)."""
    from py4j.protocol import Py4JJavaError
    from pyflink.util.exceptions import JavaException

    return (Py4JJavaError, JavaException)


def java_causes(exc: BaseException) -> list[tuple[str, str]]:
    """(Java class name, message) of the Java exception behind ``exc`` and of each of its
    causes, outermost first; a message's blank lines dropped (as `causes_in` reads a trace).

    From the JVM's own objects (``Py4JJavaError.java_exception``, ``getCause()``); PyFlink's
    ``JavaException`` (or a JVM that no longer answers) leaves only the trace's text to read.
    """
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            chain: list[tuple[str, str]] = []
            while java is not None and len(chain) < _MAX_CAUSES:
                message = java.getMessage() or ""
                chain.append((str(java.getClass().getName()), _without_blank_lines(str(message))))
                java = java.getCause()
            return chain
        except Exception:  # noqa: BLE001 - the JVM went away: read the text below
            pass
    return causes_in(getattr(exc, "stack_trace", None) or _text(exc))


def flink_error(exc: BaseException, statement: str = "") -> FlinkSqlError:
    """A PyFlink error (``Py4JJavaError``, see `java_errors`) about ``statement`` as a short
    `FlinkSqlError`: Flink's own message (:func:`labkit.errors.flink_message`: the Java
    wrappers dropped, Calcite's repeats too), the position it names in ``statement``, and the
    whole Java stack trace in ``details``. Raise it ``from None``: the Py4J error's text *is*
    that trace, 50-150 lines of Java frames with the message on its second line."""
    details = _text(exc)
    message = flink_message(java_causes(exc))
    if not message:
        lines = [ln.strip() for ln in details.splitlines() if ln.strip()]
        message = lines[0] if lines else type(exc).__name__
    return FlinkSqlError(message, statement, details)


@contextmanager
def flink_sql(statement: str) -> Iterator[None]:
    """Run the block, a PyFlink error raised in it turned into `flink_error` about ``statement``::

    with flink_sql(sql):
        t_env.execute_sql(sql)
    """
    try:
        yield
    except java_errors() as exc:
        raise flink_error(exc, statement) from None


def _text(exc: BaseException) -> str:
    """``str(exc)``: for a ``Py4JJavaError`` its Java stack trace, which the JVM prints
    (if it no longer answers, what Py4J said)."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - Py4J asks the JVM for the trace's text
        return " ".join(str(arg) for arg in exc.args) or type(exc).__name__


def _without_blank_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def rest_api(
    rest: str | None, path: str, body: dict | None = None, timeout: float = 10.0, *, method: str | None = None
) -> Any:
    """GET (or POST ``body`` as JSON to) ``path`` of the JobManager at ``rest`` (host:port,
    or https://host:port with the lab's certificate); the reply's JSON (None for an empty
    reply). ``method`` overrides the verb (e.g. PATCH to cancel a job). The Web UI shows the same data."""
    if not rest:
        raise LabError(NO_JOBMANAGER)
    return tls.call(rest, path, body, timeout, method=method)
