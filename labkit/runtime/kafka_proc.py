"""Apache Kafka brokers as local processes: KRaft mode, data on disk, 127.0.0.1 only.

``labkit up`` runs one broker (or three with ``--brokers 3``), each a combined
broker + controller, straight from the official jars (:mod:`labkit.runtime.artifacts`):
``java -cp <jars> kafka.Kafka server.properties``, like Kafka's own ``kafka-server-start.sh``.

Each cluster keeps its log under ``.labkit/kafka-<N>/`` (N brokers), formatted once
with a cluster id of its own, so topics and their events survive ``labkit down`` /
``labkit up`` - that is what Kafka is for. ``labkit reset`` deletes the folder.
The settings are Kafka's defaults plus the lines in ``kafka.properties`` beside this file.

A broker's JVM spends most of its start loading and verifying classes from the jars; on a
2-core laptop it does so while Flink's JVMs do the same. So the first format of a log
folder on this machine records the classes it loaded in a class-data sharing archive
(`class_archive`, Java's ``-XX:ArchiveClassesAtExit``), and later formats and every broker
map them from it (``-XX:SharedArchiveFile``). A lab without it starts as before.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LabError
from . import artifacts
from .net import answers, listening, pick_port
from .processes import fail_if_exited, launch

SETTINGS = Path(__file__).with_name("kafka.properties")
LOG4J = Path(__file__).with_name("kafka-log4j2.properties")
DEFAULT_PORT = 9092
#: Per broker: small heaps and the serial collector (Kafka's own default is 1 GiB + G1).
HEAP = {1: "-Xmx256m -Xms64m", 3: "-Xmx192m -Xms48m"}
#: C1-only JIT, as the lab's Flink JVMs: C2's compiler threads roughly double the CPU a
#: broker burns while it starts (4.0-4.5 -> 2.4 s measured; the format tool 1.5 -> 1.0 s),
#: which on a 2-core laptop it shares with Flink's JVMs; a lab's traffic never needs C2.
JVM_OPTS = (
    "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxMetaspaceSize=128m -Xss512k -Djava.awt.headless=true"
)
READY_TIMEOUT_S = 60.0


@dataclass
class Broker:
    node_id: int
    port: int  # clients (PLAINTEXT)
    controller_port: int  # KRaft controllers talk here

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fields(self) -> dict[str, int]:
        """What the state file keeps of this broker beside its process (see `of`)."""
        return {"node_id": self.node_id, "port": self.port, "controller_port": self.controller_port}

    @classmethod
    def of(cls, info: dict[str, Any]) -> Broker:
        """The broker a process record (with `fields`) describes."""
        return cls(info["node_id"], info["port"], info["controller_port"])


def data_dir(brokers: int) -> Path:
    return paths.home() / f"kafka-{brokers}"


def plan(
    brokers: int, port: int | None = None, taken: set[int] | None = None, first: int | None = DEFAULT_PORT
) -> list[Broker]:
    """Ports for each broker: ``port`` (an error if taken), else ``first`` (9092) or the next
    free one (any free one if None), then the ports after it; controllers get free ones."""
    taken = set(taken or ())
    out: list[Broker] = []
    for i in range(brokers):
        preferred = out[-1].port + 1 if out else first
        client = pick_port(port if i == 0 else None, preferred, taken, "Kafka", "LABKIT_KAFKA_PORT")
        taken.add(client)
        controller = pick_port(None, None, taken, "Kafka's controller")
        taken.add(controller)
        out.append(Broker(i + 1, client, controller))
    return out


def server_properties(
    broker: Broker, cluster: list[Broker], folder: Path | None = None, controllers: list[int] | None = None
) -> str:
    """A broker's ``server.properties``: ``kafka.properties`` plus its node id, listeners,
    quorum and log folder. ``controllers``: the node ids that are also KRaft controllers
    (default: every one)."""
    folder = folder or data_dir(len(cluster))
    voting = [b for b in cluster if controllers is None or b.node_id in controllers]
    voters = ",".join(f"{b.node_id}@127.0.0.1:{b.controller_port}" for b in voting)
    lines = [
        SETTINGS.read_text(),
        "# --- per broker, written by labkit ---",
        f"node.id={broker.node_id}",
        f"listeners=PLAINTEXT://127.0.0.1:{broker.port},CONTROLLER://127.0.0.1:{broker.controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker.port}",
        f"controller.quorum.voters={voters}",
        f"log.dirs={folder / f'broker-{broker.node_id}'}",
    ]
    if len(cluster) >= 3:
        lines += [
            "offsets.topic.replication.factor=3",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "share.coordinator.state.topic.replication.factor=3",
            "share.coordinator.state.topic.min.isr=2",
            "default.replication.factor=3",
            "min.insync.replicas=2",
        ]
    if broker not in voting:  # a broker only (a later line wins over kafka.properties' roles)
        lines += [
            "process.roles=broker",
            f"listeners=PLAINTEXT://127.0.0.1:{broker.port}",
        ]
    return "\n".join(lines) + "\n"


def _classpath() -> str:
    return os.pathsep.join(str(p) for p in artifacts.classpath("kafka"))


def java_command(java: Path, main: str, *args: str, heap: str, cds: str | None = None) -> list[str]:
    """Kafka's JVM on the verified jars: ``heap``, the lab's JIT and GC flags, a class-data
    archive option (``cds``), Kafka's log settings, then ``main`` and ``args`` (``main`` may
    be an ``@file`` the Java launcher reads them from)."""
    return [
        str(java),
        *heap.split(),
        *JVM_OPTS.split(),
        *([cds] if cds else []),
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        _classpath(),
        main,
        *args,
    ]


def class_archive(java: Path) -> Path:
    """Where Kafka's class-data sharing archive for this Java and these jars is kept: in the
    jar cache (``cds/``, this user's only), one per Java build and classpath, since Java
    accepts an archive only with the JVM and the jars it was made with."""
    jvm = java.resolve()
    libjvm = jvm.parent.parent / "lib" / "server" / "libjvm.so"
    stamps = [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in (jvm, libjvm) if p.is_file()]
    digest = hashlib.sha256("\n".join([*stamps, _classpath()]).encode()).hexdigest()[:16]
    return paths.cache() / "cds" / f"kafka-{digest}.jsa"


def usable_archive(archive: Path) -> bool:
    """True when ``archive`` exists and only this user can have written it and its folder:
    the classes in it run inside the broker."""
    try:
        stats = (archive.parent.stat(), archive.stat())
    except OSError:
        return False
    return all(st.st_uid == os.getuid() and not st.st_mode & 0o022 for st in stats)


def _cluster_id(brokers: int, folder: Path | None = None) -> str:
    path = (folder or data_dir(brokers)) / "cluster.id"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        # the format Kafka's own `kafka-storage.sh random-uuid` prints (which also never
        # starts with "-", so it cannot be mistaken for an option)
        cid = "-"
        while cid.startswith("-"):
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        path.write_text(cid)
    return path.read_text().strip()


def start(
    java: Path,
    brokers: list[Broker],
    cluster: list[Broker],
    folder: Path | None = None,
    log_prefix: str = "kafka",
    controllers: list[int] | None = None,
) -> list[subprocess.Popen]:
    """Start ``brokers`` (some or all of ``cluster``), formatting a log folder the first
    time; does not wait for them. ``folder`` (default ``data_dir``) and ``log_prefix``
    (logs/<prefix>-<node id>.log) let a second cluster run beside the lab's
    (:mod:`labkit.replication`); ``controllers`` names the nodes that are also KRaft
    controllers (default: all; the others are brokers only)."""
    heap = HEAP.get(len(cluster), HEAP[3])
    folder = folder or data_dir(len(cluster))
    cluster_id = _cluster_id(len(cluster), folder)
    archive = class_archive(java)
    archive.parent.mkdir(mode=0o700, exist_ok=True)
    procs = []

    def format_log(broker: Broker) -> None:
        config = folder / f"broker-{broker.node_id}.properties"
        config.write_text(server_properties(broker, cluster, folder, controllers))
        log_dir = folder / f"broker-{broker.node_id}"
        if not (log_dir / "meta.properties").is_file():
            # no archive yet: this JVM writes one as it exits (a name of its own, then
            # renamed whole, so no JVM ever maps a half-written archive)
            made = archive.with_name(f"{archive.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
            use = usable_archive(archive)
            done = subprocess.run(
                java_command(
                    java,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                    "--ignore-formatted",
                    heap="-Xmx128m",
                    cds=f"-XX:SharedArchiveFile={archive}" if use else f"-XX:ArchiveClassesAtExit={made}",
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                made.unlink(missing_ok=True)
                raise LabError(f"Formatting Kafka's log folder {log_dir} failed:\n{done.stdout}{done.stderr}")
            if made.is_file():
                made.replace(archive)

    # one formatting JVM per broker, at once (each takes seconds to start)
    with ThreadPoolExecutor(max_workers=max(1, len(brokers))) as pool:
        list(pool.map(format_log, brokers))
    cds = f"-XX:SharedArchiveFile={archive}" if usable_archive(archive) else None
    for broker in brokers:
        config = folder / f"broker-{broker.node_id}.properties"
        log_path = paths.logs() / f"{log_prefix}-{broker.node_id}.log"
        banner = f"labkit starting Kafka broker {broker.node_id} on {broker.address} at {time.ctime()}"
        command = java_command(java, "kafka.Kafka", str(config), heap=heap, cds=cds)
        procs.append(launch(command, log_path, banner, folder))
    return procs


def wait_ready(
    cluster: list[Broker],
    started: dict[int, subprocess.Popen],
    timeout: float = READY_TIMEOUT_S,
    log_prefix: str = "kafka",
) -> None:
    """Until every broker is registered in the cluster's metadata; a clear error if one
    of the ``started`` processes (node id -> process) exits or time runs out."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout
    bootstrap = ",".join(b.address for b in cluster)
    while True:
        for node_id, proc in started.items():
            fail_if_exited(proc, f"Kafka broker {node_id}", paths.logs() / f"{log_prefix}-{node_id}.log")
        ports = {b.node_id: b.port for b in cluster}
        # our own processes must hold their ports (another lab may answer at that address)
        mine = all(listening(p.pid, ports[node_id]) for node_id, p in started.items())
        if mine and all(answers(b.address, 0.2) for b in cluster):
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000
                )
                try:
                    if len(admin.describe_cluster().get("brokers") or []) >= len(cluster):
                        return
                finally:
                    admin.close()
            except Exception:  # noqa: BLE001 - not ready yet
                pass
        if time.monotonic() > deadline:
            raise LabError(
                f"Kafka did not become ready within {timeout:.0f} s. Its log ends:\n"
                f"{paths.log_tail(paths.logs() / f'{log_prefix}-1.log')}"
            )
        time.sleep(0.1)
