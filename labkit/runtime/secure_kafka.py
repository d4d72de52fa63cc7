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


def folder() -> Path:
    return paths.home() / "secure-kafka"


def log_file() -> Path:
    return paths.logs() / f"{NAME}.log"


def profile_path(user: str) -> Path:
    """Where `start` writes ``user``'s connection profile."""
    return folder() / "profiles" / f"{user}.json"


# --- the CA, the broker's certificate, the users --------------------------------------


def _make_certificates(where: Path) -> None:
    """A CA, and the broker's key and certificate signed by it (SAN IP:127.0.0.1), once."""
    if all((where / f).is_file() for f in ("ca.key", "ca.crt", "broker.p12", "keystore.password")):
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit secure kafka broker")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False
        )  # client too: the broker logs in to itself through the same listener
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    tls.write_private(
        where / "ca.key",
        ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    tls.write_private(where / "ca.crt", ca_cert.public_bytes(pem))
    password = secrets.token_urlsafe(24)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(tls.P12_KDF_ROUNDS)  # a random 192-bit password: rounds add nothing (tls.py)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
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


# --- the broker's settings and its log folder -----------------------------------------


def server_properties(broker: kafka_proc.Broker, where: Path) -> str:
    """The lab's ``server.properties`` (`kafka_proc.server_properties`) with its one client
    listener made SASL_SSL (later lines win in a Java properties file)."""
    listener = f"SASL_SSL://127.0.0.1:{broker.port}"
    admin = json.loads((where / "users.json").read_text())[ADMIN]
    keystore_password = (where / "keystore.password").read_text().strip()
    login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    jaas = f'{login} username="{ADMIN}" password="{admin}";'
    lines = [
        kafka_proc.server_properties(broker, [broker], where / "data").rstrip("\n"),
        "# --- SASL_SSL only, written by labkit (runtime/secure_kafka.py) ---",
        f"listeners={listener},CONTROLLER://127.0.0.1:{broker.controller_port}",
        f"advertised.listeners={listener}",
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
    return "\n".join(lines) + "\n"


def _java_command(java: Path, *args: str) -> list[str]:
    """Kafka's JVM as `kafka_proc` starts one broker (its heap, its class-data archive when
    there is a usable one)."""
    archive = kafka_proc.class_archive(java)
    cds = f"-XX:SharedArchiveFile={archive}" if kafka_proc.usable_archive(archive) else None
    return kafka_proc.java_command(java, *args, heap=kafka_proc.HEAP[1], cds=cds)


def _format(java: Path, where: Path, config: Path, passwords: dict[str, str]) -> None:
    """Format the log folder once, with the SCRAM users. The arguments (passwords among
    them) are read by the Java launcher from a 0600 argument file, deleted afterwards."""
    if (where / "data" / "broker-1" / "meta.properties").is_file():
        return
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as kafka-storage random-uuid: never mistaken for an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    scram = [
        a for u, pw in passwords.items() for a in ("--add-scram", f"{MECHANISM}=[name={u},password={pw}]")
    ]
    argfile = where / "format.args"
    args = ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config), *scram]
    tls.write_private(argfile, "\n".join(args).encode())
    try:
        done = subprocess.run(
            _java_command(java, f"@{argfile}"), capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S
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
    """The running SASL_SSL broker: where it is, and each user's connection profile."""

    port: int
    controller_port: int
    users: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return folder() / "ca.crt"

    @property
    def alive(self) -> bool:
        return tracked(self.info) is not None

    def profile_path(self, user: str) -> Path:
        if user not in self.users:
            raise LabError(f"The secured Kafka has the users {', '.join(self.users)}, not {user!r}.")
        return profile_path(user)

    def profile(self, user: str) -> profiles.Profile:
        """``user``'s connection profile, read back and checked (`labkit.runtime.profile.load`)."""
        return profiles.load(self.profile_path(user))

    def stop(self) -> bool:
        return stop()


def _handle(info: dict[str, Any]) -> SecureKafka:
    return SecureKafka(int(info["port"]), int(info["controller_port"]), tuple(info["users"]), info)


def current() -> SecureKafka | None:
    """The running secured broker (as the lab's state records it), or None."""
    state = State.load()
    info = state.processes.get(NAME) if state else None
    return _handle(info) if info and tracked(info) else None


def _write_profiles(where: Path, port: int, passwords: dict[str, str]) -> None:
    for user, password in passwords.items():
        made = profiles.Profile(
            bootstrap_servers=(f"127.0.0.1:{port}",),
            security_protocol="SASL_SSL",
            sasl_mechanism=MECHANISM,
            username=user,
            password=password,
            ca_file=where / "ca.crt",
        )
        profiles.write(profile_path(user), made)


def _accepts(handle: SecureKafka) -> bool:
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
        return len(admin.describe_cluster().get("brokers") or []) >= 1
    except Exception:  # noqa: BLE001 - not ready yet
        return False
    finally:
        admin.close()


def wait_ready(proc: subprocess.Popen | None, handle: SecureKafka, timeout: float = READY_TIMEOUT_S) -> None:
    """Until ``admin`` logs in over TLS and sees the broker; a clear error with its log if it
    exits first or time runs out."""

    def ready() -> bool:
        if proc is not None:
            fail_if_exited(proc, "The secured Kafka broker", log_file())
        elif not handle.alive:
            raise LabError(f"The secured Kafka broker stopped. Its log ends:\n{paths.log_tail(log_file())}")
        return listening(handle.info["pid"], handle.port) and _accepts(handle)

    try:
        wait_for(ready, f"the secured Kafka broker on {handle.bootstrap}", timeout, every=0.1)
    except PortLost:
        raise
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its log ends:\n{paths.log_tail(log_file())}") from None


def start(users: list[str] | tuple[str, ...] = ("learner",), quiet: bool = True) -> SecureKafka:
    """The secured broker, started if it is not running (CA, certificate, users and log
    folder made the first time), with a profile for ``admin`` and each of ``users``.
    Needs the lab's state (`labkit up`): the broker is recorded there, so `labkit down`
    stops it. The users are fixed when the log folder is made; others need `reset`."""
    say = paths.printer(quiet)
    wanted = [ADMIN, *(_check_user(u) for u in users if u != ADMIN)]
    where = folder()
    proc = None
    with lock():
        state = State.load()
        if state is None:
            raise LabError("Start the lab first (`labkit up`): the secured Kafka is recorded in its state.")
        info = state.processes.get(NAME)
        if info and tracked(info):
            handle = _handle(info)
            missing = sorted(set(wanted) - set(handle.users))
            if missing:
                raise LabError(
                    f"The secured Kafka runs with the users {', '.join(handle.users)}, "
                    f"not {', '.join(missing)}: "
                    "`secure_kafka.reset()` and start it again with every user it needs."
                )
        else:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(where, 0o700)
            formatted = (where / "data" / "broker-1" / "meta.properties").is_file()
            known = json.loads((where / "users.json").read_text()) if (where / "users.json").is_file() else {}
            if formatted and set(wanted) - set(known):
                raise LabError(
                    f"The secured Kafka's log folder {where} was made with the users {', '.join(known)}; "
                    "users are created when it is made: `secure_kafka.reset()` and start it again."
                )
            passwords = _passwords(where, sorted(set(wanted) | set(known)))
            _make_certificates(where)
            java = find_java().executable
            artifacts.ensure(quiet=True)
            taken = {
                p for i in state.processes.values() for p in (i.get("port"), i.get("controller_port")) if p
            }
            (broker,) = kafka_proc.plan(1, None, taken, first=None)
            config = where / "server.properties"
            tls.write_private(config, server_properties(broker, where).encode())
            _format(java, where, config, passwords)
            _write_profiles(where, broker.port, passwords)
            say(f"labkit: starting a SASL_SSL-only Kafka broker on 127.0.0.1:{broker.port}...")
            banner = f"labkit starting {NAME} on 127.0.0.1:{broker.port} at {time.ctime()}"
            proc = launch(_java_command(java, "kafka.Kafka", str(config)), log_file(), banner, where)
            info = record(proc, **broker.fields(), users=sorted(passwords), log=str(log_file()))
            state.processes[NAME] = info  # tracked now: `down` stops it even if waiting fails
            state.save()
            handle = _handle(info)
    wait_ready(proc, handle)
    return handle


def stop() -> bool:
    """Stop the secured broker (its data, CA and users stay); True if it was running."""
    return bool(untrack(NAME))


def reset() -> None:
    """Stop it and delete its folder: CA, users, passwords, profiles and data."""
    stop()
    shutil.rmtree(folder(), ignore_errors=True)
