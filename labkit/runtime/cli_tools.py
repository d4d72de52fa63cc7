"""Kafka's and Flink's own command-line tools, on the lab: ``kafka-topics.sh``... and ``flink``.

At work a learner meets Kafka through ``kafka-topics.sh``, ``kafka-console-consumer.sh`` and
``kafka-consumer-groups.sh``, and Flink through ``flink run`` / ``flink stop``; the lab runs
Kafka from Maven jars (no ``bin/``) and hides Flink's REST API behind a client certificate.
So ``labkit up`` writes small scripts with the tools' own names into ``LABKIT_HOME/bin``
(`folder`), and `add_to_path` puts that folder first on a notebook kernel's ``PATH``
(``labkit path`` prints the line for a terminal). What each script runs is what Kafka's and
Flink's own ``bin/`` runs - arguments pass through untouched, so the learner types
``--bootstrap-server 127.0.0.1:9092`` as at work:

* **Kafka** - ``kafka-run-class.sh`` (as in Kafka's ``bin/``) starts the lab's Java on the
  verified jars of the ``kafka`` and ``kafka-tools`` bundles (:mod:`labkit.runtime.artifacts`);
  each tool script runs it with the main class Kafka 4.4's script of that name runs
  (`KAFKA_TOOLS`). Kafka's ``KAFKA_HEAP_OPTS``, ``KAFKA_JVM_PERFORMANCE_OPTS``,
  ``KAFKA_LOG4J_OPTS`` and ``KAFKA_OPTS`` work as in Kafka's scripts; the lab's defaults are a
  laptop-sized JVM (C1, serial GC: a tool's JVM starts faster) and warnings only, on stderr.
* **Flink** - ``flink`` runs Flink's own ``bin/flink`` (PyFlink's distribution, as laid out
  for the lab's cluster by :mod:`labkit.runtime.flink_proc`) with a ``FLINK_CONF_DIR`` of its
  own (`flink_conf_dir`): the JobManager's REST address, and on the local lab the lab's
  client certificate (:mod:`labkit.runtime.tls`) - the CLI goes through the same mutual TLS
  as the notebook's PyFlink client, no other door and no weaker setting. That ``config.yaml``
  holds the keystore's password, so it is this user's only (0600 in a 0700 folder), as the
  cluster's own is. ``flink list``, ``flink run``, ``flink stop --savepointPath DIR ID`` and
  ``flink run -s SAVEPOINT`` then work against the lab.

The scripts are written again at every ``labkit up`` (and so at every ``labkit.connect()``):
a lab restarted on other ports, or another Java, is picked up. A tool whose cluster is down
says so itself (Kafka: no broker answers; Flink: the JobManager cannot be reached).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from .. import paths
from ..errors import LabError
from . import artifacts, flink_proc, tls
from . import profile as profiles
from .jvm import Java, JavaNotFound, find_java
from .state import Endpoints, State

#: Each Kafka tool the lab ships -> the main class Kafka 4.4's ``bin/<name>`` runs
#: (``exec kafka-run-class.sh <class> "$@"``).
KAFKA_TOOLS: dict[str, str] = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets.sh": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand",
    "kafka-delete-records.sh": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-transactions.sh": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-producer-perf-test.sh": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test.sh": "org.apache.kafka.tools.ConsumerPerformance",
}
#: Kafka's own scripts give these 512 MB (``KAFKA_HEAP_OPTS`` unset); the rest get
#: ``kafka-run-class.sh``'s 256 MB.
BIG_HEAP = (
    "kafka-console-producer.sh",
    "kafka-console-consumer.sh",
    "kafka-producer-perf-test.sh",
    "kafka-consumer-perf-test.sh",
)
#: The lab's ``KAFKA_JVM_PERFORMANCE_OPTS`` (Kafka's: G1 and C2, tuned for a broker).
KAFKA_JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -Djava.awt.headless=true"
#: What Kafka's ``config/tools-log4j2.yaml`` says: warnings and errors, on stderr (stdout is
#: the tool's output: records, tables).
KAFKA_TOOLS_LOG4J = """\
# Kafka's command-line tools log warnings to stderr, as Kafka's config/tools-log4j2.yaml.
# Written by labkit (labkit/runtime/cli_tools.py).
status = warn
# no shutdown hook: a short-lived tool may first log while its JVM is exiting
shutdownHook = disable
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""
#: The Flink client JVM's ``JVM_ARGS`` when the caller set none (as the kernel's PyFlink
#: client: it only plans and submits jobs).
FLINK_JVM_ARGS = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k"
HEADER = "# Written by labkit (labkit/runtime/cli_tools.py) at `labkit up`: changes are overwritten.\n"


def folder() -> Path:
    """Where the scripts are: ``LABKIT_HOME/bin`` (what `add_to_path` puts on PATH)."""
    return paths.home() / "bin"


def support_dir() -> Path:
    """Their settings: Kafka's tools' log4j2 file and Flink's client configuration."""
    return paths.home() / "cli"


def kafka_config() -> Path:
    """On a lab whose Kafka wants a login (a connection profile, a classroom's learner): the
    Kafka tools' client settings - TLS with the profile's CA, the SASL login - as Kafka's
    tools read them: ``--command-config`` (``kafka-topics.sh``, ``kafka-consumer-groups.sh``,
    ``kafka-configs.sh``...), ``--consumer.config`` / ``--producer.config`` (the console tools).
    0600: it holds the password. Absent on a lab with its own Kafka."""
    return support_dir() / "kafka-client.properties"


def flink_conf_dir() -> Path:
    """The ``FLINK_CONF_DIR`` of the ``flink`` script (it holds a password: mode 0700)."""
    return support_dir() / "flink-conf"


#: The bundles Kafka's tools run on: the broker's, then the tools' own.
KAFKA_TOOL_BUNDLES = ("kafka", "kafka-tools")


def kafka_tools_classpath() -> list[Path]:
    """Where the jars Kafka's tools run on are, in the jar cache. Not hashed here (every
    ``labkit.connect()`` writes the scripts): a jar is only ever put there once its SHA-256
    matched the lock, and a local ``labkit up`` has just verified them all; a missing one
    (a remote lab that never ran ``labkit setup``) is the tool's own "class not found"."""
    return [j.path for b in KAFKA_TOOL_BUNDLES for j in artifacts.locked() if j.bundle == b]


def _java() -> Java | None:
    """The lab's Java (jvm.find_java); None without one: the scripts then run ``java`` from
    PATH and fail with the shell's own "not found" (``labkit up`` has said what to install)."""
    try:
        return find_java()
    except JavaNotFound:
        return None


def kafka_run_class(java: str, classpath: list[Path], log4j: Path) -> str:
    """``kafka-run-class.sh``: Kafka's own launcher's job (the JVM options, the log4j2 file,
    the classpath) for the lab's jars and Java; ``kafka-run-class.sh CLASS ARGS...``."""
    cp = shlex.quote(os.pathsep.join(str(p) for p in classpath))
    options = [
        "${KAFKA_HEAP_OPTS:--Xmx256M}",
        f"${{KAFKA_JVM_PERFORMANCE_OPTS:-{KAFKA_JVM_OPTS}}}",
        f"${{KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile={shlex.quote(str(log4j))}}}",
        "$KAFKA_OPTS",
    ]
    return (
        "#!/bin/sh\n"
        f"# Apache Kafka {artifacts.KAFKA_VERSION}'s tools on the lab's verified jars, "
        "as Kafka's bin/kafka-run-class.sh.\n"
        + HEADER
        + 'if [ $# -lt 1 ]; then echo "USAGE: $0 classname [opts]" >&2; exit 1; fi\n'
        + f'exec {shlex.quote(java)} {" ".join(options)} -cp {cp} "$@"\n'
    )


def kafka_tool(name: str, main: str, run_class: Path) -> str:
    """One tool's script: what Kafka's ``bin/<name>`` says (heap, then its main class)."""
    big = 'if [ -z "$KAFKA_HEAP_OPTS" ]; then export KAFKA_HEAP_OPTS="-Xmx512M"; fi\n'
    heap = big if name in BIG_HEAP else ""
    return (
        f"#!/bin/sh\n# {name}: Apache Kafka {artifacts.KAFKA_VERSION}'s own tool ({main}).\n"
        + HEADER
        + heap
        + f'exec {shlex.quote(str(run_class))} {main} "$@"\n'
    )


def flink_client_config(endpoints: Endpoints) -> dict[str, str]:
    """The ``flink`` client's ``config.yaml`` (flat keys): the lab's JobManager, through the
    lab's certificate when its REST address is ``https://`` (the local lab), and Python jobs
    (``flink run -py``) planned with this Python, as the notebook's client does."""
    if not endpoints.flink_rest:
        raise LabError("This lab has no Flink JobManager address: start it with `labkit up`.")
    host, port = tls.host_port(endpoints.flink_rest)
    web = tls.host_port(endpoints.web_ui)[1] if endpoints.web_ui else 0
    cluster = flink_proc.config(flink_proc.FlinkPorts(port, 0, web))
    return {
        "execution.target": "remote",
        "rest.address": host,
        "rest.port": str(port),
        **(tls.flink_options() if tls.is_tls(endpoints.flink_rest) else {}),
        "parallelism.default": "1",
        # a JobManager that is down is said within seconds (Flink's default: 20 tries 3 s
        # apart, a minute before `flink list` says so)
        "rest.retry.max-attempts": "2",
        "rest.retry.delay": "1 s",
        # Flink's --add-opens for Java 17 and the lab's laptop-sized JVM flags
        "env.java.opts.all": cluster["env.java.opts.all"],
        "python.execution-mode": "process" if endpoints.flink_python else "thread",
        "python.executable": endpoints.flink_python or sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": cluster["python.fn-execution.bundle.time"],
        "table.local-time-zone": "UTC",
    }


def _flink_settings(endpoints: Endpoints) -> dict[str, str] | None:
    """`flink_client_config`, or None when there is no JobManager this machine can reach
    with it: none known, or a remote ``https://`` one whose certificate is not here (its
    folder is named in ``LABKIT_FLINK_TLS``) - Kafka's tools are written all the same."""
    if not endpoints.flink_rest:
        return None
    try:
        return flink_client_config(endpoints)
    except (OSError, LabError):
        return None


def flink_home(endpoints: Endpoints) -> Path:
    """The Flink distribution ``flink`` runs: the lab's cluster's (its ``lib/`` has the Kafka,
    JDBC and Parquet jars, its ``opt/`` flink-python), else PyFlink's own."""
    home = flink_proc.flink_home()
    if endpoints.backend == "local" and (home / "bin" / "flink").is_file() and (home / "lib").is_dir():
        return home
    import pyflink

    return Path(pyflink.__file__).parent


def flink_script(java: Java | None, home: Path) -> str:
    """``flink``: Flink's own ``bin/flink`` with the lab's client configuration."""
    java_home = f"export JAVA_HOME={shlex.quote(str(java.home))}\n" if java else ""
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    return (
        "#!/bin/sh\n"
        f"# flink: Apache Flink {flink_proc.version()}'s own command-line client, on the lab's JobManager.\n"
        + HEADER
        + java_home
        + f"export FLINK_HOME={q(home)} FLINK_LIB_DIR={q(home / 'lib')} FLINK_OPT_DIR={q(home / 'opt')}\n"
        + f"export FLINK_CONF_DIR={q(flink_conf_dir())} FLINK_LOG_DIR={q(paths.logs() / 'flink-cli')}\n"
        + f'export JVM_ARGS="${{JVM_ARGS:-{FLINK_JVM_ARGS}}}" ROOT_LOG_LEVEL="${{ROOT_LOG_LEVEL:-WARN}}"\n'
        + f'exec {q(home / "bin" / "flink")} "$@"\n'
    )


def _write(path: Path, text: str, mode: int = 0o755) -> None:
    """Write ``path`` whole (a tool started meanwhile reads the old or the new one), and only
    when it changes."""
    if path.is_file() and path.read_text() == text:
        os.chmod(path, mode)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def write(endpoints: Endpoints) -> Path:
    """Write (or refresh) the tools for the lab at ``endpoints``; returns `folder`.

    ``labkit up`` calls it: the Kafka scripts need the lab's jars and Java, ``flink`` the
    JobManager's current address."""
    bin_dir, support = folder(), support_dir()
    bin_dir.mkdir(parents=True, exist_ok=True)
    support.mkdir(parents=True, exist_ok=True)
    java = _java()
    log4j = support / "kafka-tools-log4j2.properties"
    _write(log4j, KAFKA_TOOLS_LOG4J, 0o644)
    run_class = bin_dir / "kafka-run-class.sh"
    executable = str(java.executable) if java else "java"
    _write(run_class, kafka_run_class(executable, kafka_tools_classpath(), log4j))
    for name, main in KAFKA_TOOLS.items():
        _write(bin_dir / name, kafka_tool(name, main, run_class))
    _write_kafka_config(endpoints)
    settings = _flink_settings(endpoints)
    if settings is None:  # no JobManager to reach: no `flink` pointing at another lab's
        (bin_dir / "flink").unlink(missing_ok=True)
        (flink_conf_dir() / "config.yaml").unlink(missing_ok=True)
        return bin_dir
    home = flink_home(endpoints)
    conf = flink_conf_dir()
    conf.mkdir(mode=0o700, exist_ok=True)
    os.chmod(conf, 0o700)
    text = HEADER + "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
    config = conf / "config.yaml"
    if not config.is_file() or config.read_text() != text or config.stat().st_mode & 0o077:
        tls.write_private(config, text.encode())  # the keystore's password: this user's only
    for name in ("log4j-cli.properties", "logback.xml"):
        if (home / "conf" / name).is_file():
            _write(conf / name, (home / "conf" / name).read_text(), 0o644)
    (paths.logs() / "flink-cli").mkdir(exist_ok=True)
    _write(bin_dir / "flink", flink_script(java, home))
    return bin_dir


def _write_kafka_config(endpoints: Endpoints) -> None:
    """`kafka_config` for the lab's connection profile (its file, written again at each up:
    a profile handed out again is picked up), or none."""
    found = profiles.of_endpoints(endpoints)
    if found is None:
        kafka_config().unlink(missing_ok=True)
        return
    settings = {"bootstrap.servers": found.bootstrap, **profiles.java_options(found, shaded=False)}
    text = HEADER + profiles.properties_text(settings)
    tls.write_private(kafka_config(), text.encode("latin-1"))


def ensure() -> Path:
    """The tools' folder, written for the lab as it runs now; a `LabError` when no lab has
    been started here (``labkit up`` first)."""
    state = State.load()
    if state is None:
        raise LabError(
            "The lab is not running, so its Kafka and Flink tools have no cluster: start it with "
            f"`labkit up`, which writes them into {folder()}."
        )
    return write(state.endpoints)


def path_with_tools(path: str | None, where: Path | None = None) -> str:
    """``path`` (a PATH value) with the tools' folder first, once."""
    first = str(where or folder())
    rest = [p for p in (path or "").split(os.pathsep) if p and p != first]
    return os.pathsep.join([first, *rest])


def add_to_path(where: Path | None = None) -> bool:
    """In a notebook kernel, put the tools' folder first on this process's ``PATH`` (so
    ``!kafka-topics.sh ...`` and ``subprocess.run(["flink", "list"])`` find them); True if
    it did. Elsewhere (a script, the test suite) PATH is left alone: ``labkit path`` prints
    the line for a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return False
    if get_ipython() is None:
        return False
    os.environ["PATH"] = path_with_tools(os.environ.get("PATH"), where)
    return True


def export_line(where: Path) -> str:
    """What ``labkit path`` prints: a shell line putting ``where`` first on PATH (and, on a lab
    whose Kafka wants a login, a comment saying which settings file the tools need)."""
    line = f'export PATH={shlex.quote(str(where))}:"$PATH"'
    config = kafka_config()
    if config.is_file():
        line += (
            "\n# this lab's Kafka wants a login: give Kafka's tools --command-config "
            f"{shlex.quote(str(config))} (the console tools: --consumer.config / --producer.config);"
            " topic names as Kafka has them"
        )
    return line
