"""The lab's Kafka Connect worker (labkit.runtime.connect_proc, ``lab.kafka_connect()``): the
real worker on the suite's Kafka, started once for the module - a file source and Debezium's
PostgreSQL connector move data into Kafka and it is read back exactly; the REST API takes the
lab's password only and sends no CORS header; it listens on 127.0.0.1 only; its password is
in no log, state file or command line; `labkit down` stops it; clear errors within seconds.

`labkit down` and the errors run in a private LABKIT_HOME whose state file points at the
suite's Kafka (no Kafka or Flink of its own): only that home's worker is stopped.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from privatelab import gone, wait_for

from labkit import paths
from labkit.errors import BrokerUnavailable, LabError
from labkit.runtime import connect_proc, jvm, lifecycle, postgres_proc
from labkit.runtime.state import Endpoints, State, owner_pid, register_home


@pytest.fixture(scope="module")
def connect(lab) -> Iterator[connect_proc.KafkaConnect]:
    started = time.monotonic()
    worker = lab.kafka_connect()
    print(f"{worker}: up in {time.monotonic() - started:.2f} s")
    yield worker
    worker.stop()  # ~130 MB: the suite's later tests do not carry it


@pytest.fixture(scope="module")
def pg(lab):
    return lab.postgres()


def read_values(lab, topic: str, n: int, timeout: float = 60.0) -> list[bytes | None]:
    """The first ``n`` values of ``topic`` (created by the worker: waited for), as bytes."""
    wait_for(lambda: topic in lab.topics(), f"topic {topic} to be created", timeout)
    values: list[bytes | None] = []
    with lab.reader(topic, raw=True) as reader:
        deadline = time.monotonic() + timeout
        while len(values) < n and time.monotonic() < deadline:
            for records in reader.poll(200).values():
                values.extend(r.value for r in records)
    assert len(values) >= n, f"{len(values)} of {n} events arrived in {topic}: {values}"
    return values


def test_a_file_source_moves_each_line_into_a_topic(connect, lab, topic):
    out = topic("connect-file")
    lines = ["first line", "zweite Zeile: äöü", '{"not": "parsed"}', "last"]
    source = connect_proc.folder() / f"lines-{uuid.uuid4().hex[:8]}.txt"
    source.write_text("".join(f"{line}\n" for line in lines))
    name = f"test-file-{uuid.uuid4().hex[:6]}"
    config = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": str(source),
        "topic": out,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }
    try:
        assert connect.create(name, config)["name"] == name
        assert connect.wait_running(name)["connector"]["state"] == "RUNNING"
        assert [v.decode() for v in read_values(lab, out, len(lines)) if v] == lines
        assert connect.config(name)["file"] == str(source)
        assert connect.delete(name)
        # created again under its name, it starts afresh: delete forgot how far it had read
        # (Connect alone would carry on from its old offsets and send nothing)
        connect.create(name, config)
        connect.wait_running(name)
        assert [v.decode() for v in read_values(lab, out, 2 * len(lines)) if v] == lines + lines
    finally:
        connect.delete(name)
        source.unlink(missing_ok=True)
    assert not connect.delete(name)  # already gone
    assert name not in connect.connectors()


def test_debezium_turns_insert_update_delete_into_change_events(connect, lab, pg):
    tag = uuid.uuid4().hex[:8]
    table, prefix, name = f"cdc_{tag}", f"test-cdc-{tag}", f"test-cdc-{tag}"
    pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, item text, qty int)")
    pg.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")  # updates carry the old row too
    config = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": pg.host,
        "database.port": pg.port,
        "database.user": pg.user,
        "database.password": connect.postgres_password(),
        "database.dbname": pg.database,
        "plugin.name": "pgoutput",
        "topic.prefix": prefix,
        "table.include.list": f"public.{table}",
        "slot.name": f"slot_{tag}",
        "publication.name": f"pub_{tag}",
        "publication.autocreate.mode": "filtered",
        "slot.drop.on.stop": True,
    }
    assert config["database.password"].startswith("${file:") and pg.password not in str(config)
    topic = f"{prefix}.public.{table}"
    try:
        connect.create(name, config)
        connect.wait_running(name)
        pg.execute(f"INSERT INTO {table} VALUES (1, 'tea', 2)")
        pg.execute(f"UPDATE {table} SET qty = 3 WHERE id = 1")
        pg.execute(f"DELETE FROM {table} WHERE id = 1")
        values = read_values(lab, topic, 4)
    finally:
        connect.delete(name)
        pg.execute(f"DROP TABLE IF EXISTS {table}")
    events = [json.loads(v) if v else None for v in values[:4]]
    row, changed = {"id": 1, "item": "tea", "qty": 2}, {"id": 1, "item": "tea", "qty": 3}
    assert [(e["op"], e["before"], e["after"]) for e in events[:3] if e] == [
        ("c", None, row),
        ("u", row, changed),
        ("d", changed, None),
    ]
    assert events[3] is None  # the delete's tombstone: a compacted topic forgets the key
    assert events[0]["source"]["table"] == table and events[0]["source"]["connector"] == "postgresql"
    # the slot is dropped with the connector: no WAL kept for a reader that is gone
    wait_for(
        lambda: (
            pg.query("SELECT count(*) AS n FROM pg_replication_slots WHERE slot_name = %s", f"slot_{tag}")[
                "n"
            ][0]
            == 0
        ),
        "the replication slot to be dropped",
        30,
    )
    lab.delete_topic(topic)


def raw_request(connect, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(connect.host, connect.port, timeout=10)
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_rest_api_takes_the_password_only_and_sends_no_cors_headers(connect):
    assert connect.request("GET", "/connectors", auth=False)[0] == 401
    wrong = base64.b64encode(b"lab:not-the-password").decode()
    assert raw_request(connect, "GET", "/connectors", {"Authorization": f"Basic {wrong}"}).status == 401
    # a creation without the password is refused before anything is read
    status, _ = connect.request("PUT", "/connectors/evil/config", {"connector.class": "x"}, auth=False)
    assert status == 401 and "evil" not in connect.connectors()
    token = base64.b64encode(f"lab:{connect_proc.read_password()}".encode()).decode()
    origin = {"Origin": "http://evil.example", "Authorization": f"Basic {token}"}
    answered = raw_request(connect, "GET", "/connectors", origin)
    assert answered.status == 200
    assert not [h for h in answered.headers if h.lower().startswith("access-control-")]
    preflight = raw_request(
        connect,
        "OPTIONS",
        "/connectors",
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    assert raw_request(connect, "GET", "/admin/loggers", origin).status == 404  # no admin endpoints


def test_it_listens_on_127_0_0_1_only(connect):
    worker = psutil.Process(connect.info["pid"])
    listeners = [c for c in worker.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert {(c.laddr.ip, c.laddr.port) for c in listeners} == {("127.0.0.1", connect.port)}


def test_its_password_is_kept_private(connect):
    secret = connect_proc.read_password()
    assert len(secret) >= 24
    for private in (connect_proc.credentials_file(), connect_proc.secrets_file()):
        assert private.stat().st_mode & 0o777 == 0o600
    assert connect_proc.folder().stat().st_mode & 0o077 == 0
    assert secret not in (paths.state_file()).read_text()
    assert secret not in " ".join(psutil.Process(connect.info["pid"]).cmdline())
    assert secret not in repr(connect) and secret not in str(connect)
    connect.request("GET", "/connectors", auth=False)  # a refused request is logged: without it
    log = connect.log.read_text()
    assert "401" in log and secret not in log
    if postgres_proc.current():
        assert postgres_proc.read_password() not in log


def test_a_second_start_reuses_the_running_worker(connect):
    started = time.monotonic()
    again = connect_proc.ensure_running()
    assert again.info["pid"] == connect.info["pid"] and again.port == connect.port
    assert time.monotonic() - started < 5
    assert connect_proc.current() == connect


# --- a private home: `labkit down`, and the errors --------------------------------------


def save_state(bootstrap: str) -> None:
    """The current LABKIT_HOME's state file, as `labkit up` leaves one, Kafka at ``bootstrap``."""
    State(Endpoints("local", bootstrap, bootstrap), owner_pid=owner_pid()).save()
    register_home()  # a killed run's worker is stopped by `labkit down --all`


@pytest.fixture
def private_home(lab, monkeypatch) -> Iterator[Path]:
    """A LABKIT_HOME of its own whose state points at the suite's Kafka, nothing running."""
    home = Path(tempfile.mkdtemp(prefix="labkit-connect-test-"))
    monkeypatch.setenv("LABKIT_CACHE", str(paths.cache()))  # the suite's verified jars
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("LABKIT_CONNECT_PORT", raising=False)
    save_state(lab.bootstrap_servers)
    try:
        yield home
    finally:
        lifecycle.down(quiet=True)
        shutil.rmtree(home, ignore_errors=True)


def test_labkit_down_leaves_no_connect_process(private_home):
    worker = connect_proc.ensure_running()
    assert worker.alive and worker.info["pid"] != os.getpid()
    assert "connect" in lifecycle.down(quiet=True)
    wait_for(lambda: gone(worker.info["pid"]), "the worker to exit", 20)
    assert connect_proc.current() is None


def test_kafka_down_is_a_clear_error_within_seconds(private_home):
    save_state("127.0.0.1:9")  # nothing answers there
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="No Kafka broker answers"):
        connect_proc.ensure_running()
    assert time.monotonic() - started < 10
    assert connect_proc.current() is None


def test_a_taken_port_is_a_clear_error_within_seconds(private_home, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LABKIT_CONNECT_PORT", str(taken.getsockname()[1]))
        started = time.monotonic()
        with pytest.raises(LabError, match="already in use"):
            connect_proc.ensure_running()
        assert time.monotonic() - started < 5


def test_missing_java_is_a_clear_error(private_home, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(private_home / "no-java"))
    with pytest.raises(jvm.JavaNotFound, match="JAVA_HOME"):
        connect_proc.ensure_running()
    assert connect_proc.current() is None
