"""The lab's key to its own Flink REST API: mutual TLS, so only the learner gets in.

Binding Flink's REST API to 127.0.0.1 keeps other machines out, but not other users of
this machine, nor a web page open in the learner's own browser: Flink's defaults answer
every origin (``access-control-allow-origin: *``) and run uploaded jars. So the lab's
JobManager speaks HTTPS and asks every caller for a client certificate (Flink's
``security.ssl.rest.authentication-enabled``). The one certificate is made per lab, here,
and kept in ``.labkit/tls/`` (mode 0700): whoever can read that folder is the learner.
The notebook's PyFlink client, labkit's own REST calls and the Web UI's front door
(:mod:`labkit.runtime.webui`) present it; a browser page and another user cannot.

The files: ``rest.key`` + ``rest.crt`` (PEM, for Python's ``ssl``), ``rest.p12`` (the
same key and certificate for Java, as keystore and truststore), ``rest.password`` (the
PKCS12 password) and ``webui.secret`` (what the Web UI's login links are signed with).
``rest.p12`` is made from the other three and made again from them when its encryption
is not `P12_KDF_ROUNDS`'s (see there: it decides how fast a job is submitted).

A Flink REST address with TLS is written as a URL, ``https://127.0.0.1:PORT``; a plain
``host:port`` means HTTP (a compose or remote cluster). `url`, `host_port` and
`client_context` are how every labkit caller turns that address into a request.
"""

from __future__ import annotations

import datetime
import functools
import http.client
import io
import ipaddress
import json
import os
import secrets
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LabError

#: How long a lab's certificate lasts before `ensure` makes a new one.
VALID_DAYS = 825
#: What the lab's JobManager and its clients speak (Java's names; Python's ssl agrees).
CIPHER_SUITES = ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
FILES = ("rest.key", "rest.crt", "rest.p12", "rest.password", "webui.secret")
#: PBKDF2 rounds of ``rest.p12``'s encryption (AES-256-CBC, HMAC-SHA256). Java pays them at
#: every load, and PyFlink's client loads the keystore and the truststore again for every
#: REST request of a job (Flink makes a new REST client, with a new SSL context, for the
#: submission, each status poll and the result): at the 20,000 rounds of `cryptography`'s
#: default that was ~250 ms per request in a C1-only JVM, a warm submission 0.54 -> ~1.9 s.
#: Key stretching guards a password a person chose; this one is 24 random bytes (192
#: bits) kept beside the file with the same mode 0600, so rounds add no protection.
P12_KDF_ROUNDS = 1
#: DER of PBKDF2's object id (1.2.840.113549.1.5.12): what precedes each iteration count.
_PBKDF2_OID = bytes.fromhex("06092a864886f70d01050c")


def folder() -> Path:
    """Where the lab's certificate lives: ``LABKIT_FLINK_TLS`` (a remote backend pointed
    at another lab's JobManager names that lab's folder), else ``.labkit/tls``."""
    env = os.environ.get("LABKIT_FLINK_TLS")
    return Path(env) if env else paths.home() / "tls"


def ensure() -> Path:
    """The lab's TLS folder, with a key and certificate made on first use (or when the
    old certificate is about to expire). Private to this user: mode 0700, files 0600."""
    where = folder()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(where, 0o700)  # also when it existed with looser bits
    if all((where / f).is_file() for f in FILES) and not _expiring(where / "rest.crt"):
        if set(kdf_rounds((where / "rest.p12").read_bytes())) != {P12_KDF_ROUNDS}:
            _write_p12(where)  # a lab's key from before P12_KDF_ROUNDS: same key, same certificate
        return where
    _make(where)
    return where


def kdf_rounds(p12: bytes) -> list[int]:
    """The PBKDF2 iteration count of each encrypted part of a PKCS12 file (its certificates,
    its key), read from their plaintext algorithm parameters; [] if there is none."""
    rounds = []
    at = p12.find(_PBKDF2_OID)
    while at >= 0:
        # PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, ... }
        i = at + len(_PBKDF2_OID)
        i += 2 + (p12[i + 1] & 0x7F if p12[i + 1] & 0x80 else 0)  # the SEQUENCE's header
        i += 2 + p12[i + 1]  # the salt (a few bytes: short form)
        if p12[i] != 0x02:  # not an INTEGER: not a form written here
            return []
        rounds.append(int.from_bytes(p12[i + 2 : i + 2 + p12[i + 1]], "big"))
        at = p12.find(_PBKDF2_OID, i)
    return rounds


def _expiring(cert: Path) -> bool:
    from cryptography import x509

    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    left = loaded.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left < datetime.timedelta(days=7)


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by this user only, from its first byte on."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def self_signed(key: Any, common_name: str, sans: list[Any], *extensions: Any) -> Any:
    """A certificate ``key`` signs for itself (a CA of one, `VALID_DAYS`), named
    ``common_name``, for ``sans`` (x509 general names), with any further ``extensions``
    (non-critical): the lab's REST certificate, Flink's internal one per machine."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256())


def _make(where: Path) -> None:
    """A new EC key, a self-signed certificate for 127.0.0.1/localhost, and the PKCS12
    Flink reads (both as its keystore and its truststore: it trusts exactly this one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    cert = self_signed(key, "labkit flink rest", sans, usage)
    write_private(
        where / "rest.key",
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    write_private(where / "rest.crt", cert.public_bytes(serialization.Encoding.PEM))
    write_private(where / "rest.password", secrets.token_urlsafe(24).encode())
    write_private(where / "webui.secret", secrets.token_urlsafe(32).encode())
    _write_p12(where)
    _context.cache_clear()


def p12_encryption(password: str) -> Any:
    """How labkit encrypts a PKCS12 keystore (this one, a secured broker's, Flink's internal
    one): AES-256 with `P12_KDF_ROUNDS` PBKDF2-HMAC-SHA256 rounds under ``password``."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(P12_KDF_ROUNDS)  # a random 192-bit password: rounds add nothing
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )


def _write_p12(where: Path) -> None:
    """``rest.p12`` from ``rest.key``, ``rest.crt`` and ``rest.password``: AES-256 with
    `P12_KDF_ROUNDS` PBKDF2-HMAC-SHA256 rounds."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key((where / "rest.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((where / "rest.crt").read_bytes())
    encryption = p12_encryption((where / "rest.password").read_text().strip())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise LabError(f"{where / 'rest.key'} is not the EC key labkit makes: delete {where} for a new one.")
    p12 = pkcs12.serialize_key_and_certificates(b"labkit", key, cert, None, encryption)
    write_private(where / "rest.p12", p12)


def flink_options(where: Path | None = None) -> dict[str, str]:
    """Flink's settings for REST over mutual TLS, for the cluster and for a client alike:
    the keystore proves who we are, the truststore (the same file) is whom we accept."""
    where = where or folder()
    p12 = str(where / "rest.p12")
    password = (where / "rest.password").read_text().strip()
    return {
        "security.ssl.rest.enabled": "true",
        "security.ssl.rest.authentication-enabled": "true",
        "security.ssl.rest.keystore": p12,
        "security.ssl.rest.keystore-type": "PKCS12",
        "security.ssl.rest.keystore-password": password,
        "security.ssl.rest.key-password": password,
        "security.ssl.rest.truststore": p12,
        "security.ssl.rest.truststore-type": "PKCS12",
        "security.ssl.rest.truststore-password": password,
        # Flink's default suite (TLS_RSA_WITH_AES_128_CBC_SHA) needs an RSA key and has no
        # forward secrecy: the lab's key is EC, so ECDHE with AES-GCM
        "security.ssl.protocol": "TLSv1.2",
        "security.ssl.algorithms": ",".join(CIPHER_SUITES),
    }


def shown(config: dict[str, str]) -> dict[str, str]:
    """``config`` fit to print: passwords replaced by ``******``."""
    return {k: ("******" if "password" in k else v) for k, v in config.items()}


def client_context(where: Path | None = None) -> ssl.SSLContext:
    """An SSL context that presents the lab's certificate and trusts only the lab's
    JobManager (the same certificate); for ``urllib`` and tornado."""
    return _context(where or folder())


@functools.lru_cache(maxsize=8)
def _context(where: Path) -> ssl.SSLContext:
    if not (where / "rest.crt").is_file():
        raise LabError(
            f"Flink's REST API needs the lab's certificate, and {where} has none. "
            "`labkit up` makes it; a remote backend names the folder in LABKIT_FLINK_TLS."
        )
    context = ssl.create_default_context(cafile=str(where / "rest.crt"))
    context.load_cert_chain(str(where / "rest.crt"), str(where / "rest.key"))
    return context


def is_tls(rest: str) -> bool:
    """True for a Flink REST address written ``https://host:port``."""
    return rest.startswith("https://")


def host_port(rest: str) -> tuple[str, int]:
    """(host, port) of a Flink REST address, with or without its scheme."""
    bare = rest.split("://", 1)[-1].rstrip("/")
    host, _, port = bare.rpartition(":")
    return host, int(port)


def url(rest: str, path: str = "") -> str:
    """The URL of ``path`` on the Flink REST API at ``rest`` (``host:port`` means HTTP)."""
    base = rest.rstrip("/") if "://" in rest else f"http://{rest}"
    return f"{base}/{path.lstrip('/')}"


def call(
    rest: str, path: str, body: dict | None = None, timeout: float = 10.0, *, method: str | None = None
) -> Any:
    """GET (or POST ``body`` as JSON to) ``path`` of the Flink REST API at ``rest``, over TLS
    with the lab's certificate when ``rest`` is ``https://``; the reply's JSON (None when
    empty). ``method`` overrides the verb (e.g. PATCH to cancel a job). Errors as urllib
    raises them (``HTTPError`` with the status, ``URLError`` when nobody answers).

    A GET goes over a connection this thread keeps open (`kept_get`); anything else over a
    new one, so that a request that changes something is never sent twice."""
    verb = method or ("GET" if body is None else "POST")
    if verb == "GET":
        return kept_get(rest, path, timeout)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url(rest, path), data=data, method=verb, headers={"Content-Type": "application/json"}
    )
    context = client_context() if is_tls(rest) else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
        text = reply.read()
    return json.loads(text) if text.strip() else None


#: Each thread's open connections to Flink REST APIs, by address (see `kept_get`).
_KEPT = threading.local()


def _connections() -> dict[str, http.client.HTTPConnection]:
    pool: dict[str, http.client.HTTPConnection] = _KEPT.__dict__.setdefault("pool", {})
    return pool


def _drop(rest: str) -> None:
    conn = _connections().pop(rest, None)
    if conn is not None:
        conn.close()


def kept_get(rest: str, path: str, timeout: float = 10.0) -> Any:
    """GET ``path`` over a connection this thread keeps open to ``rest`` (HTTP keep-alive).

    Measured on the lab's JobManager: 0.25 ms of CPU and 1.5 ms per call, against 3 ms and
    12 ms with a new TLS handshake each time - what a job view refreshing every 2 s costs an
    idle kernel. A connection the server has closed meanwhile is replaced once (a GET may be
    sent again); every other failure is raised as urllib would."""
    target = urllib.parse.urlsplit(url(rest, path))
    selector = target.path + (f"?{target.query}" if target.query else "")
    for attempt in (1, 2):
        pool = _connections()
        fresh = rest not in pool
        if fresh:
            host, port = host_port(rest)
            pool[rest] = (
                http.client.HTTPSConnection(host, port, timeout=timeout, context=client_context())
                if is_tls(rest)
                else http.client.HTTPConnection(host, port, timeout=timeout)
            )
        conn = pool[rest]
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("GET", selector, headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            text = reply.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _drop(rest)
            if fresh or attempt == 2:
                raise urllib.error.URLError(exc) from exc
            continue  # the server closed the kept connection: once more, on a new one
        except TimeoutError:
            _drop(rest)
            raise
        except (http.client.HTTPException, OSError) as exc:
            _drop(rest)
            raise urllib.error.URLError(exc) from exc
        if reply.will_close:
            _drop(rest)
        if reply.status >= 400:
            where = url(rest, path)
            raise urllib.error.HTTPError(where, reply.status, reply.reason, reply.headers, io.BytesIO(text))
        return json.loads(text) if text.strip() else None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
