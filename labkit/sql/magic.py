"""The ``%%flink_sql`` cell: Flink SQL written as SQL, run on the lab's SQL Gateway.

    %%flink_sql
    CREATE TABLE clicks (`user` STRING, url STRING) WITH (
      'connector' = 'kafka', 'topic' = 'clicks', 'format' = 'json',
      'properties.bootstrap.servers' = '127.0.0.1:9092', 'scan.startup.mode' = 'earliest-offset');
    SELECT `user`, COUNT(*) AS clicks FROM clicks GROUP BY `user`

What each statement shows:

* ``CREATE``, ``SET``, ``SHOW``, ``DESCRIBE``, ``EXPLAIN``...: Flink's answer (a table, or
  the plan's text);
* a **bounded** query (every source ends): its result as a DataFrame, once it is complete;
* a **continuous** query: a `LiveQuery` - the result kept current from the changelog, the
  job's state and link, a Stop button - and the cell returns at once, so other cells run;
* ``INSERT INTO``: starts a job and returns its `SqlJob` (status, ``stop()``, Web UI link).

Which queries are bounded is Flink's to say: the planner is asked to plan the query for
batch execution (``EXPLAIN`` with ``execution.runtime-mode: batch``), which it refuses
for an unbounded source. Options: ``-o NAME`` stores the last result (a DataFrame, a
`LiveQuery` or a `SqlJob`) in the notebook's variable NAME; ``--chart X Y`` (``--bar``)
draws column Y against X under a live table; ``--rows N`` shows N rows of it;
``--local-only WHAT`` runs the cell on the local lab only (elsewhere it says WHAT is skipped).
``{name}`` in the SQL is replaced by that notebook variable's value (``{{`` for a brace);
``{lab.flink_kafka_connection}`` is how Flink reaches the lab's Kafka as table options (the
address, and a secured Kafka's TLS and login): what the cell shows of it (errors, job
names) has the login masked.

One gateway session per kernel (its tables and ``SET`` options last as long as the
kernel). Re-running a cell stops the jobs it started before; ``lab.stop_jobs()`` and the
kernel's exit stop them all; a job's name carries its kernel, so the jobs of a kernel that
was killed are cancelled by the next ``labkit.connect()``.
"""

from __future__ import annotations

import argparse
import atexit
import re
import shlex
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import FlinkSqlError, LabError, ShortError
from ..flink.jobs import Job, remember
from ..flink.owners import owned
from ..panels.base import in_notebook
from ..runtime import profile as profiles
from ..runtime.state import Endpoints
from .changelog import ChangelogTable
from .gateway import GatewayClient, Operation, Page, Result
from .live import SHOWN_ROWS, LiveQuery, SqlJob
from .statements import (
    JOB,
    QUERY,
    add_connection,
    fill,
    first_words,
    hide_secrets,
    kind,
    rename_options,
    split,
)

#: The tables a plan reads: ``LogicalTableScan(table=[[catalog, database, table]])``.
_SCANS = re.compile(r"LogicalTableScan\(table=\[\[([^\]]+)\]\]")
#: How long a bounded query may run before the cell gives up (and cancels it).
BOUNDED_TIMEOUT_S = 300.0
#: How long a continuous query may take to be accepted (its job submitted) before the cell
#: shows it live anyway.
START_TIMEOUT_S = 30.0


class FlinkSql:
    """A kernel's SQL on the gateway: its session, and the jobs each cell started."""

    def __init__(self, endpoints: Endpoints) -> None:
        if not endpoints.sql_gateway:
            raise LabError(
                f"This lab ({endpoints.backend}) has no Flink SQL Gateway. On your machine, `labkit up` "
                "starts one; a remote cluster names its gateway in LABKIT_SQL_GATEWAY=host:port."
            )
        self.endpoints = endpoints
        self.client = GatewayClient(endpoints.sql_gateway)
        self.cells: dict[str, list[Job | LiveQuery]] = {}  # a cell -> what it started

    def close(self) -> None:
        """Stop every job this kernel's cells started, then close the session."""
        for started in self.cells.values():
            for thing in started:
                thing.stop()
        self.cells.clear()
        self.client.close()

    # -- a cell ---------------------------------------------------------------------------

    def run_cell(
        self,
        cell: str,
        namespace: Mapping[str, Any] | None = None,
        cell_key: str | None = None,
        chart: tuple[str, str] | None = None,
        bar: bool = False,
        rows: int = SHOWN_ROWS,
    ) -> Any:
        """Run every statement of ``cell``; shows each one's answer and returns the last
        (a DataFrame, `LiveQuery`, `SqlJob`, or None)."""
        key = cell_key or cell
        for thing in self.cells.pop(key, []):  # a re-run: what the cell started before goes
            thing.stop()
        filled = rename_options(fill(cell, namespace or {}), self.kafka_name)
        statements = split(add_connection(filled, self.kafka_connection()))
        if not statements:
            raise LabError("The cell has no SQL statement.")
        started: list[Job | LiveQuery] = []
        self.cells[key] = started
        last: Any = None
        for statement in statements:
            if last is not None:
                _show(last)
            try:
                last = self.run(statement, chart=chart, bar=bar, rows=rows)
            except LabError as exc:
                shown = self.masked_error(exc)
                if shown is exc:
                    raise
                raise shown from None
            if isinstance(last, (LiveQuery, SqlJob)):
                started.append(last)
            if self.client.renewed:
                self.client.renewed = False
                print(
                    "Note: the SQL Gateway had forgotten this kernel's session (it restarted, or the kernel "
                    "was idle for long), so tables created before are gone: run their CREATE cells again."
                )
        return last

    def kafka_connection(self) -> dict[str, str]:
        """The Kafka connector options the lab's connection profile adds to every Kafka table
        a cell creates (TLS and login; none for a plain Kafka)."""
        try:
            found = profiles.of_endpoints(self.endpoints)
        except profiles.ProfileError:  # the lab's clients say what is wrong with it
            return {}
        return profiles.flink_kafka_options(found) if found is not None else {}

    def kafka_name(self, name: str) -> str:
        """A topic's, group's or transactional id's name as Kafka knows it: on a classroom's
        Kafka the learner's prefix added (`labkit.runtime.profile.kafka_name`)."""
        try:
            found = profiles.of_endpoints(self.endpoints)
        except profiles.ProfileError:  # the lab's clients say what is wrong with it
            found = None
        return profiles.kafka_name(found, name)

    def masked(self, text: str) -> str:
        """``text`` (a statement, Flink's answer) fit to show: every secret option's value as
        ``'******'`` (`hide_secrets`), and the password of the lab's connection profile
        wherever else it appears."""
        try:
            found = profiles.of_endpoints(self.endpoints)
        except profiles.ProfileError:  # a profile gone meanwhile: its options are still masked
            found = None
        return profiles.masked(hide_secrets(text), found)

    def masked_error(self, exc: LabError) -> LabError:
        """``exc`` as the cell may show it: a statement with ``{lab.flink_kafka_connection}`` (or
        a variable set to ``lab.kafka_options(...)``) holds a login, and Flink's errors quote
        statements (and Java traces) back."""
        if isinstance(exc, FlinkSqlError):
            said = (exc.message, exc.statement, exc.details)
            shown = tuple(self.masked(text) for text in said)
            return exc if shown == said else FlinkSqlError(*shown)
        text = str(exc)
        return exc if self.masked(text) == text else LabError(self.masked(text))

    def run(
        self, statement: str, chart: tuple[str, str] | None = None, bar: bool = False, rows: int = SHOWN_ROWS
    ) -> Any:
        """One statement: its answer (see the module's docstring)."""
        what = kind(statement)
        if what == QUERY:
            if self.bounded(statement):
                return self.collect(statement)
            return self.live(statement, chart, bar, rows)
        if what == JOB:
            return self.start(statement)
        return answer(self.client.run(statement), statement)

    def bounded(self, statement: str) -> bool:
        """Does the query end? Flink's planner says: it refuses to plan a query over an
        unbounded table for batch execution. When it refuses for another reason (a session
        window or a temporal join has no batch form yet), each table the query reads is asked
        the same way. A
        query Flink cannot plan at all counts as unbounded: it then runs as written, and
        Flink's error comes from that run, with positions in the learner's own statement."""
        try:
            self._plan(statement, batch=True)
            return True
        except FlinkSqlError as exc:
            if "unbounded" in exc.message:
                return False
        try:
            plan = self._plan(statement, batch=False)
        except FlinkSqlError:
            return False
        for table in sorted(set(_SCANS.findall(plan))):
            path = ".".join(f"`{part.strip()}`" for part in table.split(",")[:3])
            try:
                self._plan(f"SELECT 1 FROM {path}", batch=True)  # not *: a rowtime column trips the planner
            except FlinkSqlError as exc:
                # A changelog source (upsert-kafka) has no batch form even when bounded; Flink
                # checks boundedness first, so this refusal means the table does end.
                if "unbounded" in exc.message or "INSERT-only" not in exc.message:
                    return False
        return True

    def _plan(self, statement: str, batch: bool) -> str:
        """Flink's plan of ``statement`` (EXPLAIN), for batch or streaming execution."""
        mode = {"execution.runtime-mode": "batch" if batch else "streaming"}
        result = self.client.run(f"EXPLAIN {statement}", mode, timeout=60)
        return "\n".join(str(fields[0]) for _, fields in result.rows)

    def _submit(self, statement: str) -> Operation:
        name = owned(f"%%flink_sql: {' '.join(self.masked(statement).split())[:80]}")
        return self.client.submit(statement, {"pipeline.name": name})

    def collect(self, statement: str, timeout: float = BOUNDED_TIMEOUT_S) -> pd.DataFrame:
        """Run a bounded query to its end; its result (the changelog applied) as a DataFrame."""
        operation = self._submit(statement)
        table = ChangelogTable()
        progress = _Progress()
        deadline = time.monotonic() + timeout
        try:
            for page in operation.pages():
                table.columns, table.types = operation.columns, operation.types
                table.apply_all(page.rows)
                progress.show(f"Running... {table.changes:,} rows received")
                if time.monotonic() > deadline:
                    raise LabError(
                        f"The query had not finished after {timeout:.0f} s (cancelled):\n{statement}"
                    )
        except BaseException:  # an error, a timeout or the learner's interrupt: end the job too
            SqlJob(operation, "", self.endpoints.flink_rest, self.endpoints.web_ui).stop()
            raise
        finally:
            progress.done()
        return table.frame()

    def live(
        self, statement: str, chart: tuple[str, str] | None = None, bar: bool = False, rows: int = SHOWN_ROWS
    ) -> LiveQuery:
        """Start a continuous query and show it live (`LiveQuery`). Waits until Flink has
        accepted it (its job is submitted), so that a statement Flink refuses raises here."""
        operation = self._submit(statement)
        name = f"%%flink_sql: {self.masked(statement)[:60]}"
        job = SqlJob(operation, name, self.endpoints.flink_rest, self.endpoints.web_ui)
        first: list[Page] = []
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            for page in operation.pages():
                first.append(page)
                if page.kind != "NOT_READY" or operation.job_id or time.monotonic() > deadline:
                    break
        except BaseException:
            job.stop()
            raise
        return LiveQuery(job, chart=chart, bar=bar, shown=rows, first=[r for p in first for r in p.rows])

    def start(self, statement: str) -> SqlJob:
        """Submit an INSERT (or a statement set); the handle of its job."""
        operation = self._submit(statement)
        result = operation.all(timeout=60)
        if not operation.job_id and result.rows:  # the gateway answers with the job's id
            operation.job_id = str(result.rows[0][1][0])
        name = f"%%flink_sql: {' '.join(first_words(statement, 3))}"
        return remember(SqlJob(operation, name, self.endpoints.flink_rest, self.endpoints.web_ui))  # type: ignore[return-value]


def answer(result: Result, statement: str) -> pd.DataFrame | None:
    """Flink's answer to a statement that is not a query: a table, a plan's text (printed),
    or "OK" (printed) when there is nothing more to say - secret option values masked."""
    rows = [[hide_secrets(v) if isinstance(v, str) else v for v in fields] for _, fields in result.rows]
    frame = pd.DataFrame(rows, columns=result.columns or None)
    if result.result_kind == "SUCCESS" or frame.empty and not len(frame.columns):
        print(f"{' '.join(first_words(statement, 2))}: OK")
        return None
    if frame.shape == (1, 1) and "\n" in str(frame.iat[0, 0]):  # EXPLAIN's plan
        print(frame.iat[0, 0])
        return None
    return frame


def _show(value: Any) -> None:
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        print(value)
        return
    display(value)


class _Progress:
    """A line that says a long bounded query is still running (after 1 s), then goes away."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.handle: Any = None
        self.last = 0.0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if now - self.since < 1.0 or now - self.last < 0.5 or not in_notebook():
            return
        self.last = now
        from IPython.display import display

        if self.handle is None:
            self.handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": text}, raw=True)

    def done(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)


# -- IPython ----------------------------------------------------------------------------

_SESSION: FlinkSql | None = None


def session(endpoints: Endpoints | None = None) -> FlinkSql:
    """This kernel's `FlinkSql` (made on first use, from ``endpoints`` or ``labkit.connect()``)."""
    global _SESSION
    if (
        endpoints is not None
        and _SESSION is not None
        and _SESSION.endpoints.sql_gateway != endpoints.sql_gateway
    ):
        _SESSION.close()
        _SESSION = None
    if _SESSION is None:
        if endpoints is None:
            from ..lab import connect

            endpoints = connect(quiet=True).endpoints
        _SESSION = FlinkSql(endpoints)
    return _SESSION


def reset() -> None:
    """Close this kernel's session (its jobs stop): the next cell opens a new one. Also
    what the kernel does when it shuts down."""
    global _SESSION
    if _SESSION is not None:
        _SESSION.close()
        _SESSION = None


atexit.register(reset)


def parse_line(line: str) -> argparse.Namespace:
    """The options of a ``%%flink_sql`` line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="%%flink_sql", add_help=False, exit_on_error=False)
    parser.add_argument("-o", "--output", help="store the last result in this notebook variable")
    parser.add_argument("--chart", nargs=2, metavar=("X", "Y"), help="chart column Y against X (live)")
    parser.add_argument("--bar", action="store_true", help="a bar chart instead of a line")
    parser.add_argument("--rows", type=int, default=SHOWN_ROWS, help="rows a live table shows")
    parser.add_argument("--local-only", metavar="WHAT", help="run on the local lab only (else say so)")
    try:
        options = parser.parse_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit, ValueError) as exc:
        raise LabError(f"%%flink_sql {line}: {exc}. Usage: {parser.format_usage().strip()}") from None
    if options.output and not options.output.isidentifier():
        raise LabError(f"%%flink_sql -o {options.output}: not a Python variable name.")
    if not 1 <= options.rows <= 10_000:
        raise LabError(f"%%flink_sql --rows {options.rows}: choose 1 to 10000.")
    return options


def flink_sql(line: str, cell: str) -> Any:
    """The ``%%flink_sql`` cell magic (registered by `load_ipython_extension`)."""
    from IPython import get_ipython

    shell = get_ipython()
    try:
        options = parse_line(line)
        namespace = shell.user_ns if shell is not None else {}
        if options.local_only and not _local_here(options.local_only):
            return None
        result = session().run_cell(
            cell,
            namespace,
            cell_key=_cell_id(shell) or cell,
            chart=tuple(options.chart) if options.chart else None,
            bar=options.bar,
            rows=options.rows,
        )
    except ShortError:
        raise
    except LabError as exc:  # the message says it all: no Python traceback under it
        raise ShortError(str(exc)) from None
    if options.output and shell is not None:
        shell.user_ns[options.output] = result
    return result


def _local_here(what: str) -> bool:
    """``--local-only WHAT``: a cell that needs what only the local lab has (its PostgreSQL,
    files its TaskManager writes on this machine) asks `Lab.drill_here`, which on compose or
    remote prints one line saying ``what`` is skipped, as the lessons' Python cells do."""
    from ..lab import Lab

    return Lab(session().endpoints).drill_here(what)


def _cell_id(shell: Any) -> str | None:
    """The id JupyterLab gives the running cell (it stays the same when the cell is re-run)."""
    try:
        return str(shell.kernel.get_parent()["metadata"]["cellId"])
    except (AttributeError, KeyError, TypeError):
        return None


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext labkit`` (and ``labkit.connect()`` in a notebook): the ``%%flink_sql`` magic."""
    shell.register_magic_function(flink_sql, magic_kind="cell", magic_name="flink_sql")
