"""A Flink session cluster as local processes: one JobManager and one TaskManager.

Both come from PyFlink's own distribution (``pyflink/bin``, ``pyflink/lib``): no Flink
download. ``.labkit/flink/`` gets a ``lib/`` of links to PyFlink's jars plus flink-python,
the official Kafka and JDBC (PostgreSQL) connectors and the Parquet format
(:func:`labkit.runtime.artifacts.flink_lib`), the lab's fix that keeps Python workers'
servers on loopback (:mod:`labkit.runtime.beam_loopback`), a ``conf/config.yaml`` written
below, and the logs. Every job a notebook runs is submitted to this JobManager and runs on
the TaskManager, whose Python functions use the lab's own Python. A JVM reads its ``lib/``
once, when it starts: `lib_outdated` says when a running cluster's is not the one this
labkit lays out (labkit upgraded under a running lab), so that its Flink starts again.

The JobManager's REST API speaks HTTPS and only to holders of the lab's certificate
(:mod:`labkit.runtime.tls`), on a free port; the learner's browser reaches the Web UI
through the lab's front door on 8081 or the next free port (:mod:`labkit.runtime.webui`),
the third process here. Jar upload is off: nothing but the notebook submits jobs. The
fourth is Flink's SQL Gateway (:mod:`labkit.runtime.gateway_proc`), closed the same way.

Every listener is on 127.0.0.1 - unless the lab was started on an address of the room's
network (``labkit up --flink-host ADDR``, `FlinkPorts.host`), so that TaskManagers of other
machines can join it (:mod:`labkit.runtime.flink_join`). Then the JobManager's RPC, the
blob server and the TaskManagers' RPC and data ports bind that address, and all of that
traffic is Flink's internal SSL (`internal_options`): mutual TLS with one key made for the
lab, each machine's certificate signed by it for its address (made in
:mod:`labkit.runtime.flink_join`), keystore and truststore alike - Flink's recommended set-up for internal
connectivity (one dedicated certificate). REST stays on 127.0.0.1, mutual TLS.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import LabError
from . import artifacts, beam_loopback, gateway_proc, tls
from .net import listening, pick_port, port_free
from .processes import fail_if_exited, launch

DEFAULT_REST_PORT = 8081
#: Where every listener is unless the lab names another address (`FlinkPorts.host`).
LOOPBACK = "127.0.0.1"
SLOTS = 4
READY_TIMEOUT_S = 90.0
#: Serial GC, C1-only JIT: a laptop-sized JVM that starts fast (appended to Flink's own options).
JVM_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k"

#: Sized for a laptop (Flink's defaults: 1600m each). Measured in `make bench`.
MEMORY = {
    "jobmanager.memory.process.size": "640m",
    "taskmanager.memory.process.size": "1024m",
    "taskmanager.memory.managed.size": "128m",
    "taskmanager.memory.network.min": "32m",
    "taskmanager.memory.network.max": "32m",
    "taskmanager.memory.jvm-metaspace.size": "192m",
}


@dataclass
class FlinkPorts:
    rest: int  # the JobManager's REST API (HTTPS, client certificate required)
    rpc: int
    web: int  # the Web UI's front door, for the learner's browser
    gateway: int = 0  # Flink's SQL Gateway (HTTPS, client certificate required); 0: none
    # JobManager RPC, blob server, TaskManagers' RPC and data: 127.0.0.1, or this machine's
    # address on a network other machines' TaskManagers join over (internal SSL then)
    host: str = LOOPBACK

    @property
    def rest_address(self) -> str:
        return f"https://127.0.0.1:{self.rest}"

    @property
    def web_address(self) -> str:
        return f"127.0.0.1:{self.web}"

    @property
    def gateway_address(self) -> str | None:
        return gateway_proc.address(self.gateway) if self.gateway else None


def version() -> str:
    """The Flink version of PyFlink's distribution, which the lab's cluster runs."""
    import pyflink.version

    return pyflink.version.__version__


def flink_home() -> Path:
    return paths.home() / "flink"


def plan(
    rest_port: int | None = None,
    taken: set[int] | None = None,
    preferred: int | None = DEFAULT_REST_PORT,
    rpc: int | None = None,
) -> FlinkPorts:
    """The Web UI on ``rest_port`` (an error if taken), else ``preferred`` (8081) or the next
    free one (any free one if None); the JobManager's REST API and the SQL Gateway on free
    ports, its RPC on ``rpc`` if that is free (a lab other machines' TaskManagers joined keeps
    the port their join bundles name) or a free one."""
    taken = set(taken or ())
    web = pick_port(rest_port, preferred, taken, "Flink's Web UI", "LABKIT_FLINK_PORT")
    taken.add(web)
    rest = pick_port(None, None, taken, "Flink's REST API")
    taken.add(rest)
    if not (rpc and rpc not in taken and port_free(rpc)):
        rpc = pick_port(None, None, taken, "Flink's JobManager")
    taken.add(rpc)
    return FlinkPorts(rest, rpc, web, pick_port(None, None, taken, "Flink's SQL Gateway"))


def config(ports: FlinkPorts) -> dict[str, str]:
    """The cluster's config.yaml, flat keys. Every listener on 127.0.0.1, or the internal
    ones on `FlinkPorts.host` (`start` then adds `internal_options`: internal SSL)."""
    home = flink_home()
    host = ports.host
    out = {
        "jobmanager.rpc.address": host,
        "jobmanager.bind-host": host,
        "jobmanager.rpc.port": str(ports.rpc),
        "taskmanager.bind-host": host,
        "taskmanager.host": host,
        "taskmanager.rpc.port": "0",
        "taskmanager.data.port": "0",
        "blob.server.port": "0",
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(ports.rest),
        # no jar upload or run through the REST API: jobs come from the notebook's client;
        # no page of another origin than the Web UI's may read its replies
        "web.submit.enable": "false",
        "web.access-control-allow-origin": f"http://127.0.0.1:{ports.web}",
        "taskmanager.numberOfTaskSlots": str(SLOTS),
        "parallelism.default": "1",
        **MEMORY,
        # Python functions run inside the TaskManager ("thread" mode: its embedded interpreter
        # is this Python, see environment): no worker process, no Beam gRPC servers (they
        # listen on every interface). PyFlink runs what thread mode lacks (pandas UDFs,
        # Python aggregate functions) in worker processes of this Python, 20 ms bundles.
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": "20",
        # checkpoints and savepoints on local disk, kept across restarts of the cluster
        "execution.checkpointing.dir": (home / "checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": (home / "savepoints").as_uri(),
        "state.backend.type": "hashmap",
        # a failed task restarts quickly (the lessons kill TaskManagers on purpose)
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "10",
        "restart-strategy.fixed-delay.delay": "1 s",
        "heartbeat.timeout": "10000",
        "heartbeat.interval": "2000",
        # the JobManager asks the TaskManagers for metrics (records, busy time, watermarks)
        # at most this often, when the Web UI or a job view asks it (Flink's default: 10 s,
        # and numbers that move in 10 s steps)
        "metrics.fetcher.update-interval": "2000",
        # The TaskManager starts faster than the JobManager and asks for its ResourceManager
        # before that exists; it then waits this long to ask again (Flink's default 10 s:
        # `labkit up` took 10 s longer whenever the TaskManager won that race).
        "cluster.registration.error-delay": "500 ms",
        "resourcemanager.taskmanager-timeout": "10000",
        "table.local-time-zone": "UTC",
        # Flink's own module opens (from PyFlink's config.yaml), then a laptop-sized JVM
        "env.java.opts.all": f"{_default_java_opts()} {JVM_OPTS}".strip(),
        "web.cancel.enable": "true",
    }
    if host != LOOPBACK:
        out.update(SPREAD)
    return out


#: A cluster whose TaskManagers may be on several machines: a job's slots spread over them
#: (a rescaled job uses the joined machine too, Flink's default fills one TaskManager
#: first), and state up to 1 MB travels inside the checkpoint's metadata, which the
#: JobManager writes on its own disk (a TaskManager on another machine would otherwise
#: write state files to a path that is the JobManager's: shared storage, as Flink expects).
SPREAD = {"taskmanager.load-balance.mode": "slots", "state.storage.fs.memory-threshold": "1mb"}


def checked_host(host: str) -> str:
    """``host`` if it is an IP address (Flink binds it: one of this machine's), else a `LabError`."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise LabError(f"Flink's address must be an IP address of this machine, not {host!r}.") from None


def internal_options(where: Path) -> dict[str, str]:
    """Flink's internal SSL (RPC, data transport, blob server) with ``where/internal.p12``
    (`labkit.runtime.flink_join.ensure_internal`) as keystore and truststore; the lab's
    protocol and cipher suites."""
    p12 = str(where / "internal.p12")
    password = (where / "internal.password").read_text().strip()
    return {
        "security.ssl.internal.enabled": "true",
        "security.ssl.internal.keystore": p12,
        "security.ssl.internal.keystore-type": "PKCS12",
        "security.ssl.internal.keystore-password": password,
        "security.ssl.internal.key-password": password,
        "security.ssl.internal.truststore": p12,
        "security.ssl.internal.truststore-type": "PKCS12",
        "security.ssl.internal.truststore-password": password,
        "security.ssl.protocol": "TLSv1.2",
        "security.ssl.algorithms": ",".join(tls.CIPHER_SUITES),
    }


def access() -> dict[str, str]:
    """Who may use the local cluster's REST API: holders of the lab's certificate (mutual
    TLS, runtime/tls.py). Local only: a container image never holds the lab's key."""
    return tls.flink_options(tls.ensure())


def _default_java_opts() -> str:
    """``env.java.opts.all`` of PyFlink's own config.yaml: the --add-opens/--add-exports
    Flink needs on Java 17 (our value replaces it, so it must carry them on)."""
    import re

    import pyflink

    text = (Path(pyflink.__file__).parent / "conf" / "config.yaml").read_text()
    found = re.search(r"^\s+all:\s*(--add-.*)$", text, re.M)
    return found.group(1).strip() if found else ""


def lib_jars() -> list[Path]:
    """The jars of the cluster's ``lib/`` (the SQL Gateway's too)."""
    import pyflink

    dist = Path(pyflink.__file__).parent
    (flink_python,) = (dist / "opt").glob("flink-python-*.jar")
    return [
        *(dist / "lib").glob("*.jar"),
        flink_python,
        beam_loopback.jar(flink_python),  # before flink-python: Python workers on loopback
        *artifacts.flink_lib(),  # the connectors and formats
    ]


def lib_outdated() -> list[str]:
    """The jars `lib_jars` has and the laid-out ``lib/`` lacks, or links elsewhere (names);
    [] when it is current. Those a running cluster has never loaded: its JVMs read ``lib/``
    at start, so the JobManager's processes must start again (`prepare` lays it anew)."""
    lib = flink_home() / "lib"
    have = {p.name: p.resolve() for p in lib.glob("*.jar")} if lib.is_dir() else {}
    return sorted(j.name for j in lib_jars() if have.get(j.name) != j.resolve())


def prepare() -> Path:
    """Lay out ``.labkit/flink`` (bin, conf, lib) from PyFlink's distribution."""
    import pyflink

    dist = Path(pyflink.__file__).parent
    home = flink_home()
    lib = home / "lib"
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    for jar in lib_jars():
        (lib / jar.name).symlink_to(jar)
    for sub in ("bin", "conf"):
        if (home / sub).exists():
            shutil.rmtree(home / sub)
        shutil.copytree(dist / sub, home / sub)
    gateway_proc.prepare(home)
    (home / "log").mkdir(exist_ok=True)
    return home


def environment(java_home: Path) -> dict[str, str]:
    """The environment Flink's scripts run in (``FLINK_HOME``, ``FLINK_CONF_DIR``, Java...)."""
    # A PyFlink started in the calling process leaves FLINK_*/JVM_ARGS in os.environ; the
    # cluster must not inherit them (its lib/ and conf/ are the ones above).
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLINK_", "PYFLINK_")) and k != "JVM_ARGS"
    }
    home = flink_home()
    env.update(
        FLINK_HOME=str(home),
        FLINK_CONF_DIR=str(home / "conf"),
        FLINK_LOG_DIR=str(home / "log"),
        JAVA_HOME=str(java_home),
        ROOT_LOG_LEVEL="WARN",
        # Flink's start scripts run three short JVMs per role before the real one (reading
        # config.yaml, Java's version, the memory sizes), with Java's default JIT and GC:
        # C1 and the serial collector start them faster on two cores (the real JVM gets the
        # same flags from env.java.opts.all).
        JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    )
    # The TaskManager's embedded Python (thread mode, pemja) is the lab's own: an interpreter
    # embedded without a program path finds its prefix from the first `python3` on PATH, so
    # this Python's folder goes first, as an activated virtualenv does. It then gets this
    # venv's site-packages with their .pth files (labkit installed editable), and not the
    # base Python's (PYTHONPATH alone: "No module named 'labkit'", the base's packages too).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


ROLES = ("jobmanager", "taskmanager", "webui", gateway_proc.ROLE)


def start(
    java_home: Path, ports: FlinkPorts, roles: tuple[str, ...] = ROLES, internal: Path | None = None
) -> dict[str, subprocess.Popen]:
    """Start the JobManager, TaskManager, the Web UI's front door and/or the SQL Gateway
    (not waiting); with Flink's internal SSL on the key in ``internal`` if given (a lab on
    another address than 127.0.0.1: `labkit.runtime.flink_join.ensure_internal`)."""
    home = flink_home()
    if not (home / "lib").is_dir() or not (home / "opt").is_dir() or "jobmanager" in roles:
        prepare()
    cluster = {**config(ports), **access()}
    if internal is not None:
        cluster.update(internal_options(internal))
    write_config(home / "conf", cluster)
    procs = {}
    for role in roles:
        out = paths.logs() / f"flink-{role}.log"
        command = [str(home / "bin" / f"{role}.sh"), "start-foreground"]
        env = environment(java_home)
        if role == "webui":
            command = [sys.executable, "-m", "labkit.runtime.webui", "--port", str(ports.web)]
            command += ["--upstream", ports.rest_address, "--tls", str(tls.folder())]
        elif role == gateway_proc.ROLE:
            command = gateway_proc.command(home)
            env["FLINK_CONF_DIR"] = str(gateway_proc.write_config(cluster, ports.gateway))
        banner = f"labkit starting the Flink {role} at {time.ctime()}"
        procs[role] = launch(command, out, banner, home, env=env)
    return procs


def write_config(conf: Path, settings: dict[str, str]) -> None:
    """``conf/config.yaml`` of ``settings``; 0600: it holds the keystores' passwords."""
    tls.write_private(
        conf / "config.yaml",
        (
            "# Written by labkit (labkit/runtime/flink_proc.py) at every start.\n"
            + "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())
        ).encode(),
    )


def overview(rest: str, timeout: float = 2.0) -> dict | None:
    """The JobManager's /overview (TaskManagers, slots, jobs, version), or None."""
    try:
        return dict(tls.call(rest, "overview", timeout=timeout))
    except (OSError, ValueError, TypeError, LabError):
        return None


def taskmanagers(rest: str, timeout: float = 2.0) -> list[dict]:
    """The JobManager's /taskmanagers listing (id, path, dataPort, slots...); [] if it does
    not answer. A dead TaskManager stays listed for a few heartbeats."""
    try:
        return list(tls.call(rest, "taskmanagers", timeout=timeout)["taskmanagers"])
    except (OSError, ValueError, KeyError, TypeError, LabError):
        return []


def taskmanager_ids(rest: str) -> set[str]:
    """The ids of the TaskManagers the JobManager knows (see `taskmanagers`)."""
    return {tm["id"] for tm in taskmanagers(rest)}


def wait_ready(
    rest: str,
    procs: dict[str, subprocess.Popen],
    taskmanagers: int = 1,
    timeout: float = READY_TIMEOUT_S,
    known: set[str] | frozenset[str] = frozenset(),
    web_port: int | None = None,
    gateway: str | None = None,
) -> dict:
    """Until the JobManager answers, ``taskmanagers`` TaskManagers have registered (not
    counting the ``known`` ones, there before a TaskManager was restarted), the Web UI's
    front door listens on ``web_port`` and a SQL Gateway started here answers at ``gateway``."""
    deadline = time.monotonic() + timeout
    while True:
        for role, proc in procs.items():
            fail_if_exited(proc, f"The Flink {role}", paths.logs() / f"flink-{role}.log")
        # a JobManager we started must hold the REST port (another lab's may answer there)
        jm, door = procs.get("jobmanager"), procs.get("webui")
        mine = jm is None or listening(jm.pid, tls.host_port(rest)[1])
        info = overview(rest) if mine else None
        door_up = door is None or web_port is None or listening(door.pid, web_port)
        sql = procs.get(gateway_proc.ROLE)
        sql_up = (
            sql is None
            or gateway is None
            or (listening(sql.pid, tls.host_port(gateway)[1]) and gateway_proc.info(gateway) is not None)
        )
        if info and door_up and sql_up and len(taskmanager_ids(rest) - set(known)) >= taskmanagers:
            return info
        if time.monotonic() > deadline:
            raise LabError(
                f"Flink did not become ready within {timeout:.0f} s (JobManager at {rest}). Logs:\n"
                + "".join(paths.log_tail(paths.logs() / f"flink-{r}.log", 1000) for r in procs)
            )
        time.sleep(0.2)
