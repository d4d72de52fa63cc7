"""A connection profile: how to reach a secured Kafka, in one small file a learner is handed.

A managed or shared Kafka (Confluent Cloud, MSK, Aiven, a classroom cluster) takes no
plain connections: a client must speak TLS, trust the cluster's certificate authority and
log in (SASL). The profile says all of that once::

    {
      "bootstrap_servers": "127.0.0.1:19092",
      "security_protocol": "SASL_SSL",
      "sasl_mechanism": "SCRAM-SHA-512",
      "username": "learner-01",
      "password": "...",
      "ca_file": "ca.crt"
    }

Why JSON and not Java's ``.properties``: Python reads it with nothing to install and no
surprise (a properties file's backslash escapes and trailing spaces change a password
silently); it holds lists and nested parts (the Flink REST address and its CA come next);
and a ``.properties`` file for a Java client is easy to derive from it, never the reverse.

`load` reads and checks one (a `LabError` naming the field and the fix: a missing field, a
mechanism Kafka would refuse, a CA file that cannot be read, a file others may read);
`kafka_python_options` turns it into kafka-python's keyword arguments; `check` logs in
once, and `explained` turns kafka-python's "Unable to bootstrap" - all it raises for a
wrong password, an untrusted certificate or a closed port alike - into why. ``ca_file`` may be
relative to the profile (an instructor hands out a folder); without it the system's
certificate authorities are trusted, as a cloud service needs. The password is never
shown: not in the `Profile`'s repr, nor in any error this module raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LabError
from .tls import write_private

#: What a profile may say how to connect with (Kafka's names). Only SASL over TLS: a
#: profile exists for clusters that ask for a login; the lab's own Kafka needs none.
PROTOCOLS = ("SASL_SSL",)
#: The SASL mechanisms kafka-python and Kafka's Java clients both speak. SCRAM keeps the
#: password off the wire; PLAIN (over TLS) is what Confluent Cloud's API keys use.
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
REQUIRED = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "username", "password")
OPTIONAL = ("ca_file", "topic_prefix", "shared_prefix")
HIDDEN = "******"


class ProfileError(LabError):
    """A connection profile that cannot be used as it is; the message says which field and why."""


@dataclass(frozen=True)
class Profile:
    """A checked connection profile (`load`). ``password`` is left out of the repr."""

    bootstrap_servers: tuple[str, ...]
    security_protocol: str
    sasl_mechanism: str
    username: str
    password: str = field(repr=False)
    ca_file: Path | None = None
    path: Path | None = field(default=None, compare=False)
    #: On a shared Kafka (a classroom), what this user's topics, groups and transactional ids
    #: start with (``learner-01.``): labkit adds it to the names a lesson uses, so the
    #: notebooks stay as they are. "" on a Kafka of one's own.
    topic_prefix: str = ""
    #: Names that start with this (``shared.``) are everyone's, used as they are.
    shared_prefix: str = ""

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers as one comma-separated string (what Java clients and Flink take)."""
        return ",".join(self.bootstrap_servers)

    def shown(self) -> dict[str, Any]:
        """The profile as its file says it, fit to print: the password as ``******``."""
        return {**to_json(self), "password": HIDDEN}


def to_json(profile: Profile) -> dict[str, Any]:
    """What `write` puts in the file (``ca_file`` as an absolute path, or None)."""
    return {
        "bootstrap_servers": profile.bootstrap,
        "security_protocol": profile.security_protocol,
        "sasl_mechanism": profile.sasl_mechanism,
        "username": profile.username,
        "password": profile.password,
        "ca_file": str(profile.ca_file) if profile.ca_file else None,
        **({"topic_prefix": profile.topic_prefix} if profile.topic_prefix else {}),
        **({"shared_prefix": profile.shared_prefix} if profile.shared_prefix else {}),
    }


def write(path: Path, profile: Profile) -> Path:
    """Write ``profile`` to ``path`` as JSON, readable by this user only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, (json.dumps(to_json(profile), indent=2) + "\n").encode())
    return path


def load(path: str | Path) -> Profile:
    """Read and check the profile at ``path``; a `ProfileError` says what is wrong and how to fix it."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise ProfileError(f"No connection profile at {path}.") from None
    except OSError as exc:
        raise ProfileError(f"The connection profile {path} cannot be read: {exc.strerror}.") from None
    if mode & 0o077:
        raise ProfileError(
            f"The connection profile {path} holds a password and other users may open it "
            f"(mode {stat.filemode(mode)}): `chmod 600 {path}`, then load it again."
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"The connection profile {path} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(data, dict):
        raise ProfileError(f"The connection profile {path} must be a JSON object ({{...}}).")
    return parse(data, path)


def parse(data: dict[str, Any], path: Path | None = None) -> Profile:
    """A `Profile` from a profile's fields (``path``: where they were read, for relative CA
    files and for the messages)."""
    where = f"The connection profile {path}" if path else "The connection profile"
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ProfileError(
            f"{where} has unknown field(s) {', '.join(unknown)}; "
            f"the fields are: {', '.join(REQUIRED + OPTIONAL)}."
        )
    missing = [k for k in REQUIRED if data.get(k) in (None, "", [])]
    if missing:
        raise ProfileError(f"{where} is missing {', '.join(missing)}.")
    for key in ("security_protocol", "sasl_mechanism", "username", "password"):
        if not isinstance(data[key], str):
            raise ProfileError(f"{where}: {key} must be a string.")
    protocol = data["security_protocol"].upper()
    if protocol not in PROTOCOLS:
        raise ProfileError(
            f"{where}: security_protocol {data['security_protocol']!r} is not one labkit connects with "
            f"({', '.join(PROTOCOLS)}: a login over TLS)."
        )
    mechanism = data["sasl_mechanism"].upper()
    if mechanism not in MECHANISMS:
        raise ProfileError(
            f"{where}: sasl_mechanism {data['sasl_mechanism']!r} is not one labkit's clients speak "
            f"({', '.join(MECHANISMS)})."
        )
    return Profile(
        bootstrap_servers=_servers(data["bootstrap_servers"], where),
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        username=data["username"],
        password=data["password"],
        ca_file=_ca_file(data.get("ca_file"), path, where),
        path=path,
        topic_prefix=_prefix(data.get("topic_prefix"), "topic_prefix", where),
        shared_prefix=_prefix(data.get("shared_prefix"), "shared_prefix", where),
    )


def _prefix(value: Any, key: str, where: str) -> str:
    """A name prefix: letters, digits, '.', '_' and '-' (what Kafka allows in a topic name)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not all(c.isalnum() or c in "._-" for c in value):
        raise ProfileError(f"{where}: {key} is letters, digits, '.', '_' and '-', not {value!r}.")
    return value


def _servers(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise ProfileError(f"{where}: bootstrap_servers must be 'host:port,host:port' or a list of them.")
    servers = tuple(s.strip() for s in items if s.strip())
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ProfileError(f"{where}: bootstrap server {server!r} is not host:port.")
    if not servers:
        raise ProfileError(f"{where} is missing bootstrap_servers.")
    return servers


def _ca_file(value: Any, path: Path | None, where: str) -> Path | None:
    """The CA file, resolved beside the profile, read and parsed now: a wrong one is an
    error here, not a TLS handshake that fails later with less to say."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ProfileError(f"{where}: ca_file must be a path (a string).")
    ca = Path(value).expanduser()
    if not ca.is_absolute() and path is not None:
        ca = path.parent / ca
    try:
        pem = ca.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{where}: its ca_file {ca} cannot be read ({exc.strerror}).") from None
    from cryptography import x509

    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ProfileError(f"{where}: its ca_file {ca} holds no PEM certificate.") from None
    return ca.resolve()


def kafka_python_options(profile: Profile) -> dict[str, Any]:
    """The keyword arguments kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient
    take to connect as ``profile`` says: TLS verified against its CA (or the system's),
    the host name checked against the certificate, and the SASL login."""
    options: dict[str, Any] = {
        "bootstrap_servers": list(profile.bootstrap_servers),
        "security_protocol": profile.security_protocol,
        "sasl_mechanism": profile.sasl_mechanism,
        "sasl_plain_username": profile.username,
        "sasl_plain_password": profile.password,
        "ssl_check_hostname": True,
    }
    if profile.ca_file is not None:
        options["ssl_cafile"] = str(profile.ca_file)
    return options


#: Where kafka-python says why each bootstrap attempt failed (the exception is the record's
#: argument); what it raises in the end only says "Unable to bootstrap".
CAUSE_LOGGER = "kafka.net.manager"


class _Causes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.seen += [a for a in args if isinstance(a, BaseException)]


@contextlib.contextmanager
def explained(profile: Profile) -> Iterator[None]:
    """Around a kafka-python client's construction: if it cannot bootstrap, a `ProfileError`
    that says why (a refused login, an untrusted certificate, nothing listening...), from
    the causes kafka-python logged meanwhile."""
    from kafka.errors import KafkaTimeoutError

    causes = _Causes()
    logger = logging.getLogger(CAUSE_LOGGER)
    level = logger.level
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.addHandler(causes)
    try:
        yield
    except KafkaTimeoutError as exc:
        if "Unable to bootstrap" not in str(exc):
            raise
        raise ProfileError(explain(profile, causes.seen)) from None
    finally:
        logger.removeHandler(causes)
        logger.setLevel(level)


def explain(profile: Profile, causes: list[BaseException]) -> str:
    """Why a client with ``profile`` could not connect, in a learner's words, from the
    errors of its attempts (the password never appears)."""
    where, user = profile.bootstrap, profile.username
    said = [str(c) for c in causes]
    trusted = f"the profile's ca_file {profile.ca_file}" if profile.ca_file else "the system's authorities"

    def first(*marks: str) -> str | None:
        return next((s for s in said if any(m in s for m in marks)), None)

    login = (
        f"Kafka at {where} refused the login of {user!r} ({profile.sasl_mechanism}): wrong user name or "
        "password, or a mechanism the cluster does not enable."
    )
    if found := first("SaslAuthenticationFailed", "Authentication failed"):
        text = f"{login} Kafka said: {found.rsplit(': ', 1)[-1]}"
    elif found := first("CERTIFICATE_VERIFY_FAILED"):
        text = (
            f"The TLS handshake with {where} failed: its certificate is not one {trusted} vouch for "
            f"({found.split('certificate verify failed: ', 1)[-1]}). "
            "Set ca_file to the cluster's CA certificate."
        )
    elif first("ECONNREFUSED", "Connection refused"):
        text = f"Nothing listens at {where}: is the cluster up, and is the address right?"
    elif found := first("Handshake failed", "WRONG_VERSION_NUMBER", "Invalid frame length"):
        text = f"{where} does not answer TLS as a SASL_SSL listener would ({found})."
    elif first("socket disconnected"):
        # TLS was accepted, then the broker hung up during the login: kafka-python sometimes
        # reads the hang-up before the broker's answer ("invalid credentials")
        text = login
    else:
        text = f"Could not connect to Kafka at {where}" + (f": {said[-1]}" if said else " in time.")
    return text.replace(profile.password, HIDDEN) if profile.password else text


def check(profile: Profile, timeout: float = 10.0) -> None:
    """Connect and log in once as ``profile`` says (an admin client's bootstrap); a
    `ProfileError` that says why not, within ``timeout`` s."""
    from kafka import KafkaAdminClient

    ms = int(timeout * 1000)
    with explained(profile):
        admin = KafkaAdminClient(
            **kafka_python_options(profile), bootstrap_timeout_ms=ms, request_timeout_ms=ms
        )
    admin.close()


# --- a lab that connects through a profile -----------------------------------------------


class Secret(str):
    """A password as kafka-python needs it (a ``str``: it encodes and joins it) that shows as
    ``'******'`` in a repr - so printing ``lab.client_config()``, or a dict of options a
    learner builds from it, never shows it."""

    def __repr__(self) -> str:
        return repr(HIDDEN)


def client_options(profile: Profile) -> dict[str, Any]:
    """`kafka_python_options` with the password as a `Secret`: what labkit's own clients get."""
    return {**kafka_python_options(profile), "sasl_plain_password": Secret(profile.password)}


def of_endpoints(endpoints: Any) -> Profile | None:
    """The profile a lab's `Endpoints` name (``kafka_profile``), loaded and checked; None when
    they name none (the lab's own Kafka, a plain remote one). Read again only when the file
    changes: every labkit client asks, and a topic helper makes several."""
    path = getattr(endpoints, "kafka_profile", None)
    if not path:
        return None
    where = Path(path).expanduser()
    try:
        seen = where.stat()
    except OSError:
        return load(where)  # its clear error
    return _load_cached(str(where), seen.st_mtime_ns, seen.st_size, seen.st_mode)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int, mode: int) -> Profile:
    return load(path)


#: The logins `ensure_login` saw succeed in this process (a profile with its address).
_LOGGED_IN: set[Profile] = set()


def ensure_login(profile: Profile, bootstrap_servers: str | None = None, timeout: float = 5.0) -> None:
    """`check` ``profile`` (at ``bootstrap_servers`` if given: the lab's address wins over the
    profile's) the first time this process uses it. kafka-python answers a wrong password,
    an untrusted CA or a closed port alike with "Unable to bootstrap" after its full
    timeout, and a topic helper builds its clients in places that cannot each explain it:
    one login up front turns all of them into `explain`'s clear `ProfileError`, within
    ``timeout`` s. A success is remembered, so the cost is one login per kernel."""
    if bootstrap_servers:
        servers = tuple(s.strip() for s in bootstrap_servers.split(",") if s.strip())
        profile = dataclasses.replace(profile, bootstrap_servers=servers)
    if profile in _LOGGED_IN:
        return
    check(profile, timeout)
    _LOGGED_IN.add(profile)


#: Where flink-sql-connector-kafka keeps Kafka's client classes: it shades (renames) them,
#: and the jar labkit pins (5.0.0-2.2) holds no class under Kafka's own ``org.apache.kafka``,
#: so a JAAS config must name the shaded login module (tests/runtime/test_secure_clients.py
#: logs in with it from a Flink job).
FLINK_SHADED = "org.apache.flink.kafka.shaded."
LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


def _jaas_quoted(value: str) -> str:
    # Kafka parses sasl.jaas.config with a StreamTokenizer: "..." with backslash escapes
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(profile: Profile, *, shaded: bool = True) -> str:
    """The ``sasl.jaas.config`` a Java Kafka client logs in with as ``profile`` says; the
    login module under Flink's shaded name unless ``shaded=False`` (a plain Java client,
    Kafka Streams). It holds the password: show it only through `hide_secrets`-style masking."""
    module = (FLINK_SHADED if shaded else "") + LOGIN_MODULES[profile.sasl_mechanism]
    return (
        f"{module} required username={_jaas_quoted(profile.username)} "
        f"password={_jaas_quoted(profile.password)};"
    )


def java_options(profile: Profile, *, shaded: bool = True) -> dict[str, str]:
    """The Java Kafka client's properties for ``profile`` (without bootstrap.servers): TLS
    trusting its CA file as PEM (no keystore to convert to, Kafka reads PEM since 2.7),
    the host name checked (Kafka's default, ``https``), the SASL login."""
    options = {
        "security.protocol": profile.security_protocol,
        "sasl.mechanism": profile.sasl_mechanism,
        "sasl.jaas.config": jaas_config(profile, shaded=shaded),
        "ssl.endpoint.identification.algorithm": "https",
    }
    if profile.ca_file is not None:
        options["ssl.truststore.type"] = "PEM"
        options["ssl.truststore.location"] = str(profile.ca_file)
    return options


def flink_kafka_options(profile: Profile) -> dict[str, str]:
    """The Flink Kafka connector's table options for ``profile``: each Java property as
    ``properties.<name>`` (the connector hands those to its Kafka clients). The CA file is
    read where Flink's TaskManager runs: on a remote Flink it must be at the same path there."""
    return {f"properties.{key}": value for key, value in java_options(profile).items()}


def shown_options(options: dict[str, str]) -> dict[str, str]:
    """``options`` (`java_options`, `flink_kafka_options`) fit to print: the JAAS config, which
    holds the password, as ``******``."""
    return {k: (HIDDEN if k.endswith("jaas.config") else v) for k, v in options.items()}


# --- the profile in the Java clients labkit starts: DataStream jobs, Kafka Streams -------


def datastream_properties(profile: Profile) -> dict[str, str]:
    """The Kafka client properties a DataStream job's ``KafkaSource`` / ``KafkaSink`` builder
    takes (``set_property``) to connect as ``profile`` says: `java_options` with the
    connector's shaded login module (its jar is the job's Kafka client, as for the SQL
    tables). The JAAS config is a `Secret`: the dict prints with it as ``'******'``, while
    py4j hands the builder the real text. The properties travel inside the job's Java
    graph, not in any pickled Python function."""
    return {
        key: (Secret(value) if key.endswith("jaas.config") else value)
        for key, value in java_options(profile, shaded=True).items()
    }


def properties_text(config: dict[str, str]) -> str:
    """``config`` as a Java ``.properties`` file that ``Properties.load`` reads back exactly:
    backslashes doubled, line breaks and non-Latin-1 characters escaped, a leading space kept."""

    def escaped(text: str, key: bool = False) -> str:
        out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        if key:
            out = out.replace("=", "\\=").replace(":", "\\:").replace(" ", "\\ ")
        elif out.startswith(" "):
            out = "\\" + out
        return "".join(c if ord(c) < 256 else _unicode_escape(c) for c in out)

    return "".join(f"{escaped(k, key=True)}={escaped(v)}\n" for k, v in config.items())


def _unicode_escape(char: str) -> str:
    # \\uXXXX per UTF-16 unit: a character beyond U+FFFF is a surrogate pair
    units = char.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def jaas_file_text(profile: Profile) -> str:
    """A JAAS configuration file whose ``KafkaClient`` section logs in as ``profile`` says
    with Kafka's own (unshaded) login module: what a plain Java Kafka client (Kafka
    Streams) reads from ``-Djava.security.auth.login.config=<file>`` when its properties
    name no ``sasl.jaas.config`` - so its properties file, which a lesson shows, holds no
    password, and no command line does either."""
    return f"KafkaClient {{\n  {jaas_config(profile, shaded=False)}\n}};\n"


def write_jaas_file(path: Path, profile: Profile) -> Path:
    """Write `jaas_file_text` to ``path``, readable by this user only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, jaas_file_text(profile).encode())
    return path


def masked(text: str, profile: Profile | None) -> str:
    """``text`` with ``profile``'s password, raw or as a JAAS config quotes it, shown as
    ``******``: for messages that may quote a statement or a Java trace holding it."""
    if profile is None or not profile.password:
        return text
    quoted = _jaas_quoted(profile.password)[1:-1]
    for secret in sorted({profile.password, quoted, quoted.replace("'", "''")}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def kafka_name(profile: Profile | None, name: str) -> str:
    """The name Kafka knows a lesson's ``name`` (a topic, a group, a transactional id) by,
    for a lab reaching Kafka through ``profile``: with its ``topic_prefix``, unless ``name``
    has it already or starts with its ``shared_prefix``; unchanged without a prefix."""
    if profile is None or not profile.topic_prefix or name.startswith(profile.topic_prefix):
        return name
    if profile.shared_prefix and name.startswith(profile.shared_prefix):
        return name
    return profile.topic_prefix + name


def lab_name(profile: Profile | None, name: str) -> str:
    """The name a lesson uses for Kafka's ``name`` (`kafka_name` undone)."""
    prefix = profile.topic_prefix if profile is not None else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name
