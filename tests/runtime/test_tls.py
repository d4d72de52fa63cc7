"""The lab's certificate files (labkit/runtime/tls.py): made once, private, and a PKCS12 that
Java loads without paying PBKDF2 rounds at every REST request of PyFlink's client."""

from __future__ import annotations

import http.server
import subprocess
import threading
import urllib.error

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from labkit.runtime import tls
from labkit.runtime.jvm import find_java


@pytest.fixture
def folder(tmp_path, monkeypatch):
    where = tmp_path / "tls"
    monkeypatch.setenv("LABKIT_FLINK_TLS", str(where))
    return where


def contents(where):
    """What the PKCS12 holds: (its key's public numbers, its certificate)."""
    password = (where / "rest.password").read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates((where / "rest.p12").read_bytes(), password)
    return key.public_key().public_numbers(), cert


def test_a_new_key_is_private_and_its_p12_holds_it_with_few_kdf_rounds(folder):
    assert tls.ensure() == folder
    assert (folder.stat().st_mode & 0o777) == 0o700
    for name in tls.FILES:
        assert ((folder / name).stat().st_mode & 0o777) == 0o600, name
    # the certificate part and the key part, each encrypted (AES-256) with P12_KDF_ROUNDS
    assert tls.kdf_rounds((folder / "rest.p12").read_bytes()) == [tls.P12_KDF_ROUNDS] * 2
    numbers, cert = contents(folder)
    key = serialization.load_pem_private_key((folder / "rest.key").read_bytes(), None)
    assert numbers == key.public_key().public_numbers()
    assert cert == x509.load_pem_x509_certificate((folder / "rest.crt").read_bytes())
    before = {name: (folder / name).read_bytes() for name in tls.FILES}
    tls.ensure()
    assert {name: (folder / name).read_bytes() for name in tls.FILES} == before  # made once


def test_a_p12_from_before_is_made_again_from_the_same_key_and_certificate(folder):
    tls.ensure()
    kept = {name: (folder / name).read_bytes() for name in ("rest.key", "rest.crt", "rest.password")}
    numbers, cert = contents(folder)
    key = serialization.load_pem_private_key(kept["rest.key"], None)
    old = pkcs12.serialize_key_and_certificates(
        b"labkit", key, cert, None, serialization.BestAvailableEncryption(kept["rest.password"])
    )
    tls.write_private(folder / "rest.p12", old)
    assert tls.kdf_rounds(old) == [20000, 20000]  # cryptography's default, as labs had it
    tls.ensure()
    assert tls.kdf_rounds((folder / "rest.p12").read_bytes()) == [tls.P12_KDF_ROUNDS] * 2
    assert contents(folder) == (numbers, cert)  # a running JobManager still trusts it
    assert {name: (folder / name).read_bytes() for name in kept} == kept
    assert ((folder / "rest.p12").stat().st_mode & 0o777) == 0o600


def test_java_reads_the_p12_with_its_password_and_not_without(folder):
    tls.ensure()
    keytool = find_java().home / "bin" / "keytool"

    def keytool_list(password: str) -> subprocess.CompletedProcess:
        store = ["-storetype", "PKCS12", "-keystore", str(folder / "rest.p12"), "-storepass", password]
        return subprocess.run([str(keytool), "-list", *store], capture_output=True, text=True, timeout=60)

    listed = keytool_list((folder / "rest.password").read_text().strip())
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "labkit, " in listed.stdout and "PrivateKeyEntry" in listed.stdout
    assert keytool_list("not-the-password").returncode != 0


def test_kdf_rounds_of_something_that_is_not_a_pkcs12():
    assert tls.kdf_rounds(b"") == []
    assert tls.kdf_rounds(b"not a PKCS12 at all") == []


def test_gets_from_one_thread_share_one_kept_connection_to_the_jobmanager(lab):
    rest = lab.flink_rest
    first = tls.kept_get(rest, "overview")
    conn = tls._connections()[rest]  # noqa: SLF001 - which connection the call used
    sock = conn.sock
    second = tls.kept_get(rest, "config")
    assert first["taskmanagers"] >= 1 and "flink-version" in second
    assert tls._connections()[rest] is conn and conn.sock is sock  # noqa: SLF001 - no new handshake
    with pytest.raises(urllib.error.HTTPError) as caught:
        tls.kept_get(rest, "jobs/00000000000000000000000000000000")
    assert caught.value.code == 404
    assert tls.kept_get(rest, "overview")["taskmanagers"] >= 1  # still usable after an error


def test_a_connection_the_server_closed_is_replaced_once_and_a_dead_server_is_a_urlerror():
    accepted = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Flink's REST server

        def setup(self) -> None:
            accepted.append(self.client_address)
            super().setup()

        def do_GET(self) -> None:
            data = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True  # closed after the answer, without saying so

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rest = f"127.0.0.1:{server.server_address[1]}"
    try:
        assert tls.kept_get(rest, "a") == {"ok": True}
        assert tls.kept_get(rest, "b") == {"ok": True}  # the kept one was closed: a new one
        assert len(accepted) == 2
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    with pytest.raises(urllib.error.URLError):
        tls.kept_get(rest, "c", timeout=2)
