"""``labkit flink-bundle ADDR`` / ``labkit join`` / ``labkit leave``: a second machine adds a
Flink TaskManager to the lab's Flink, and the rescale drill that uses it.

Flink's own clustering, no coordinator of labkit's: the instructor's lab runs its Flink on
its address on the room's network (``labkit up --flink-host ADDR``, `flink_proc.FlinkPorts.host`):
the JobManager's RPC, its blob server and its TaskManager's RPC and data ports bind that
address, all with Flink's internal SSL - mutual TLS with one key made for the lab
(`ensure_internal`), each machine's certificate signed by it for that machine's address
(`internal_keystore`), as keystore and truststore. Its REST API stays on 127.0.0.1
behind the lab's own certificate: jobs are still submitted from the instructor's machine.

`write_bundle` writes a *join bundle* for a machine (``labkit flink-bundle ADDR``): a 0700
folder of 0600 files - the lab's internal key with a certificate for that machine's address
(``internal.p12``, ``internal.password``: a secret, whoever holds it is a member of the
cluster) and ``flink.json``: the JobManager's address and RPC port, the joining machine's
address, Flink's version. Copied to the other
machine, `join` there (``labkit join BUNDLE``) copies it into ``LABKIT_HOME/joined-flink/``
and starts Flink's own TaskManager (PyFlink's distribution, the lab's settings:
`flink_proc.config`) with every listener on that machine's address, registering with the
remote JobManager over internal SSL; it is recorded in that machine's lab state as
`NAME` (``labkit down`` stops it with the lab's Flink) and `join` returns once the
TaskManager says it registered (Flink's "Successful registration at resource manager").

The rescale drill (`keyed_totals`, then `labkit.flink.jobs.rescale`): a keyed count and sum
over a Kafka topic, stopped with a savepoint (Flink's own stop) and started from it at a
higher parallelism - its subtasks then run on both machines' TaskManagers, and every key's
totals stay exact: the savepoint holds each key's state and each partition's position.
Checkpoints and savepoints are written where the JobManager's config says (its machine's
disk): state up to 1 MB travels inside their metadata (`flink_proc.SPREAD`); a larger state
needs storage both machines share, as in any Flink cluster.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import LabError
from ..waiting import wait_for
from . import flink_proc, tls
from .jvm import find_java
from .processes import fail_if_exited, launch, record, tracked, untrack
from .state import State, lock

if TYPE_CHECKING:
    from ..flink.jobs import Job
    from ..lab import Lab

#: The joined TaskManager's name in the lab's state file and its log's. It starts with
#: ``flink-``: `labkit.runtime.lifecycle.down` stops it with the lab's own Flink.
NAME = "flink-joined-taskmanager"
KIND = "flink-taskmanager"
BUNDLE_FILES = ("flink.json", "internal.p12", "internal.password")
READY_TIMEOUT_S = 90.0
#: What Flink's TaskExecutor logs once the ResourceManager has taken it.
REGISTERED = "Successful registration at resource manager"


# --- the lab's internal key -----------------------------------------------------------


def internal_folder() -> Path:
    """Where the lab keeps its key for Flink's internal SSL (`ensure_internal`)."""
    return flink_proc.flink_home() / "internal-tls"


def ensure_internal(host: str, where: Path | None = None) -> Path:
    """The folder (0700) of the lab's key for Flink's internal SSL: an EC key made once
    (``internal.key``) and `internal_keystore` for ``host`` (made again for another host).
    Never printed; a joining machine gets the key in its bundle (a secret)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    where = where or internal_folder()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    if not (where / "internal.key").is_file():
        key = ec.generate_private_key(ec.SECP256R1())  # EC: the lab's cipher suites (tls.CIPHER_SUITES)
        plain = serialization.NoEncryption()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, plain)
        tls.write_private(where / "internal.key", pem)
    if internal_address(where) != host:
        internal_keystore(where / "internal.key", where, host)
    return where


def internal_address(where: Path) -> str | None:
    """The address the certificate of ``where/internal.p12`` is for; None if there is none."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        password = (where / "internal.password").read_bytes().strip()
        found = pkcs12.load_pkcs12((where / "internal.p12").read_bytes(), password)
    except (OSError, ValueError):
        return None
    if found.cert is None:
        return None
    names = found.cert.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return next((str(a) for a in names.value.get_values_for_type(x509.IPAddress)), None)


def internal_keystore(key_file: Path, where: Path, address: str) -> None:
    """``where/internal.p12`` (with a new random ``internal.password``, both 0600): the lab's
    internal key and a certificate it signs itself for ``address``, Flink's keystore and
    truststore alike. Flink's internal SSL is mutual, and every member's certificate is signed
    by the one lab key under one name: each trusts its own certificate, so each trusts every
    certificate that key signed - no other. The address is in it because Flink's data
    connections between TaskManagers check the peer's address against its certificate."""

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise LabError(f"{key_file} is not the EC key labkit makes: delete {key_file.parent} for a new one.")
    sans = [x509.IPAddress(ipaddress.ip_address(address))]
    cert = tls.self_signed(key, "labkit flink internal", sans)
    password = secrets.token_urlsafe(24)
    encryption = tls.p12_encryption(password)
    tls.write_private(where / "internal.password", password.encode())
    p12 = pkcs12.serialize_key_and_certificates(b"flink", key, cert, None, encryption)
    tls.write_private(where / "internal.p12", p12)


# --- the bundle, joining, leaving --------------------------------------------------------


def bundle_folder(address: str) -> Path:
    """Where `write_bundle` writes the bundle for the machine at ``address``."""
    return paths.home() / "flink-join" / f"taskmanager-{address}"


def folder() -> Path:
    """Where a TaskManager that joined another machine's Flink keeps its key, config and log."""
    return paths.home() / "joined-flink"


def log_file() -> Path:
    return paths.logs() / f"{NAME}.log"


def is_bundle(where: Path | str) -> bool:
    """Whether ``where`` is a Flink join bundle (``flink.json``), not Kafka's (``join.json``)."""
    return (Path(where) / "flink.json").is_file()


def _address(address: str) -> str:
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        raise LabError(f"A joining machine is named by its IP address, not {address!r}.") from None
    if wanted.is_loopback:
        raise LabError(f"{address} is a loopback address: name the joining machine's address on the network.")
    return str(wanted)


def write_bundle(address: str) -> Path:
    """The join bundle for a TaskManager on the machine at ``address`` (module docstring): a
    0700 folder of 0600 files. The lab's Flink must run on an address other machines reach
    (``labkit up --flink-host ADDR``). A secret: it holds the cluster's internal key."""
    wanted = _address(address)
    state = State.load()
    jm = state.processes.get("flink-jobmanager", {}) if state else {}
    if not tracked(jm):
        raise LabError(
            "Start the lab first (`labkit up --flink-host ADDR`): a machine joins a running Flink."
        )
    host = jm.get("host")
    if not host:
        raise LabError(
            f"The lab's Flink listens on {flink_proc.LOOPBACK}: another machine ({wanted}) cannot reach it. "
            "Start it on this machine's address on the shared network: `labkit up --flink-host ADDR`."
        )
    if wanted == host:
        raise LabError(
            f"{wanted} is this machine's own address (the JobManager's): name the joining machine's."
        )
    where = bundle_folder(wanted)
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where.parent, 0o700)
    os.chmod(where, 0o700)
    internal_keystore(ensure_internal(host) / "internal.key", where, wanted)
    described = {
        "kind": KIND,
        "jobmanager": host,
        "rpc_port": int(jm["rpc_port"]),
        "address": wanted,
        "flink_version": flink_proc.version(),
    }
    tls.write_private(where / "flink.json", json.dumps(described, indent=2).encode())
    return where


def _described(where: Path) -> dict[str, Any]:
    """``flink.json`` of a bundle (or of the joined folder), checked."""
    try:
        data = json.loads((where / "flink.json").read_text())
    except FileNotFoundError:
        raise LabError(
            f"{where} is not a Flink join bundle (no flink.json; `labkit flink-bundle`)."
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LabError(f"The join bundle's {where / 'flink.json'} cannot be read: {exc}") from None
    missing = [k for k in ("kind", "jobmanager", "rpc_port", "address", "flink_version") if k not in data]
    if missing or data["kind"] != KIND:
        raise LabError(f"{where / 'flink.json'} is not a TaskManager's join bundle (lacks {missing}).")
    if data["flink_version"] != flink_proc.version():
        raise LabError(
            f"The cluster runs Flink {data['flink_version']}, this machine's labkit {flink_proc.version()}: "
            "install the same labkit on both."
        )
    return data


@dataclass(frozen=True)
class JoinedTaskManager:
    """The TaskManager this machine added to another machine's Flink."""

    address: str
    jobmanager: str
    rpc_port: int
    info: dict[str, Any]

    @property
    def pid(self) -> int:
        return int(self.info["pid"])


def current() -> JoinedTaskManager | None:
    """The TaskManager this machine added to a Flink, if it runs (as the lab's state records it)."""
    state = State.load()
    info = state.processes.get(NAME) if state else None
    if not info or not tracked(info) or not (folder() / "flink.json").is_file():
        return None
    described = _described(folder())
    return JoinedTaskManager(described["address"], described["jobmanager"], described["rpc_port"], info)


def taskmanager_config(described: dict[str, Any], internal: Path) -> dict[str, str]:
    """config.yaml of the joining TaskManager: the lab's settings (`flink_proc.config`) with
    every listener on this machine's address, the remote JobManager, internal SSL with the
    bundle's key in ``internal``."""
    ports = flink_proc.FlinkPorts(0, int(described["rpc_port"]), 0, host=described["address"])
    settings = flink_proc.config(ports)
    settings["jobmanager.rpc.address"] = described["jobmanager"]
    return {**settings, **flink_proc.internal_options(internal)}


def _registered(since: int) -> bool:
    """Whether the TaskManager's log, from byte ``since`` on, says it registered."""
    try:
        with log_file().open("rb") as fh:
            fh.seek(since)
            return REGISTERED.encode() in fh.read()
    except FileNotFoundError:
        return False


def join(bundle: Path | str, quiet: bool = True, timeout: float = READY_TIMEOUT_S) -> JoinedTaskManager:
    """Start this machine's TaskManager from the Flink join bundle ``bundle`` (`write_bundle`)
    and wait until it has registered with the remote JobManager; the running one if it was
    already. Needs the lab's state (`labkit up`): `labkit down` stops it."""
    say = paths.printer(quiet)
    described = _described(Path(bundle))
    with lock():
        state = State.load()
        if state is None:
            raise LabError(
                "Start the lab first (`labkit up`): the joined TaskManager is recorded in its state."
            )
        info = state.processes.get(NAME)
        if info and tracked(info):
            mine = _described(folder())
            if (mine["jobmanager"], mine["rpc_port"]) != (described["jobmanager"], described["rpc_port"]):
                raise LabError(
                    f"This machine's TaskManager joined the Flink at {mine['jobmanager']} already: "
                    "`labkit leave flink` first."
                )
            return JoinedTaskManager(mine["address"], mine["jobmanager"], mine["rpc_port"], info)
        where = folder()
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(where, 0o700)
        if Path(bundle).resolve() != where.resolve():
            missing = [f for f in BUNDLE_FILES if not (Path(bundle) / f).is_file()]
            if missing:
                raise LabError(f"The join bundle {bundle} lacks {', '.join(missing)}.")
            for name in BUNDLE_FILES:
                tls.write_private(where / name, (Path(bundle) / name).read_bytes())
        java = find_java()
        home = flink_proc.flink_home()
        if not (home / "bin").is_dir() or flink_proc.lib_outdated():
            flink_proc.prepare()
        conf = where / "conf"
        conf.mkdir(exist_ok=True)
        for logging in [*(home / "conf").glob("log4j*.properties"), *(home / "conf").glob("logback*.xml")]:
            shutil.copy(logging, conf)  # Flink's logging set-up (start-foreground reads it from here)
        flink_proc.write_config(conf, taskmanager_config(described, where))
        (where / "log").mkdir(exist_ok=True)
        env = flink_proc.environment(java.home)
        # its own config and log folder (beside the lab's own TaskManager, if it runs); INFO:
        # the registration (and any refusal) is what a joined machine's log must show
        env.update(FLINK_CONF_DIR=str(conf), FLINK_LOG_DIR=str(where / "log"), ROOT_LOG_LEVEL="INFO")
        since = log_file().stat().st_size if log_file().is_file() else 0
        target = f"{described['jobmanager']}:{described['rpc_port']}"
        say(f"labkit: starting a Flink TaskManager on {described['address']}, joining {target}...")
        banner = f"labkit starting {NAME} on {described['address']} (joining {target}) at {time.ctime()}"
        proc = launch(
            [str(home / "bin" / "taskmanager.sh"), "start-foreground"], log_file(), banner, home, env=env
        )
        info = state.processes[NAME] = record(
            proc, joined=described["jobmanager"], host=described["address"], log=str(log_file())
        )
        state.save()  # tracked now: `down` stops it even if waiting fails

    def ready() -> bool:
        fail_if_exited(proc, "The joining Flink TaskManager", log_file())
        return _registered(since)

    try:
        wait_for(ready, f"the TaskManager to register with the JobManager at {target}", timeout, every=0.2)
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its log ends:\n{paths.log_tail(log_file())}") from None
    return JoinedTaskManager(described["address"], described["jobmanager"], int(described["rpc_port"]), info)


def leave(quiet: bool = True) -> bool:
    """Stop this machine's joined TaskManager and delete its folder (key, config, logs); True
    if it was running.

    Flink's own way out: on SIGTERM the TaskManager shuts down, closing its connection to
    the JobManager, which stops listing it. A job with tasks on it sees them fail at once
    and restarts (the lab's restart strategy: up to 10 times, 1 s apart) from its last
    completed checkpoint - from its sources' start positions if it has none - on the slots
    that remain; one whose parallelism needs more slots than remain waits for slots in vain
    and fails once its restarts are used up. To leave without failing a job, `rescale` it
    first to a parallelism the remaining slots hold (a savepoint, then a new start), then leave."""
    say = paths.printer(quiet)
    state = State.load()
    if not folder().is_dir() and not (state and NAME in state.processes):
        raise LabError(f"This machine's TaskManager has not joined a Flink ({folder()} does not exist).")
    stopped = bool(untrack(NAME))
    shutil.rmtree(folder(), ignore_errors=True)
    say(f"labkit: the joined TaskManager {'stopped and ' if stopped else ''}left.")
    return stopped


# --- the rescale drill -----------------------------------------------------------------


def keyed_totals(lab: Lab, source: str, sink: str, parallelism: int = 1, savepoint: str | None = None) -> Job:
    """The rescale drill's job: per key ``k`` of the JSON events ``{"k": ..., "amount": ...}``
    in ``source``, the count and the sum of ``amount``, as a changelog (``debezium-json``) in
    ``sink``; at ``parallelism``, from ``savepoint`` if given. `labkit.flink.jobs.rescale`
    starts it again (``job.restart``); `totals` reads the sink's latest values."""
    t_env = lab.table_env(parallelism=parallelism)
    if savepoint:
        t_env.get_config().set("execution.savepoint.path", savepoint)
    lab.kafka_table(t_env, "events", "k STRING, amount BIGINT", topic=source)
    lab.kafka_table(
        t_env, "totals", "k STRING, records BIGINT, total BIGINT", topic=sink, format="debezium-json"
    )
    name = f"keyed totals of {source} (parallelism {parallelism})"
    result = t_env.execute_sql(
        "INSERT INTO totals SELECT k, COUNT(*) AS records, SUM(amount) AS total FROM events GROUP BY k"
    )
    job = lab.start(result, name)
    job.restart = lambda at, p: keyed_totals(lab, source, sink, p, at)
    return job


def totals(lab: Lab, sink: str) -> dict[str, tuple[int, int]]:
    """Each key's latest (count, sum) in the drill's ``sink`` topic: its changelog applied in
    order (one partition keeps each key's changes in order)."""
    out: dict[str, tuple[int, int]] = {}
    for _, row in lab.read(sink).iterrows():
        after, before = row.get("after"), row.get("before")
        if isinstance(after, dict):
            out[after["k"]] = (int(after["records"]), int(after["total"]))
        elif isinstance(before, dict) and out.get(before["k"]) == (before["records"], before["total"]):
            del out[before["k"]]
    return out
