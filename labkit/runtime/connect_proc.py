"""Kafka Connect for the lab (``lab.kafka_connect()``): a worker the lab tracks, its REST API
closed behind a password, and connectors created from a config dict.

A *worker* (a JVM) runs *connectors* made from a config sent to its REST API. Two plugins,
each a folder of verified jars on ``plugin.path`` (:mod:`labkit.runtime.artifacts`): Kafka's
``FileStreamSource`` (lines of a file) and Debezium's PostgreSQL connector (every INSERT,
UPDATE and DELETE of the lab's PostgreSQL as an event, read from its logical replication
stream with PostgreSQL's own ``pgoutput``). Worker 4.3.1, a step behind the broker: why, in
:mod:`labkit.runtime.artifacts`.

Standalone, not distributed. A distributed worker keeps connector configs, offsets and
statuses in three Kafka topics and joins a group, so it survives restarts and scales out;
the lab has one worker on one laptop, and those topics would sit in every lesson's topic
list. A standalone worker is one process with its offsets in a file
(``LABKIT_HOME/connect/offsets``) and the same REST API for connectors; what it forgets at
``labkit down`` is the connectors themselves, which a lesson creates again (``create`` is
idempotent: PUT of the whole config) - and, so that they start afresh, their offsets
(`delete` forgets a connector's offsets too).

Closed to everyone else. Connect's REST API has no login by default, and a connector config
can make the worker read any file or load a class as the learner: whoever reaches it runs
things as the learner. So it listens on 127.0.0.1 only, on a free port (`DEFAULT_PORT` or
the next), and every request needs the lab's password: Kafka's own
``BasicAuthSecurityRestExtension`` with its JAAS ``PropertyFileLoginModule``, the password
generated into ``connect/credentials.properties`` (0600, never printed, logged or put in the
state file). No CORS header is ever sent (``access.control.allow.origin`` unset), so a web
page cannot read an answer; the admin endpoints (log levels) are off.

Secrets stay out of connector configs: a config names a secret as
``${file:<LABKIT_HOME>/connect/secrets.properties:postgres.password}`` (Kafka's
``FileConfigProvider``, allowed to read that one folder), and the worker reads it when the
connector starts. `KafkaConnect.secret` writes that file and returns the reference.

What the lab changes from Connect's defaults: a small heap (its default is 2 GB), JSON
without the schema envelope (``schemas.enable=false``: events read as plain JSON; a
connector may ask for it back), offsets flushed every second (default 60 s), plugins found
through their service manifests (``plugin.discovery=service_load``: no scan of every jar).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import paths
from ..errors import LabError
from ..waiting import wait_for
from . import artifacts, jvm, tls
from .net import PortLost, env_port, listening, pick_port, port_free, require_broker
from .processes import fail_if_exited, launch, record, rss_mb, tracked, untrack
from .state import State, lock

#: The process's name in the state file (not ``kafka-...``: those are the brokers).
NAME = "connect"
HOST = "127.0.0.1"
#: Away from 8083, Connect's own default, where a learner's own worker may run.
DEFAULT_PORT = 18083
USER = "lab"
READY_TIMEOUT_S = 90.0
#: The two plugin folders on ``plugin.path`` (artifacts bundles).
PLUGINS = ("connect-file", "debezium-postgres")
#: A laptop-sized JVM, like the lab's brokers (Connect's scripts default to -Xmx2G, G1).
JVM_OPTS = "-Xmx256m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxMetaspaceSize=160m -Xss512k"
#: slf4j-simple: Connect's own INFO lines (connectors and tasks starting), clients' at WARN.
LOG_OPTS = [
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common=warn",
    "-Dorg.slf4j.simpleLogger.log.org.eclipse.jetty=warn",
    "-Dorg.slf4j.simpleLogger.log.org.reflections=warn",
]
MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"
AUTH_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
LOGIN_MODULE = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"


class ConnectUnavailable(LabError):
    """Kafka Connect cannot be started here, or a connector failed."""


# --- where things are ----------------------------------------------------------------


def folder() -> Path:
    """``LABKIT_HOME/connect``: the worker's settings, password, secrets and offsets."""
    return paths.home() / "connect"


def credentials_file() -> Path:
    return folder() / "credentials.properties"


def secrets_file() -> Path:
    return folder() / "secrets.properties"


def log_file() -> Path:
    return paths.logs() / f"{NAME}.log"


def plugin_dir() -> Path:
    """``plugin.path``: one folder per plugin, each a link to its verified bundle. (Connect
    takes each folder *inside* a ``plugin.path`` entry as one plugin, with a class loader of its
    own; the jar cache itself would make every jar, of every bundle, a plugin.)"""
    return folder() / "plugins"


def _link_plugins() -> None:
    plugin_dir().mkdir(parents=True, exist_ok=True)
    for bundle in PLUGINS:
        link = plugin_dir() / bundle
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(artifacts.bundle_dir(bundle), target_is_directory=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` into ``path``, readable by this user only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tls.write_private(path, text.encode())


def read_password() -> str:
    try:
        for line in credentials_file().read_text().splitlines():
            if line.startswith(f"{USER}="):
                return line.split("=", 1)[1].strip()
    except FileNotFoundError:
        pass
    raise LabError(
        f"Kafka Connect's password file {credentials_file()} is gone or damaged: stop the lab "
        "(`labkit down`); the next start writes a new one."
    )


def _ensure_password() -> None:
    try:
        read_password()
    except LabError:
        _write_private(credentials_file(), f"{USER}={secrets.token_urlsafe(24)}\n")


def worker_properties(bootstrap_servers: str, port: int) -> dict[str, str]:
    """The standalone worker's settings (every one the lab sets, and why, above)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "listeners": f"http://{HOST}:{port}",
        "rest.advertised.host.name": HOST,
        "admin.listeners": "",  # no /admin endpoints (log levels) at all
        "rest.extension.classes": AUTH_EXTENSION,
        "plugin.path": str(plugin_dir()),
        "plugin.discovery": "service_load",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": str(folder() / "offsets"),
        "offset.flush.interval.ms": "1000",
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        "config.providers.file.param.allowed.paths": str(folder()),
    }


def _jaas() -> str:
    # the login module reads user=password lines from the credentials file (0600)
    return f'KafkaConnect {{\n  {LOGIN_MODULE} required\n  file="{credentials_file()}";\n}};\n'


# --- the handle a lesson holds -------------------------------------------------------


@dataclass(frozen=True)
class KafkaConnect:
    """The lab's Kafka Connect worker: its REST API in one line per call.

    ``create(name, config)`` makes (or replaces) a connector from the dict on the learner's
    screen, ``wait_running(name)`` waits for it and its tasks, ``status``/``delete``. The
    password is read from its 0600 file for each request and never shown.
    """

    host: str
    port: int
    version: str = artifacts.CONNECT_VERSION
    log: Path = field(default_factory=log_file, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return tracked(self.info) is not None

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        """One REST call, straight to 127.0.0.1 (no proxy); (HTTP status, decoded JSON or text)."""
        headers = {"Accept": "application/json"}
        if auth:
            token = base64.b64encode(f"{USER}:{read_password()}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
        except OSError as exc:
            raise ConnectUnavailable(
                f"Kafka Connect does not answer at {self.url} ({exc}): is the lab running? `labkit status`."
            ) from exc
        finally:
            conn.close()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        if status >= 400:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise ConnectUnavailable(f"Kafka Connect answered {status} to {method} {path}: {message}")
        return answer

    def connectors(self) -> list[str]:
        return sorted(self._call("GET", "/connectors"))

    def plugins(self) -> list[str]:
        """The connector classes this worker can run."""
        return sorted(p["class"] for p in self._call("GET", "/connector-plugins"))

    def create(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create the connector ``name`` from ``config``, or replace its config (PUT
        /connectors/<name>/config: the same call either way). Values are sent as strings,
        as Connect keeps them. Returns the connector's info."""
        body = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in config.items()}
        return self._call("PUT", f"/connectors/{quote(name, safe='')}/config", body)

    def config(self, name: str) -> dict[str, str]:
        return self._call("GET", f"/connectors/{quote(name, safe='')}/config")

    def status(self, name: str) -> dict[str, Any]:
        """Connect's status of a connector: its state and each task's (RUNNING, FAILED + trace...)."""
        return self._call("GET", f"/connectors/{quote(name, safe='')}/status")

    def delete(self, name: str) -> bool:
        """Delete the connector and forget its offsets (how far it had read); True if it
        existed. Connect alone keeps the offsets of a deleted connector, and one created again
        under the same name would carry on from them - a lesson run twice would resume a
        change stream PostgreSQL no longer has. So: stop it, reset its offsets (Kafka's
        KIP-875 endpoints), then delete it."""
        path = f"/connectors/{quote(name, safe='')}"
        if self.request("GET", path)[0] == 404:
            return False
        status, answer = self.request("PUT", f"{path}/stop")
        if status >= 400:
            raise ConnectUnavailable(f"Kafka Connect could not stop {name}: {answer}")
        stopped = lambda: self.status(name)["connector"]["state"] == "STOPPED"  # noqa: E731
        wait_for(stopped, f"connector {name} to stop", 30)
        status, answer = self.request("DELETE", f"{path}/offsets")
        if status >= 400:
            raise ConnectUnavailable(f"Kafka Connect could not reset the offsets of {name}: {answer}")
        status, answer = self.request("DELETE", path)
        if status >= 400 and status != 404:
            raise ConnectUnavailable(f"Kafka Connect could not delete {name}: {answer}")
        return True

    def wait_running(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """Until the connector and all its tasks are RUNNING; returns the status. A FAILED one
        is an error at once, with the first lines of its trace."""

        def running() -> dict[str, Any] | None:
            status, answer = self.request("GET", f"/connectors/{quote(name, safe='')}/status")
            if status == 404:
                return None  # just created: not registered yet
            if status >= 400 or not isinstance(answer, dict):
                raise ConnectUnavailable(f"Kafka Connect answered {status}: {answer}")
            parts = [answer["connector"], *answer.get("tasks", [])]
            failed = [p for p in parts if p.get("state") == "FAILED"]
            if failed:
                trace = "\n".join(str(failed[0].get("trace", "")).splitlines()[:8])
                raise ConnectUnavailable(f"Connector {name} FAILED:\n{trace}")
            ok = answer.get("tasks") and all(p.get("state") == "RUNNING" for p in parts)
            return answer if ok else None

        return wait_for(running, f"connector {name} and its tasks to be RUNNING", timeout, every=0.2)

    def secret(self, key: str, value: str) -> str:
        """Keep ``value`` in the worker's 0600 secrets file under ``key`` and return the
        reference a connector config holds instead of it: ``${file:<file>:<key>}``."""
        if not key.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"a secret's key is letters, digits and . _ - only, not {key!r}")
        if any(c in value for c in "\\\r\n"):  # a Java properties file would read these as escapes
            raise ValueError("a secret's value is one line without backslashes")
        kept = _read_secrets()
        kept[key] = value
        _write_private(secrets_file(), "".join(f"{k}={v}\n" for k, v in sorted(kept.items())))
        return f"${{file:{secrets_file()}:{key}}}"

    def postgres_password(self) -> str:
        """The lab's PostgreSQL password as a reference for ``database.password`` (see `secret`)."""
        from . import postgres_proc

        return self.secret("postgres.password", postgres_proc.read_password())

    def rss_mb(self) -> float | None:
        return rss_mb(self.info)

    def stop(self) -> bool:
        """Stop the worker (its connectors are forgotten, and at its next start their
        offsets); True if it ran."""
        return stop()

    def __str__(self) -> str:
        return f"Kafka Connect {self.version} (standalone) at {self.url}"


def _read_secrets() -> dict[str, str]:
    try:
        lines = secrets_file().read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _handle(info: dict[str, Any]) -> KafkaConnect:
    return KafkaConnect(HOST, int(info["port"]), log=Path(info["log"]), info=info)


def current() -> KafkaConnect | None:
    """The lab's running worker (as its state file records it), or None."""
    state = State.load()
    info = state.processes.get(NAME) if state else None
    return _handle(info) if info and tracked(info) else None


# --- starting, waiting, stopping -----------------------------------------------------


def _start(java: Path, bootstrap_servers: str, port: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    home = folder()
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    _ensure_password()
    _link_plugins()
    # a standalone worker forgets its connectors when it stops; it forgets their offsets too,
    # so that a connector created again under an old name starts afresh, not from a position
    # the source (PostgreSQL's replication slot, dropped with the connector) no longer has
    (home / "offsets").unlink(missing_ok=True)
    props = worker_properties(bootstrap_servers, port)
    (home / "worker.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    _write_private(home / "jaas.conf", _jaas())
    classpath = os.pathsep.join(str(p) for p in artifacts.classpath("kafka-connect"))
    command = [
        str(java),
        *JVM_OPTS.split(),
        *LOG_OPTS,
        "-Djava.awt.headless=true",
        "-Djava.net.preferIPv4Stack=true",  # its listener a plain 127.0.0.1 socket, not IPv6's mapped one
        f"-Djava.security.auth.login.config={home / 'jaas.conf'}",
        "-cp",
        classpath,
        MAIN,
        str(home / "worker.properties"),
    ]
    log = log_file()
    try:
        banner = f"labkit starting {NAME} on {HOST}:{port} at {time.strftime('%F %T')}"
        proc = launch(command, log, banner, home)
    except OSError as exc:
        raise ConnectUnavailable(f"Kafka Connect could not be started: {exc}") from exc
    return proc, record(proc, port=port, log=str(log), bootstrap_servers=bootstrap_servers)


def wait_ready(proc: subprocess.Popen | None, info: dict[str, Any], timeout: float = READY_TIMEOUT_S) -> None:
    """Until the worker answers an authenticated request on its port; a clear error, with its
    log, if it exits first (`PortLost` if its port was taken) or is not ready in time."""
    handle, log = _handle(info), Path(info["log"])

    def ready() -> bool:
        if proc is not None:
            fail_if_exited(proc, "Kafka Connect", log)
        elif tracked(info) is None:
            raise LabError(f"Kafka Connect stopped while starting. Its log ends:\n{paths.log_tail(log)}")
        if not listening(info["pid"], handle.port):
            return False
        try:
            return handle.request("GET", "/connectors")[0] == 200
        except ConnectUnavailable:
            return False

    try:
        wait_for(ready, f"Kafka Connect to answer on {HOST}:{handle.port}", timeout, every=0.1)
    except PortLost:
        raise
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its log ({log}) ends:\n{paths.log_tail(log)}") from None


def ensure_running(quiet: bool = True, attempt: int = 0) -> KafkaConnect:
    """The lab's Kafka Connect worker, started if it is not running; a running one is reused.

    Fails within seconds, with what to do, when Kafka does not answer, Java is missing or
    ``LABKIT_CONNECT_PORT`` is taken (else the port is `DEFAULT_PORT` or the next free one).
    """
    say = paths.printer(quiet)
    java = jvm.find_java().executable  # a JavaNotFound that says how to get one
    proc = None
    with lock():
        state = State.load()
        if state is None:
            raise LabError(
                "Start the lab first (`labkit up` or `labkit.connect()`): Kafka Connect needs Kafka."
            )
        info = state.processes.get(NAME)
        bootstrap = state.endpoints.bootstrap_servers
        if not (info and tracked(info) and info.get("bootstrap_servers") == bootstrap):
            if info and tracked(info):  # a worker of an earlier Kafka (other ports): replaced
                untrack(NAME)
            taken = {int(i["port"]) for n, i in state.processes.items() if i.get("port") and n != NAME}
            wanted = _env_port()
            old = int(info["port"]) if info and info.get("port") and not wanted and not attempt else 0
            port = old if old and port_free(old) else pick_port(
                wanted, DEFAULT_PORT if not attempt else None, taken, "Kafka Connect", "LABKIT_CONNECT_PORT"
            )  # fmt: skip
            require_broker(bootstrap)  # before a JVM that would retry for a minute
            artifacts.ensure(quiet=quiet, bundles=("kafka-connect", *PLUGINS))
            say(f"labkit: starting Kafka Connect on {HOST}:{port}...")
            proc, info = _start(java, bootstrap, port)
            state.processes[NAME] = info  # tracked now: `down` stops it even if waiting fails
            state.save()
    try:
        wait_ready(proc, info)
    except PortLost:
        untrack(NAME)  # another program took the port between our choice and the bind
        if attempt >= 2 or _env_port():
            raise
        return ensure_running(quiet, attempt + 1)
    handle = _handle(info)
    if proc is not None:
        say(f"labkit: {handle} - ready.")
    return handle


def stop() -> bool:
    """Stop the lab's worker; True if it was running."""
    return bool(untrack(NAME))


def _env_port() -> int | None:
    return env_port("LABKIT_CONNECT_PORT")
