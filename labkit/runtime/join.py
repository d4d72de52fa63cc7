"""``labkit join`` / ``labkit leave``: a second machine adds a Kafka broker to a secured cluster.

A class on several machines is one Kafka cluster - Kafka's own clustering, no coordinator of
labkit's: the instructor's machine runs the secured cluster (:mod:`labkit.runtime.secure_kafka`,
its controllers and first brokers) on its address on the room's network (`Layout.host`), and
writes a *join bundle* for each machine that joins (`secure_kafka.join_bundle`): the CA's
certificate, a broker key and certificate the CA signed for that machine's address, the
brokers' own login, the cluster's id, the node id it gets and where the controllers are.
Copied to the other machine (a 0700 folder of 0600 files), `join` there:

- copies it into ``LABKIT_HOME/joined-<cluster>/`` (0700), writes a broker-only KRaft node's
  ``server.properties`` (``process.roles=broker``, the cluster's controllers as its quorum,
  its one SASL_SSL listener on the machine's address - TLS with logins, as every other
  broker's; it reaches the controllers over TLS with its certificate), formats its log
  folder with the cluster's id and starts it, recorded in the lab's state as
  ``<cluster>-<node id>`` (``labkit down`` stops it);
- waits until the cluster lists it: from then on Kafka may put partition replicas on it
  (new topics, or a reassignment).

`leave` is the way out that loses nothing: Kafka's AlterPartitionReassignments moves every
replica the broker holds to the remaining brokers (the least loaded first), `leave` waits
until Kafka reports each move done, stops the broker, then unregisters it from the cluster's
metadata (Kafka's UnregisterBroker, through Kafka's own ``kafka-cluster.sh unregister``
class, as kafka-python has no call for it). A joined broker that crashes loses nothing of a
topic with enough replicas elsewhere (replication factor 3, ``min.insync.replicas=2``,
``acks=all``): that is Kafka's guarantee, not labkit's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import LabError
from ..waiting import wait_for
from . import artifacts, kafka_proc, secure_kafka, tls
from . import profile as profiles
from .jvm import find_java
from .net import free_port, listening
from .processes import fail_if_exited, launch, record, tracked, untrack
from .state import State, lock

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

#: The files of a join bundle (`secure_kafka.join_bundle`), each copied as it is.
BUNDLE_FILES = ("join.json", "ca.crt", "broker.p12", "keystore.password", "users.json")
READY_TIMEOUT_S = 90.0
LEAVE_TIMEOUT_S = 120.0
TOOL_TIMEOUT_S = 120.0
#: Kafka's tool that unregisters a broker (``bin/kafka-cluster.sh``).
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"


@dataclass(frozen=True)
class Joined:
    """A broker this machine added to a cluster: which node, where, and its process record."""

    cluster: str
    node_id: int
    address: str
    port: int
    info: dict[str, Any]

    @property
    def folder(self) -> Path:
        return folder(self.cluster)

    @property
    def name(self) -> str:
        return process_name(self.cluster, self.node_id)

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    def profile(self) -> profiles.Profile:
        """The brokers' own login (``admin``), for the cluster's bootstrap servers and this broker."""
        return profiles.load(self.folder / "admin.json")


def folder(cluster: str) -> Path:
    """Where a broker that joined ``cluster`` keeps its settings, keys and log."""
    return paths.home() / f"joined-{cluster}"


def process_name(cluster: str, node_id: int) -> str:
    """Its name in the lab's state file (and its log's), as the cluster's own nodes are named."""
    return f"{cluster}-{node_id}"


def log_file(cluster: str, node_id: int) -> Path:
    return paths.logs() / f"{process_name(cluster, node_id)}.log"


def _described(where: Path) -> dict[str, Any]:
    """``join.json`` of a bundle (or of a joined broker's folder), checked."""
    path = where / "join.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(f"{where} is not a join bundle (no join.json; `secure_kafka.join_bundle`).") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LabError(f"The join bundle's {path} cannot be read: {exc}") from None
    needed = ("cluster", "cluster_id", "node_id", "address", "voters", "bootstrap", "acls")
    missing = [k for k in needed if k not in data]
    if missing:
        raise LabError(f"The join bundle's {path} lacks {', '.join(missing)}.")
    return data


def _copy_bundle(bundle: Path) -> dict[str, Any]:
    """The bundle's files in this machine's `folder` (0700; each 0600), unless the same
    bundle is there already; an error if another join of that cluster is."""
    described = _described(bundle)
    where = folder(described["cluster"])
    if (where / "join.json").is_file():
        mine = _described(where)
        same = all(mine[k] == described[k] for k in ("cluster_id", "node_id", "address"))
        if not same:
            raise LabError(
                f"This machine joined {mine['cluster']} as node {mine['node_id']} already "
                f"({where}): `labkit leave` first."
            )
        return mine
    missing = [f for f in BUNDLE_FILES if not (bundle / f).is_file()]
    if missing:
        raise LabError(f"The join bundle {bundle} lacks {', '.join(missing)}.")
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    for name in BUNDLE_FILES:
        tls.write_private(where / name, (bundle / name).read_bytes())
    return described


def _java_command(java: Path, *args: str) -> list[str]:
    """Kafka's JVM as a node of a three-broker lab cluster gets it (heap, class-data archive)."""
    archive = kafka_proc.class_archive(java)
    cds = f"-XX:SharedArchiveFile={archive}" if kafka_proc.usable_archive(archive) else None
    return kafka_proc.java_command(java, *args, heap=kafka_proc.HEAP[3], cds=cds)


def _format(java: Path, where: Path, config: Path, described: dict[str, Any]) -> None:
    """Format the broker's log folder with the cluster's id, once (no users: a broker reads
    them, as everything else, from the controllers' metadata)."""
    if (where / "data" / f"broker-{described['node_id']}" / "meta.properties").is_file():
        return
    command = _java_command(
        java,
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={described['cluster_id']}",
        "-c",
        str(config),
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=secure_kafka.FORMAT_TIMEOUT_S)
    if done.returncode != 0:
        raise LabError(
            f"Formatting the joining broker's log folder failed:\n{(done.stdout + done.stderr)[-3000:]}"
        )


def _controllers(voters: str) -> list[kafka_proc.Broker]:
    """The controllers ``controller.quorum.voters`` names (``id@host:port,...``)."""
    out = []
    for voter in voters.split(","):
        node, _, address = voter.partition("@")
        out.append(kafka_proc.Broker(int(node), 0, int(address.rpartition(":")[2])))
    return out


def _admin(profile: profiles.Profile) -> KafkaAdminClient:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        **profiles.kafka_python_options(profile), request_timeout_ms=5000, bootstrap_timeout_ms=5000
    )


def _brokers(profile: profiles.Profile) -> set[int] | None:
    """The node ids of the cluster's live brokers (registered, not fenced), or None if it
    does not answer yet."""
    try:
        admin = _admin(profile)
    except Exception:  # noqa: BLE001 - not ready yet
        return None
    try:
        brokers = admin.describe_cluster().get("brokers") or []  # fenced ones too (kafka-python 3)
        return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced")}
    except Exception:  # noqa: BLE001 - not ready yet
        return None
    finally:
        admin.close()


def current(cluster: str) -> Joined | None:
    """The broker this machine added to ``cluster``, if it runs (as the lab's state records it)."""
    where = folder(cluster)
    state = State.load()
    if state is None or not (where / "join.json").is_file():
        return None
    described = _described(where)
    info = state.processes.get(process_name(cluster, described["node_id"]))
    if not info or not tracked(info):
        return None
    return Joined(cluster, described["node_id"], described["address"], int(info["port"]), info)


def join(bundle: Path | str, quiet: bool = True, timeout: float = READY_TIMEOUT_S) -> Joined:
    """Add this machine's broker to the cluster the join bundle ``bundle`` describes (started
    if it is not running; the same port, log folder and node id each time), and wait until
    the cluster lists it. Needs the lab's state (`labkit up`): `labkit down` stops it."""
    say = paths.printer(quiet)
    described = _copy_bundle(Path(bundle))
    cluster, node_id, address = described["cluster"], int(described["node_id"]), described["address"]
    where = folder(cluster)
    name = process_name(cluster, node_id)
    proc: subprocess.Popen | None = None
    with lock():
        state = State.load()
        if state is None:
            raise LabError("Start the lab first (`labkit up`): the joined broker is recorded in its state.")
        info = state.processes.get(name)
        if not (info and tracked(info)):
            node_path = where / "node.json"
            port = json.loads(node_path.read_text())["port"] if node_path.is_file() else free_port(address)
            tls.write_private(node_path, json.dumps({"port": port}).encode())
            broker = kafka_proc.Broker(node_id, port, 0)
            controllers = _controllers(described["voters"])
            config = where / "server.properties"
            text = secure_kafka.server_properties(
                broker, where, [*controllers, broker], bool(described["acls"]), address, described["voters"]
            )
            tls.write_private(config, text.encode())
            java = find_java().executable
            artifacts.ensure(quiet=True)
            _format(java, where, config, described)
            admin_password = json.loads((where / "users.json").read_text())[secure_kafka.ADMIN]
            made = profiles.Profile(
                bootstrap_servers=(*described["bootstrap"], f"{address}:{port}"),
                security_protocol="SASL_SSL",
                sasl_mechanism=secure_kafka.MECHANISM,
                username=secure_kafka.ADMIN,
                password=admin_password,
                ca_file=Path("ca.crt"),
            )
            profiles.write(where / "admin.json", made)
            say(f"labkit: starting Kafka broker {node_id} on {address}:{port}, joining {cluster}...")
            banner = f"labkit starting {name} on {address}:{port} (joining {cluster}) at {time.ctime()}"
            command = _java_command(java, "kafka.Kafka", str(config))
            proc = launch(command, log_file(cluster, node_id), banner, where)
            info = state.processes[name] = record(
                proc, **broker.fields(), joined=cluster, log=str(log_file(cluster, node_id))
            )
            state.save()  # tracked now: `down` stops it even if waiting fails
    handle = Joined(cluster, node_id, address, int(info["port"]), info)
    profile = handle.profile()

    def ready() -> bool:
        if proc is not None:
            fail_if_exited(proc, "The joining Kafka broker", log_file(cluster, node_id))
        elif tracked(info) is None:
            raise LabError(
                f"The joined broker {name} stopped. Its log ends:\n"
                f"{paths.log_tail(log_file(cluster, node_id))}"
            )
        return listening(handle.pid, handle.port) and node_id in (_brokers(profile) or set())

    try:
        wait_for(ready, f"Kafka broker {node_id} to join {cluster}", timeout, every=0.2)
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its log ends:\n{paths.log_tail(log_file(cluster, node_id))}") from None
    return handle


# --- leaving ------------------------------------------------------------------------------


def moves(
    topics: list[dict[str, Any]], node_id: int, remaining: list[int]
) -> dict[tuple[str, int], list[int]]:
    """The new replica list of every partition ``node_id`` holds (from kafka-python's
    ``describe_topics``): ``node_id`` replaced in place (a leader's place keeps leading) by
    the broker of ``remaining`` that holds none of that partition and the fewest replicas so
    far. An error if a partition has more replicas than the brokers that stay."""
    load = dict.fromkeys(remaining, 0)
    for topic in topics:
        for part in topic["partitions"]:
            for r in part["replica_nodes"]:
                if r in load:
                    load[r] += 1
    out: dict[tuple[str, int], list[int]] = {}
    for topic in sorted(topics, key=lambda t: t["name"]):
        for part in sorted(topic["partitions"], key=lambda p: p["partition_index"]):
            replicas = list(part["replica_nodes"])
            if node_id not in replicas:
                continue
            free = [b for b in remaining if b not in replicas]
            if not free:
                raise LabError(
                    f"{topic['name']} partition {part['partition_index']} has {len(replicas)} replicas and "
                    f"only {len(remaining)} other brokers would stay: broker {node_id} cannot leave "
                    "without lowering its replication factor."
                )
            chosen = min(free, key=lambda b: (load[b], b))
            load[chosen] += 1
            out[(topic["name"], part["partition_index"])] = [chosen if r == node_id else r for r in replicas]
    return out


def _unregister(java: Path, where: Path, profile: profiles.Profile, bootstrap: str, node_id: int) -> None:
    """Kafka's ``kafka-cluster.sh unregister --id`` (UnregisterBroker), logged in as ``admin``
    through a 0600 properties file (deleted afterwards); no password on the command line."""
    settings = where / "unregister.properties"
    text = profiles.properties_text(profiles.java_options(profile, shaded=False))
    tls.write_private(settings, text.encode("latin-1"))
    classpath = os.pathsep.join(str(p) for b in ("kafka", "kafka-tools") for p in artifacts.classpath(b))
    command = [
        str(java),
        "-Xmx128m",
        *kafka_proc.JVM_OPTS.split(),
        f"-Dlog4j2.configurationFile={kafka_proc.LOG4J}",
        "-cp",
        classpath,
        CLUSTER_TOOL,
        "unregister",
        "--bootstrap-server",
        bootstrap,
        "--id",
        str(node_id),
        "--command-config",
        str(settings),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    finally:
        settings.unlink(missing_ok=True)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).replace(profile.password, profiles.HIDDEN)
        raise LabError(f"Unregistering broker {node_id} failed:\n{said[-3000:]}")


def leave(
    cluster: str, quiet: bool = True, timeout: float = LEAVE_TIMEOUT_S
) -> dict[tuple[str, int], list[int]]:
    """Take this machine's broker out of ``cluster`` without losing a replica: move every
    partition replica it holds to the brokers that stay (Kafka's partition reassignment),
    wait until Kafka reports each move done, stop the broker, unregister it from the
    cluster's metadata and delete its folder (keys, login, log). Returns the moves made
    (``(topic, partition) -> replicas``)."""
    from kafka import TopicPartition

    say = paths.printer(quiet)
    where = folder(cluster)
    if not (where / "join.json").is_file():
        raise LabError(f"This machine has not joined {cluster} ({where} does not exist).")
    described = _described(where)
    node_id = int(described["node_id"])
    profile = profiles.load(where / "admin.json")
    stays = dataclasses.replace(profile, bootstrap_servers=tuple(described["bootstrap"]))
    admin = _admin(stays)
    try:
        brokers = admin.describe_cluster()["brokers"]  # the fenced ones too: they take no replica
        remaining = sorted(
            int(b["broker_id"]) for b in brokers if b["broker_id"] != node_id and not b.get("is_fenced")
        )
        planned = moves(admin.describe_topics(), node_id, remaining)
        if planned:
            say(f"labkit: moving {len(planned)} partition replicas off broker {node_id}...")
            asked = {TopicPartition(t, p): r for (t, p), r in planned.items()}
            refused = {tp: e for tp, e in admin.alter_partition_reassignments(asked).items() if e is not None}
            if refused:
                tp, err = next(iter(refused.items()))
                raise LabError(
                    f"Kafka refused to move {len(refused)} replicas off broker {node_id}: {tp} {err.__name__}"
                )

            def moved() -> bool:
                if admin.list_partition_reassignments(list(asked)):
                    return False
                now = {
                    (t["name"], p["partition_index"]): list(p["replica_nodes"])
                    for t in admin.describe_topics(sorted({t for t, _ in planned}))
                    for p in t["partitions"]
                }
                return all(now.get(k) == r for k, r in planned.items())

            wait_for(moved, f"Kafka to move the replicas off broker {node_id}", timeout, every=0.5)
    finally:
        admin.close()
    untrack(process_name(cluster, node_id))
    _unregister(find_java().executable, where, stays, stays.bootstrap, node_id)
    shutil.rmtree(where, ignore_errors=True)
    say(f"labkit: broker {node_id} left {cluster}.")
    return planned
