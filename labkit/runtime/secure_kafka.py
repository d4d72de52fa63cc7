"""A Kafka broker that only speaks SASL_SSL: TLS from a CA of its own, SCRAM-SHA-512 logins.

The lab's own Kafka (:mod:`labkit.runtime.kafka_proc`) takes plain connections on
127.0.0.1; a classroom cluster, and every managed Kafka a learner will meet later, takes
none. This is the same KRaft broker from the same verified jars, with one client listener
that asks for TLS and a login - the foundation of ``labkit classroom up``. What it makes,
once, in ``LABKIT_HOME/secure-kafka/`` (mode 0700):

- ``ca.key`` / ``ca.crt``: a certificate authority of its own (EC P-256; the key 0600,
  never printed). ``ca.crt`` is what clients trust; the system's authorities are not
  asked, so a client without it is refused.
- ``broker.p12``: the broker's key and its certificate, signed by the CA for
  ``IP:127.0.0.1`` (what clients connect to and check), with ``keystore.password``.
- ``users.json``: each SCRAM user and its generated password (``secrets``), 0600.
  ``admin`` is the broker's own login to itself (its inter-broker listener is the same
  SASL_SSL one). The users are created when the log folder is formatted (Kafka's
  ``kafka-storage format --add-scram 'SCRAM-SHA-512=[name=...,password=...]'``); the
  format tool's arguments go through a 0600 Java argument file (``java @file``), so no
  password is ever on a command line that ``ps`` shows another user.
- ``profiles/<user>.json``: one connection profile per user (:mod:`labkit.runtime.profile`),
  0600, rewritten at each start (the port may change).
- ``server.properties`` (0600: it holds the keystore's and ``admin``'s passwords; Kafka
  logs them as ``[hidden]``) and ``data/``, the broker's log.

The same code runs a cluster of several such brokers with Kafka's ACLs on (a `Layout`):
``labkit classroom up`` (:mod:`labkit.runtime.classroom`) is three of them in
``LABKIT_HOME/classroom/``, each node a broker and a KRaft controller, tracked as
``classroom-1`` .. ``classroom-3``.

A `Layout` may name another address (``host``, default 127.0.0.1): every listener, the
KRaft quorum and the profiles then use it, and the broker certificate is for it too. On such
an address another machine can add a broker to the cluster (:mod:`labkit.runtime.join`):
`join_bundle` writes what it needs (the CA's certificate, a certificate the CA signed for
that machine, the brokers' login, the cluster's id and controllers) in ``join/node-<id>/``.

The KRaft controller listener (127.0.0.1 too) speaks TLS and asks for a client certificate
signed by the CA - only the broker's own, in its 0600 keystore: KRaft cannot check SCRAM
logins there, and a plain listener would let any local user's admin client in
(``--bootstrap-controller``). The broker is recorded in the lab's state file as ``secure-kafka``
(``labkit status`` lists it, ``labkit down`` stops it); its log is
``logs/secure-kafka.log``.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LabError
from ..waiting import wait_for
from . import artifacts, kafka_proc, tls
from . import profile as profiles
from .jvm import find_java
from .net import PortLost, listening
from .processes import fail_if_exited, launch, record, tracked, untrack
from .state import State, lock

#: The broker's name in the lab's state file and its log's (``logs/secure-kafka.log``).
NAME = "secure-kafka"
#: The broker's own login (inter-broker traffic goes through the SASL_SSL listener too).
ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
#: How long the CA and the broker's certificate last.
VALID_DAYS = 825
READY_TIMEOUT_S = 60.0
FORMAT_TIMEOUT_S = 120.0


#: Where a cluster serves unless its `Layout` names another address.
LOOPBACK = "127.0.0.1"

#: The principal of the brokers' certificate (what the TLS controller listener sees): with
#: ACLs on, a super user, as the brokers' own SCRAM login ``admin`` is.
BROKER_PRINCIPAL = "User:CN=labkit secure kafka broker"
#: Kafka's authorizer for KRaft clusters (ACLs kept in the cluster's metadata log).
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@dataclass(frozen=True)
class Layout:
    """One secured cluster: its name (its folder in LABKIT_HOME, its processes in the state
    file, its logs), how many nodes (each a broker and a KRaft controller) and whether
    Kafka's ACLs apply (``StandardAuthorizer``: only ``admin`` and the brokers themselves
    may do what no ACL allows)."""

    name: str
    nodes: int = 1
    acls: bool = False
    #: How a learner or instructor deletes it (what an error about its users says).
    reset_hint: str = "`secure_kafka.reset()`"

    def folder(self) -> Path:
        return paths.home() / self.name

    def process(self, node_id: int) -> str:
        """A node's name in the state file (and its log's)."""
        return self.name if self.nodes == 1 else f"{self.name}-{node_id}"

    def log_file(self, node_id: int = 1) -> Path:
        return paths.logs() / f"{self.process(node_id)}.log"

    #: Users whose profiles stay beside the CA's key, not in ``profiles/`` (the brokers' own
    #: login, an instructor's): that folder is what gets handed out.
    kept: tuple[str, ...] = ("admin",)
    #: The address every listener binds and advertises, and the KRaft quorum's: 127.0.0.1
    #: (one machine), or this machine's address on a network other machines `join` over
    #: (:mod:`labkit.runtime.join`) - every listener is TLS with credentials either way.
    host: str = LOOPBACK

    def address(self, broker: kafka_proc.Broker) -> str:
        """Where clients reach ``broker`` (``host:port``)."""
        return f"{self.host}:{broker.port}"

    def profile_path(self, user: str) -> Path:
        """Where `start_cluster` writes ``user``'s connection profile: in ``profiles/``, beside
        a copy of the CA (what an instructor hands out), or, for the `kept` users, in the
        cluster's own folder."""
        if user in self.kept:
            return self.folder() / f"{user}.json"
        return self.folder() / "profiles" / f"{user}.json"

    def config(self, node_id: int) -> Path:
        return self.folder() / ("server.properties" if self.nodes == 1 else f"server-{node_id}.properties")


#: The single SASL_SSL broker (no ACLs: every user may do everything).
SECURE = Layout(NAME)


def folder() -> Path:
    return SECURE.folder()


def log_file() -> Path:
    return SECURE.log_file()


def profile_path(user: str) -> Path:
    """Where `start` writes ``user``'s connection profile."""
    return SECURE.profile_path(user)


# --- the CA, the broker's certificate, the users --------------------------------------


def _make_certificates(where: Path, host: str = LOOPBACK) -> None:
    """A CA, and the broker's key and certificate signed by it (SAN IP:127.0.0.1, and
    ``host`` when it is another address), once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if all((where / f).is_file() for f in ("ca.key", "ca.crt", "broker.p12", "keystore.password")):
        if host != LOOPBACK and host not in _certified(where):  # made for another address: again
            ca_pem = (where / "ca.crt").read_bytes()
            ca_key = serialization.load_pem_private_key((where / "ca.key").read_bytes(), None)
            _broker_keystore(where, ca_key, x509.load_pem_x509_certificate(ca_pem), [LOOPBACK, host])
        return

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit secure kafka CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign: it signs certificates, nothing else
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    tls.write_private(
        where / "ca.key",
        ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    tls.write_private(where / "ca.crt", ca_cert.public_bytes(pem))
    _broker_keystore(where, ca_key, ca_cert, [LOOPBACK] if host == LOOPBACK else [LOOPBACK, host])


def _certified(where: Path) -> list[str]:
    """The IP addresses the broker certificate in ``where/broker.p12`` is for (its SANs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = (where / "keystore.password").read_bytes().strip()
    found = pkcs12.load_pkcs12((where / "broker.p12").read_bytes(), password)
    if found.cert is None:
        return []
    names = found.cert.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return [str(a) for a in names.value.get_values_for_type(x509.IPAddress)]


def _broker_keystore(where: Path, ca_key: Any, ca_cert: Any, addresses: list[str]) -> None:
    """A broker's key and certificate (the brokers' common name: `BROKER_PRINCIPAL`, a super
    user with ACLs on), signed by the CA for ``addresses`` (its SANs), in ``where/broker.p12``
    with a new random ``keystore.password`` (both 0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit secure kafka broker")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False
        )  # client too: the broker logs in to itself through the same listener
        .sign(ca_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    encryption = tls.p12_encryption(password)
    p12 = pkcs12.serialize_key_and_certificates(b"broker", key, cert, [ca_cert], encryption)
    tls.write_private(where / "keystore.password", password.encode())
    tls.write_private(where / "broker.p12", p12)


def _passwords(where: Path, users: list[str]) -> dict[str, str]:
    """Each user's password: those in ``users.json``, new ones for the others (written back)."""
    path = where / "users.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    wanted = {u: known.get(u) or secrets.token_urlsafe(24) for u in users}
    if wanted != known:
        tls.write_private(path, json.dumps(wanted, indent=2).encode())
    return wanted


def _check_user(name: str) -> str:
    # a user name goes into Kafka's --add-scram [name=...] and a file name: keep it plain
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise LabError(f"A SCRAM user name is letters, digits, '-', '_' and '.', not {name!r}.")
    return name


# --- the brokers' settings and their log folders ---------------------------------------


def server_properties(
    broker: kafka_proc.Broker,
    where: Path,
    cluster: list[kafka_proc.Broker] | None = None,
    acls: bool = False,
    host: str = LOOPBACK,
    voters: str | None = None,
) -> str:
    """The lab's ``server.properties`` (`kafka_proc.server_properties`) for ``broker`` of
    ``cluster`` (default: it alone), its one client listener made SASL_SSL (later lines win
    in a Java properties file); with ``acls``, Kafka's authorizer on. ``host``: the address
    it listens on (and its controller listener, and the quorum's, unless ``voters`` - Kafka's
    ``controller.quorum.voters`` - says where the controllers are: a broker that joined from
    another machine, which is then a broker only)."""
    listener = f"SASL_SSL://{host}:{broker.port}"
    joined = voters is not None
    controller = "" if joined else f",CONTROLLER://{host}:{broker.controller_port}"
    admin = json.loads((where / "users.json").read_text())[ADMIN]
    keystore_password = (where / "keystore.password").read_text().strip()
    login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    jaas = f'{login} username="{ADMIN}" password="{admin}";'
    members = cluster or [broker]
    if host != LOOPBACK and not voters:
        voters = ",".join(f"{b.node_id}@{host}:{b.controller_port}" for b in members)
    lines = [
        kafka_proc.server_properties(broker, members, where / "data").rstrip("\n"),
        "# --- SASL_SSL only, written by labkit (runtime/secure_kafka.py) ---",
        f"listeners={listener}{controller}",
        f"advertised.listeners={listener}",
        *([f"controller.quorum.voters={voters}"] if voters else []),
        *(["process.roles=broker"] if joined else []),
        # the controller listener: TLS with a client certificate signed by the CA (the
        # broker's own, 0600): KRaft cannot check SCRAM logins there, and a plain one would
        # let any local user's admin client in with --bootstrap-controller
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "listener.name.controller.ssl.client.auth=required",
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={where / 'broker.p12'}",
        f"ssl.keystore.password={keystore_password}",
        f"ssl.key.password={keystore_password}",
        "ssl.truststore.type=PEM",  # the broker, as a client of itself, trusts only its CA
        f"ssl.truststore.location={where / 'ca.crt'}",
        "ssl.client.auth=none",  # the login is SASL's; TLS proves the broker and encrypts
    ]
    if acls:
        lines += [
            # what no ACL allows is refused; the brokers (their SCRAM login between brokers,
            # their certificate towards the controllers) may do everything
            f"authorizer.class.name={AUTHORIZER}",
            f"super.users=User:{ADMIN};{BROKER_PRINCIPAL}",
            "allow.everyone.if.no.acl.found=false",
        ]
    return "\n".join(lines) + "\n"


def _java_command(java: Path, nodes: int, *args: str) -> list[str]:
    """Kafka's JVM as `kafka_proc` starts a broker of a cluster this size (its heap, its
    class-data archive when there is a usable one)."""
    archive = kafka_proc.class_archive(java)
    cds = f"-XX:SharedArchiveFile={archive}" if kafka_proc.usable_archive(archive) else None
    heap = kafka_proc.HEAP[1 if nodes == 1 else 3]
    return kafka_proc.java_command(java, *args, heap=heap, cds=cds)


def _formatted(layout: Layout, node_id: int) -> bool:
    return (layout.folder() / "data" / f"broker-{node_id}" / "meta.properties").is_file()


def _cluster_id(layout: Layout) -> str | None:
    """The id the first node's log folder was formatted with (every node shares it), or None."""
    meta = layout.folder() / "data" / "broker-1" / "meta.properties"
    lines = meta.read_text().splitlines() if meta.is_file() else []
    return next((line.split("=", 1)[1].strip() for line in lines if line.startswith("cluster.id=")), None)


def _new_cluster_id() -> str:
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as kafka-storage random-uuid: never mistaken for an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


def _format(java: Path, layout: Layout, node_id: int, cluster_id: str, passwords: dict[str, str]) -> None:
    """Format a node's log folder once, with the SCRAM users (every controller's copy of the
    metadata starts with them). The arguments (passwords among them) are read by the Java
    launcher from a 0600 argument file, deleted afterwards."""
    if _formatted(layout, node_id):
        return
    where = layout.folder()
    scram = [
        a for u, pw in passwords.items() for a in ("--add-scram", f"{MECHANISM}=[name={u},password={pw}]")
    ]
    argfile = where / f"format-{node_id}.args"
    config = str(layout.config(node_id))
    args = ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", config, *scram]
    tls.write_private(argfile, "\n".join(args).encode())
    try:
        done = subprocess.run(
            _java_command(java, layout.nodes, f"@{argfile}"),
            capture_output=True,
            text=True,
            timeout=FORMAT_TIMEOUT_S,
        )
    finally:
        argfile.unlink(missing_ok=True)
    if done.returncode != 0:
        said = done.stdout + done.stderr
        for pw in passwords.values():
            said = said.replace(pw, profiles.HIDDEN)
        raise LabError(f"Formatting the secured Kafka's log folder failed:\n{said[-3000:]}")


# --- the handle ------------------------------------------------------------------------


@dataclass(frozen=True)
class SecureKafka:
    """A running secured cluster: where its brokers are, and each user's connection profile.
    ``port``, ``controller_port`` and ``info`` are its first node's."""

    layout: Layout
    brokers: tuple[kafka_proc.Broker, ...]
    users: tuple[str, ...]
    infos: tuple[dict[str, Any], ...] = field(default_factory=tuple, repr=False, compare=False)

    @property
    def port(self) -> int:
        return self.brokers[0].port

    @property
    def controller_port(self) -> int:
        return self.brokers[0].controller_port

    @property
    def info(self) -> dict[str, Any]:
        return self.infos[0]

    @property
    def bootstrap(self) -> str:
        return ",".join(self.layout.address(b) for b in self.brokers)

    @property
    def ca_file(self) -> Path:
        return self.layout.folder() / "ca.crt"

    @property
    def alive(self) -> bool:
        return all(tracked(i) is not None for i in self.infos)

    def profile_path(self, user: str) -> Path:
        if user not in self.users:
            raise LabError(f"The secured Kafka has the users {', '.join(self.users)}, not {user!r}.")
        return self.layout.profile_path(user)

    def profile(self, user: str) -> profiles.Profile:
        """``user``'s connection profile, read back and checked (`labkit.runtime.profile.load`)."""
        return profiles.load(self.profile_path(user))

    def stop(self) -> bool:
        return stop_cluster(self.layout)


def _handle(layout: Layout, infos: list[dict[str, Any]]) -> SecureKafka:
    brokers = tuple(kafka_proc.Broker.of({"node_id": n, **i}) for n, i in enumerate(infos, 1))
    return SecureKafka(layout, brokers, tuple(infos[0]["users"]), tuple(infos))


def current_cluster(layout: Layout) -> SecureKafka | None:
    """The running cluster (as the lab's state records it; every node alive), or None."""
    state = State.load()
    infos = [state.processes.get(layout.process(n)) for n in range(1, layout.nodes + 1)] if state else []
    if not infos or not all(i and tracked(i) for i in infos):
        return None
    return _handle(layout, [i for i in infos if i])


def current() -> SecureKafka | None:
    """The running secured broker (as the lab's state records it), or None."""
    return current_cluster(SECURE)


def _write_profiles(layout: Layout, bootstrap: tuple[str, ...], passwords: dict[str, str]) -> None:
    """One profile per user in ``profiles/``, beside a copy of the CA it names by a relative
    path: the folder can be handed out as it is."""
    where = layout.folder()
    (where / "profiles").mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(where / "ca.crt", where / "profiles" / "ca.crt")
    for user, password in passwords.items():
        made = profiles.Profile(
            bootstrap_servers=bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism=MECHANISM,
            username=user,
            password=password,
            ca_file=Path("ca.crt"),
        )
        profiles.write(layout.profile_path(user), made)


def _accepts(handle: SecureKafka) -> bool:
    """``admin`` logs in and sees every broker of the cluster."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            **profiles.kafka_python_options(handle.profile(ADMIN)),
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
        )
    except Exception:  # noqa: BLE001 - not ready yet
        return False
    try:
        return len(admin.describe_cluster().get("brokers") or []) >= len(handle.brokers)
    except Exception:  # noqa: BLE001 - not ready yet
        return False
    finally:
        admin.close()


def wait_ready(
    procs: dict[int, subprocess.Popen], handle: SecureKafka, timeout: float = READY_TIMEOUT_S
) -> None:
    """Until ``admin`` logs in over TLS and sees every broker; a clear error with a node's log
    if it exits first or time runs out. ``procs``: the nodes started just now, by node id."""
    layout = handle.layout

    def ready() -> bool:
        for node, info in zip(handle.brokers, handle.infos, strict=True):
            if node.node_id in procs:
                fail_if_exited(procs[node.node_id], "The secured Kafka broker", layout.log_file(node.node_id))
            elif tracked(info) is None:
                raise LabError(
                    f"The secured Kafka broker {layout.process(node.node_id)} stopped. Its log ends:\n"
                    f"{paths.log_tail(layout.log_file(node.node_id))}"
                )
        up = all(listening(i["pid"], b.port) for b, i in zip(handle.brokers, handle.infos, strict=True))
        return up and _accepts(handle)

    try:
        wait_for(ready, f"the secured Kafka on {handle.bootstrap}", timeout, every=0.1)
    except PortLost:
        raise
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its first node's log ends:\n{paths.log_tail(layout.log_file())}") from None


def start_cluster(layout: Layout, users: list[str] | tuple[str, ...], quiet: bool = True) -> SecureKafka:
    """The cluster ``layout`` describes, started if it is not running (CA, certificate, users
    and log folders made the first time; a node that stopped is started again with its
    settings), with a profile for ``admin`` and each of ``users``. Needs the lab's state
    (`labkit up`): its nodes are recorded there, so `labkit down` stops them. The users are
    fixed when the log folders are made; others need `reset_cluster`."""
    say = paths.printer(quiet)
    wanted = [ADMIN, *(_check_user(u) for u in users if u != ADMIN)]
    where = layout.folder()
    procs: dict[int, subprocess.Popen] = {}
    with lock():
        state = State.load()
        if state is None:
            raise LabError("Start the lab first (`labkit up`): the secured Kafka is recorded in its state.")
        names = [layout.process(n) for n in range(1, layout.nodes + 1)]
        infos = [state.processes.get(n) for n in names]
        alive = [bool(i and tracked(i)) for i in infos]
        known = json.loads((where / "users.json").read_text()) if (where / "users.json").is_file() else {}
        if any(alive):
            missing = sorted(set(wanted) - set(known))
            if missing:
                raise LabError(
                    f"The secured Kafka runs with the users {', '.join(sorted(known))}, "
                    f"not {', '.join(missing)}: {layout.reset_hint} and start it again "
                    "with every user it needs."
                )
        formatted = _formatted(layout, 1)
        if formatted and set(wanted) - set(known):
            raise LabError(
                f"The secured Kafka's log folder {where} was made with the users {', '.join(sorted(known))}; "
                f"users are created when it is made: {layout.reset_hint} and start it again."
            )
        if not all(alive):
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(where, 0o700)
            passwords = _passwords(where, sorted(set(wanted) | set(known)))
            _make_certificates(where, layout.host)
            java = find_java().executable
            artifacts.ensure(quiet=True)
            if any(alive):  # the others run with these ports in their quorum: keep them
                if not all(infos):
                    raise LabError(
                        f"The secured Kafka {layout.name} is half known: "
                        f"{layout.reset_hint} and start it again."
                    )
                cluster = [kafka_proc.Broker.of({"node_id": n, **(i or {})}) for n, i in enumerate(infos, 1)]
            else:
                taken = {
                    p
                    for i in state.processes.values()
                    for p in (i.get("port"), i.get("controller_port"))
                    if p
                }
                cluster = kafka_proc.plan(layout.nodes, None, taken, first=None)
                for node in cluster:
                    config = server_properties(node, where, cluster, layout.acls, layout.host)
                    tls.write_private(layout.config(node.node_id), config.encode())
                cluster_id = _cluster_id(layout) or _new_cluster_id()
                with ThreadPoolExecutor(len(cluster)) as pool:  # one JVM each, side by side
                    done = [
                        pool.submit(_format, java, layout, b.node_id, cluster_id, passwords) for b in cluster
                    ]
                for future in done:
                    future.result()  # the first failure's clear error
                _write_profiles(layout, tuple(layout.address(b) for b in cluster), passwords)
            for node, up in zip(cluster, alive, strict=True):
                if up:
                    continue
                name = layout.process(node.node_id)
                say(f"labkit: starting the SASL_SSL-only Kafka broker {name} on {layout.address(node)}...")
                banner = f"labkit starting {name} on {layout.address(node)} at {time.ctime()}"
                command = _java_command(java, layout.nodes, "kafka.Kafka", str(layout.config(node.node_id)))
                proc = launch(command, layout.log_file(node.node_id), banner, where)
                procs[node.node_id] = proc
                state.processes[name] = record(
                    proc, **node.fields(), users=sorted(passwords), log=str(layout.log_file(node.node_id))
                )
            state.save()  # tracked now: `down` stops them even if waiting fails
        handle = _handle(layout, [state.processes[n] for n in names])
    wait_ready(procs, handle)
    return handle


def join_bundle(layout: Layout, address: str) -> Path:
    """What another machine at ``address`` needs to add a broker to the running cluster
    ``layout`` (:func:`labkit.runtime.join.join`), in a folder of its own (0700, every file
    0600) to copy there: the CA's certificate (not its key), a broker key and certificate
    signed by the CA for ``address`` (``broker.p12``, ``keystore.password``), the brokers'
    own login (``users.json``: ``admin`` alone - a broker logs in to the others with it), and
    ``join.json``: the cluster's id, the node id it gets (the next one not handed out, kept
    in ``joined.json``), the controllers' addresses and the cluster's bootstrap servers.
    The cluster must serve on an address other machines reach (`Layout.host`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        raise LabError(f"A joining machine is named by its IP address, not {address!r}.") from None
    if layout.host == LOOPBACK or wanted.is_loopback:
        raise LabError(
            f"The cluster {layout.name} serves on {layout.host}: another machine ({address}) cannot "
            "reach it. Start it on this machine's address on the shared network (`Layout.host`)."
        )
    handle = current_cluster(layout)
    cluster_id = _cluster_id(layout)
    if handle is None or cluster_id is None:
        raise LabError(f"Start the cluster {layout.name} first: a machine joins a running cluster.")
    where = layout.folder()
    with lock():
        record_path = where / "joined.json"
        joined: dict[str, int] = json.loads(record_path.read_text()) if record_path.is_file() else {}
        node_id = joined.get(str(wanted)) or max([layout.nodes, *joined.values()]) + 1
        joined[str(wanted)] = node_id
        tls.write_private(record_path, json.dumps(joined, indent=2).encode())
    bundle = where / "join" / f"node-{node_id}"
    bundle.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(bundle.parent, 0o700)
    os.chmod(bundle, 0o700)
    ca_pem = (where / "ca.crt").read_bytes()
    ca_key = serialization.load_pem_private_key((where / "ca.key").read_bytes(), None)
    tls.write_private(bundle / "ca.crt", ca_pem)
    _broker_keystore(bundle, ca_key, x509.load_pem_x509_certificate(ca_pem), [str(wanted)])
    admin = json.loads((where / "users.json").read_text())[ADMIN]
    tls.write_private(bundle / "users.json", json.dumps({ADMIN: admin}, indent=2).encode())
    voters = ",".join(f"{b.node_id}@{layout.host}:{b.controller_port}" for b in handle.brokers)
    described = {
        "cluster": layout.name,
        "cluster_id": cluster_id,
        "node_id": node_id,
        "address": str(wanted),
        "voters": voters,
        "bootstrap": handle.bootstrap.split(","),
        "controllers": layout.nodes,
        "acls": layout.acls,
    }
    tls.write_private(bundle / "join.json", json.dumps(described, indent=2).encode())
    return bundle


def stop_cluster(layout: Layout) -> bool:
    """Stop every node (data, CA and users stay); True if any was running."""
    return bool(untrack(*(layout.process(n) for n in range(1, layout.nodes + 1))))


def reset_cluster(layout: Layout) -> None:
    """Stop it and delete its folder: CA, users, passwords, profiles and data."""
    stop_cluster(layout)
    shutil.rmtree(layout.folder(), ignore_errors=True)


def start(users: list[str] | tuple[str, ...] = ("learner",), quiet: bool = True) -> SecureKafka:
    """The single secured broker (`SECURE`), as `start_cluster` starts one."""
    return start_cluster(SECURE, users, quiet)


def stop() -> bool:
    """Stop the secured broker (its data, CA and users stay); True if it was running."""
    return stop_cluster(SECURE)


def reset() -> None:
    """Stop it and delete its folder: CA, users, passwords, profiles and data."""
    reset_cluster(SECURE)
