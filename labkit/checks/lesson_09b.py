"""Lesson 09b's exercise (notebooks/09b_out_of_kafka.ipynb, "Exercise": the cell
``checks.lesson_09b_orders_once(lab, my_postgres_table, my_flink_table)``): copy every
order into PostgreSQL's ``order_copies`` so that each one is there exactly once - even when
the TaskManager dies mid-stream.

The learner answers with two ``CREATE TABLE`` statements: PostgreSQL's (run as it is) and
Flink's JDBC sink (written like the lesson's ``sales``, with ``{pg.jdbc_url}``, ``{pg.user}``
and ``{pg.password}`` filled in by the check). The check sends fresh orders (a new seed each
call) into a topic of its own, declares the lesson's ``orders`` table over it (`ORDERS_DDL`:
the same text the lesson shows) and runs ``INSERT INTO order_copies SELECT order_id,
product, qty FROM orders`` with checkpoints only when it triggers one, like lesson 08's job:

1. half of the orders, then a checkpoint (Kafka offsets saved; the JDBC sink flushes);
2. a quarter more, written to the table - then the TaskManager is killed;
3. the rest; a new TaskManager; the job restores from the checkpoint and so writes the
   quarter *again* (the JDBC sink is at-least-once: it has no transactions to roll back).

Only a table whose key names one order survives that replay: the upserts (PostgreSQL's
``INSERT ... ON CONFLICT ... DO UPDATE``) overwrite the quarter with itself - the check
reads how many rows PostgreSQL updated (``pg_stat_user_tables.n_tup_upd``). Without a key
the quarter is appended twice; a key in one system only makes PostgreSQL refuse the writes
(told as soon as the job fails, not at a timeout - and such a failure takes the TaskManager
down with it, see `_Watch`: the check starts one again); a key that several orders share
keeps one row per key.

Nothing the check prints carries the database's password: it is blanked out of every text
that came from the learner's DDL, Flink or PostgreSQL (`redacted`). The kill needs the
local backend (`Lab.drill_here`); so does the lab's PostgreSQL (``lab.postgres()`` says so).
"""

from __future__ import annotations

import collections
import random
import re
from typing import TYPE_CHECKING, Any

from .. import events
from ..errors import FlinkSqlError, LabError
from ..flink.client import flink_error, java_errors
from ..waiting import wait_for
from .lesson_08 import LESSON_08_RESTARTS
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..flink.jobs import Job
    from ..lab import Lab
    from ..runtime.postgres_proc import Postgres

#: The lesson's ``orders`` table (its %%flink_sql cell shows the same text; the topic is the
#: check's own): the shop's orders as an unbounded Kafka stream.
ORDERS_DDL = """CREATE TABLE orders (
  order_id STRING, product STRING, qty INT, ts BIGINT,
  order_time AS TO_TIMESTAMP_LTZ(ts, 3)
) WITH (
  'connector' = 'kafka', 'topic' = '{topic}', 'format' = 'json',
  'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',
  'scan.startup.mode' = 'earliest-offset'
)"""
#: The job the exercise describes.
COPY_SQL = "INSERT INTO order_copies SELECT order_id, product, qty FROM orders"
#: The check's topic (replaced at each call).
TOPIC = "l09b-copy-orders"
#: The job's settings. Checkpoints only when the check triggers one (lesson 08's settings):
#: the replay is then exactly the orders sent between that checkpoint and the kill. And rows
#: written as they come: by default Flink 2.3 refuses an append-only query into a table with a
#: PRIMARY KEY ("The query has an upsert key that differs from the primary key of the sink
#: table ... Please specify an ON CONFLICT clause"), since two rows with the same key could
#: arrive in any order; ``NONE`` takes the key as the learner declared it - an upsert by it
#: is the answer's idea, and a key that several orders share must show as such.
JOB_SETTINGS = {
    "execution.checkpointing.interval": "10 min",
    "execution.checkpointing.min-pause": "10 min",
    "table.exec.sink.upsert-materialize": "NONE",
}
#: What stands for the password in anything the check shows.
HIDDEN = "<password>"
#: Seconds to wait for a row that the job should write within about one (the JDBC sink
#: flushes every second); a refused write is seen in the job's exceptions long before.
ROW_TIMEOUT_S = 60.0

_IF_NOT_EXISTS = r"(?:if\s+not\s+exists\s+)?"
_PG_TABLE = re.compile(rf'create\s+table\s+{_IF_NOT_EXISTS}(?:"?public"?\.)?"?order_copies"?[\s(]', re.I)
_FLINK_TABLE = re.compile(rf"create\s+(?:temporary\s+)?table\s+{_IF_NOT_EXISTS}`?order_copies`?[\s(]", re.I)
_JDBC = re.compile(r"'connector'\s*=\s*'jdbc'", re.I)
_TABLE_NAME = re.compile(r"'table-name'\s*=\s*'([^']*)'", re.I)
#: PostgreSQL's own words inside a Java exception ("ERROR: duplicate key value violates ...").
_PG_ERROR = re.compile(r"ERROR: ([^\n]+)")
#: A refusal that is the database's, not the crash's: PostgreSQL's driver or the JDBC sink.
_DATABASE = ("org.postgresql", "java.sql.", "JdbcOutputFormat", "JdbcWriter", "PSQLException")
#: A TaskManager that shut itself down (a fatal error) says this to the JobManager.
_SHUT_DOWN = "The TaskExecutor is shutting down"
#: PostgreSQL's log line for a refused statement or login ("... [123] ERROR:  duplicate key ...").
_PG_LOG_ERROR = re.compile(r"\b(?:ERROR|FATAL):\s+([^\n]+)")


class Refused(Exception):  # noqa: N818 - a refusal is an outcome here, not a bug
    """The job failed for a reason the learner's tables explain: ends the waiting at once."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


def redacted(result: Result, secret: str) -> Result:
    """``result`` with ``secret`` (the database's password) blanked out of its message and hints."""
    if not secret:
        return result
    hide = lambda text: text.replace(secret, HIDDEN)  # noqa: E731
    return Result(result.ok, hide(result.message), [hide(h) for h in result.hints])


def lesson_09b_orders_once(
    lab: Lab, my_postgres_table: Any, my_flink_table: Any, *, seed: int | None = None, n: int = 200
) -> Result:
    """Each order in ``order_copies`` exactly once, with its product and qty, through a
    TaskManager kill: see the module's docstring for what runs. The answer's obvious gaps
    get their hint before anything runs; a run takes ~20-40 s (a TaskManager restarts), and a
    run that fails says so as soon as the failure shows. The TaskManager is back when it returns."""
    wrong = _validate(my_postgres_table, my_flink_table)
    if wrong is not None:
        return wrong
    try:
        pg = lab.postgres()
    except LabError as exc:  # compose / remote: the lab's PostgreSQL runs beside a local lab only
        return failed(str(exc), "This exercise needs the lab's own PostgreSQL: run it on the local backend.")
    secret = pg.password
    return redacted(_run(lab, pg, secret, my_postgres_table, my_flink_table, seed, n), secret)


def _validate(pg_table: Any, flink_table: Any) -> Result | None:
    """The answer's shape, before anything runs: a hint for what is visibly missing."""
    given = [isinstance(t, str) and t.strip() for t in (pg_table, flink_table)]
    if not any(given):
        return failed(
            "No answer yet.",
            'Write both statements as strings: my_postgres_table = "CREATE TABLE ..." (PostgreSQL\'s) and '
            'my_flink_table = """CREATE TABLE ...""" (Flink\'s).',
        )
    if not given[0]:
        return failed(
            "my_postgres_table is empty.", "PostgreSQL needs its table before Flink writes into it."
        )
    if not given[1]:
        return failed("my_flink_table is empty.", "Flink needs its own CREATE TABLE for the JDBC sink.")
    if not _PG_TABLE.search(pg_table):
        return failed(
            "my_postgres_table does not create a table order_copies.",
            "Like the lesson's pg.execute(...): CREATE TABLE order_copies (...), in PostgreSQL's types.",
        )
    if not _FLINK_TABLE.search(flink_table):
        return failed(
            "my_flink_table does not declare a table order_copies.",
            "The check's job runs INSERT INTO order_copies ...: Flink must know a table of that name.",
        )
    if not _JDBC.search(flink_table):
        return failed(
            "my_flink_table is not a JDBC table ('connector' = 'jdbc').",
            "Flink reaches PostgreSQL through its JDBC connector: see the lesson's sales table.",
        )
    name = _TABLE_NAME.search(flink_table)
    if name is None or name.group(1).strip().strip('"').removeprefix("public.") != "order_copies":
        said = f"'table-name' is {name.group(1)!r}" if name else "There is no 'table-name'"
        return failed(
            f"{said}: the sink would not write into PostgreSQL's order_copies.",
            "'table-name' names the table inside PostgreSQL that the JDBC sink writes to.",
        )
    return None


def _run(
    lab: Lab, pg: Postgres, secret: str, pg_table: str, flink_table: str, seed: int | None, n: int
) -> Result:
    """Create the tables, run the job through the kill, compare the table with the orders.
    Every text from PostgreSQL or Flink is shown without ``secret``, blanked before it is
    shortened (a cut could leave part of it)."""
    try:
        pg.execute("DROP TABLE IF EXISTS order_copies")
        pg.execute(pg_table)
    except Exception as exc:  # noqa: BLE001 - psycopg's errors carry PostgreSQL's message
        said = _short(str(exc).split("\nLINE ")[0], secret)  # not its LINE: a quote of the statement, cut
        return failed(f"PostgreSQL refused my_postgres_table: {said}", "Read its message.")
    columns = set(pg.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'order_copies'"
    )["column_name"])  # fmt: skip
    if not columns:
        return failed(
            "After my_postgres_table, PostgreSQL has no table order_copies.", "Which one does it make?"
        )
    if not {"order_id", "product", "qty"} <= columns:
        return failed(
            f"PostgreSQL's order_copies has the columns {sorted(columns)}.",
            "The sink writes the columns order_id, product and qty by name: PostgreSQL's table needs them.",
        )
    try:
        ddl = flink_table.format(pg=pg, lab=lab).strip().rstrip(";")  # a %%flink_sql cell's ";" too
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        return failed(
            f"my_flink_table has a placeholder the check cannot fill: {exc}.",
            "The check fills {pg.jdbc_url}, {pg.user}, {pg.password} and {lab.flink_bootstrap_servers}.",
        )
    seed = random.randrange(1, 10**6) if seed is None else seed
    orders = list(events.orders(n, seed=seed))
    lab.create_topic(TOPIC, partitions=1, replace=True)
    t_env = lab.table_env()
    for key, value in {**JOB_SETTINGS, **LESSON_08_RESTARTS}.items():
        t_env.get_config().set(key, value)
    t_env.execute_sql(ORDERS_DDL.format(topic=TOPIC, lab=lab))
    try:
        t_env.execute_sql(ddl)
    except Exception as exc:  # noqa: BLE001 - Flink's own words are the hint
        return failed("Flink refused my_flink_table.", _short(_flink_said(exc), secret))
    try:
        started = t_env.execute_sql(COPY_SQL)
    except Exception as exc:  # noqa: BLE001 - Flink's own words are the hint
        return failed(f"Flink could not run {COPY_SQL} into your table.", _short(_flink_said(exc), secret))
    watch = _Watch(lab, pg, secret, lab.start(started, "l09b-exercise"))
    try:
        return _through_a_kill(lab, pg, watch, orders)
    except Refused as refused:
        return refused.result
    finally:
        watch.job.stop()
        if watch.taskmanager_may_be_gone:
            lab.start_taskmanager()  # the cluster as it was (a no-op if it already is)


def _through_a_kill(lab: Lab, pg: Postgres, watch: _Watch, orders: list[dict]) -> Result:
    """Half, a checkpoint, a quarter, the kill, the rest; then the table against the orders."""
    n, half, three_quarters = len(orders), len(orders) // 2, 3 * len(orders) // 4
    job = watch.job
    watch.until_running()
    lab.produce(TOPIC, orders[:half], key="order_id")
    watch.until_written(orders[half - 1], "the first half of the orders")
    checkpoint = lab.trigger_checkpoint(job)
    lab.produce(TOPIC, orders[half:three_quarters], key="order_id")
    watch.until_written(orders[three_quarters - 1], "the orders sent after the checkpoint")
    restored = None
    if lab.drill_here("the TaskManager kill"):
        watch.taskmanager_may_be_gone = True
        watch.killed_at = lab.kill_taskmanager()["killed_at"]
        lab.produce(TOPIC, orders[three_quarters:], key="order_id")
        lab.start_taskmanager()
        restored = wait_for(watch.restored, "the job's restore from the checkpoint", timeout=180)
        watch.until_written(orders[-1], "the last order, after the restore")
    else:  # compose / remote (not reached today: lab.postgres() needs the local lab)
        lab.produce(TOPIC, orders[three_quarters:], key="order_id")
        watch.until_written(orders[-1], "the last order")
    job.stop()  # the sink's connections close: PostgreSQL's counts of this table are final
    rows = pg.query("SELECT order_id, product, qty FROM order_copies")
    replayed = three_quarters - half if restored is not None else 0
    verdict = compare(orders, rows, replayed)
    if verdict is not None:
        return verdict
    if restored is None:
        return passed(
            f"{n} orders, each once in order_copies with its product and qty. Not crashed: the TaskManager "
            f"kill needs the local backend (this lab runs on {lab.backend!r})."
        )
    updates = _updates(pg, replayed)
    taken = f"checkpoint {restored['id']}" + (
        f", taken after order {half}," if restored["id"] == checkpoint["id"] else ""
    )
    return passed(
        f"{n} orders, each exactly once in order_copies with its product and qty, through a TaskManager "
        f"kill after order {three_quarters}: the job restored {taken} and wrote orders "
        f"{half + 1}-{three_quarters} again - PostgreSQL counted {updates} rows updated in place: the "
        f"{replayed} replayed orders overwrote themselves."
    )


class _Watch:
    """The waits of a run, each ended as soon as the job fails for a reason of the learner's
    tables (`refused`), with PostgreSQL's words for it.

    Where those words are: a JDBC sink whose write PostgreSQL refuses fails its task, and
    then fails again while the task closes (the connector's ``close`` flushes the same rows
    once more and rethrows); Flink takes an exception inside its failure handling as fatal
    and shuts the whole TaskManager down. The job's exceptions then say only "The
    TaskExecutor is shutting down", so PostgreSQL's own log (what it refused since the run
    began) says why - and the check starts a TaskManager again afterwards.
    """

    def __init__(self, lab: Lab, pg: Postgres, secret: str, job: Job) -> None:
        self.lab, self.pg, self.secret, self.job = lab, pg, secret, job
        self.killed_at = 0.0  # the check's own kill (time.time()); 0: not yet
        self.taskmanager_may_be_gone = False
        try:
            self.log_from = pg.log.stat().st_size  # PostgreSQL's log before this run
        except OSError:
            self.log_from = -1

    def until_running(self) -> None:
        """Until every task of the job runs (`Lab.wait_until_running`, ended by a refusal too:
        a sink that cannot log in fails at each start, and the job restarts for two minutes)."""

        def running() -> bool:
            self.refused()
            tasks = self.lab.tasks(self.job)
            return bool(len(tasks)) and bool((tasks["status"] == "RUNNING").all())

        try:
            wait_for(running, "the job's tasks to run", timeout=120, every=0.2)
        except LabError as exc:
            raise Refused(failed(str(exc), f"See the job in Flink's Web UI: {self.job.web_ui}")) from None

    def until_written(self, order: dict, what: str) -> None:
        """Until ``order``'s row is in order_copies (the JDBC sink writes in order)."""

        def written() -> bool:
            found = self.pg.query("SELECT 1 FROM order_copies WHERE order_id = %s", order["order_id"])
            if len(found):
                return True
            self.refused()
            return False

        try:
            wait_for(written, what, timeout=ROW_TIMEOUT_S, every=0.2)
        except LabError:
            self.refused()
            raise Refused(failed(
                f"The job did not write {what} into order_copies within {ROW_TIMEOUT_S:.0f} s.",
                f"See the job's exceptions in Flink's Web UI: {self.job.web_ui}",
            )) from None  # fmt: skip

    def restored(self) -> dict | None:
        """The job's restore after the kill (``latest.restored``), or None yet. Not
        `Lab.wait_restored`: a job that PostgreSQL refuses fails again at each restore, and
        that must end the wait as soon as it shows."""
        self.refused()
        latest = self.lab.checkpoints(self.job)["latest"].get("restored")
        return latest if latest and latest["restore_timestamp"] >= self.killed_at * 1000 else None

    def refused(self) -> None:
        """Raise `Refused` if the job has failed other than by the check's kill: a failure
        before it, the database's at any time, or a TaskManager that shut itself down."""
        reply = self.lab.flink_api(f"jobs/{self.job.job_id}/exceptions")
        entries = reply.get("exceptionHistory", {}).get("entries", [])
        for entry in sorted(entries, key=lambda e: e.get("timestamp", 0)):
            trace = (entry.get("stacktrace") or entry.get("exceptionName") or "").replace(self.secret, HIDDEN)
            database = any(mark in trace for mark in _DATABASE)
            fatal = _SHUT_DOWN in trace  # never a SIGKILL's: that TaskManager says nothing
            if database or fatal or not self.killed_at or entry.get("timestamp", 0) < self.killed_at * 1000:
                self.taskmanager_may_be_gone = True
                raise Refused(explain(trace, _PG_ERROR.findall(trace) or self.postgres_said()))

    def postgres_said(self) -> list[str]:
        """What PostgreSQL refused since the run began (its log's ERROR and FATAL lines)."""
        if self.log_from < 0:
            return []
        try:
            with open(self.pg.log, "rb") as log:
                log.seek(self.log_from)
                text = log.read(1_000_000).decode("utf-8", "replace")
        except OSError:
            return []
        return _PG_LOG_ERROR.findall(text.replace(self.secret, HIDDEN))


def explain(trace: str, said: list[str]) -> Result:
    """The hint for a job failure: what PostgreSQL said, and what it means for the tables."""
    if not said:
        return failed(f"The job failed: {_short(_last_cause(trace))}", "Read Flink's message.")
    message = _short(said[0].split(" Call getNextException")[0])
    if "no unique or exclusion constraint matching the ON CONFLICT" in message:
        return failed(
            f"PostgreSQL refused the sink's writes: {message}",
            "With a PRIMARY KEY in Flink's table, the JDBC sink writes INSERT ... ON CONFLICT (your key) "
            "DO UPDATE: PostgreSQL can only do that on a table that has the same key.",
        )
    if "duplicate key value violates unique constraint" in message:
        return failed(
            f"After the restore PostgreSQL refused the replayed orders: {message}",
            "The restarted job wrote again the orders since the checkpoint, as plain INSERTs: Flink "
            "upserts only into a table declared with PRIMARY KEY (...) NOT ENFORCED.",
        )
    if "authentication failed" in message or ("does not exist" in message and "database" in message):
        return failed(
            f"PostgreSQL refused the sink's login: {message}",
            "The sink logs in with the table's 'url', 'username' and 'password': the check fills "
            "{pg.jdbc_url}, {pg.user} and {pg.password}.",
        )
    return failed(
        f"PostgreSQL refused the sink's writes: {message}",
        "Which column or type does PostgreSQL name? Compare the two tables.",
    )


def compare(orders: list[dict], rows: Any, replayed: int) -> Result | None:
    """A failed `Result` for what differs between ``order_copies`` (``rows``: order_id, product,
    qty) and the ``orders`` sent, or None if each order is there once, as sent. ``replayed``:
    how many orders the restored job wrote a second time (0: no kill)."""
    n = len(orders)
    counts = collections.Counter(rows["order_id"])
    twice = sorted(o for o, c in counts.items() if c > 1)
    if twice:
        after = " (the orders sent between the checkpoint and the kill)" if len(twice) == replayed else ""
        return failed(
            f"{len(twice)} orders are in order_copies twice{after}: the restarted job wrote them again (from "
            "the checkpoint) and the table appended them.",
            "An upsert overwrites the row it finds by the table's key, instead of adding one: "
            "what names one order?",
        )
    missing = [o for o in orders if o["order_id"] not in counts]
    if missing:
        for column in ("product", "qty"):
            last = {o[column]: o["order_id"] for o in orders}  # the last order of each value
            if set(counts) == set(last.values()):
                return failed(
                    f"order_copies holds {len(rows)} rows for {n} orders: one per {column}, each its last "
                    "order - every later order overwrote the one before.",
                    "A key says which writes are the same row: is yours different for every order?",
                )
        return failed(
            f"{len(missing)} of {n} orders are not in order_copies (it holds {len(rows)} rows).",
            f"Look for one of them, e.g. {missing[0]['order_id']}: was it overwritten, or never written?",
        )
    truth = {o["order_id"]: (o["product"], o["qty"]) for o in orders}
    off = [r for r in rows.itertuples() if truth.get(r.order_id) != (r.product, r.qty)]
    if off or len(rows) != n:
        return failed(
            f"{len(off)} rows of order_copies differ from their order's product and qty.",
            "Compare the columns of both tables: names, order and types.",
        )
    return None


def _updates(pg: Postgres, expected: int) -> int:
    """Rows of order_copies that PostgreSQL updated in place (upserts that found their row):
    its statistics reach the view when each writer's session reports them, so wait (briefly)
    for ``expected``; the count as it then is."""

    def count() -> int:
        stats = pg.query("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'order_copies'")
        return int(stats["n_tup_upd"].iloc[0]) if len(stats) else 0

    try:
        return int(wait_for(lambda: (c := count()) >= expected and c, "PostgreSQL's statistics", timeout=5))
    except LabError:
        return count()


def _last_cause(trace: str) -> str:
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by: ")]
    return (causes or lines or ["?"])[-1]


def _flink_said(exc: Exception) -> str:
    """Flink's own message for what it refused (a `FlinkSqlError`'s, without the Java trace)."""
    if isinstance(exc, java_errors()):
        exc = flink_error(exc)
    return exc.message if isinstance(exc, FlinkSqlError) else str(exc)


def _short(text: str, secret: str = "", limit: int = 500) -> str:
    """One line, at most ``limit`` characters, without ``secret``."""
    text = " ".join((text.replace(secret, HIDDEN) if secret else text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
