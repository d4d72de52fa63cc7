"""Flink's errors, short, against the real engine: labkit's helpers raise a `FlinkSqlError`
(Flink's message and position, the Java trace in ``details``), and a notebook kernel shows
a Java error from PyFlink's own API as Flink's message with the Java trace folded."""

from __future__ import annotations

import pytest
from kernels import kernel
from py4j.protocol import Py4JJavaError

from labkit.checks.sql import could_not_run, run_sql
from labkit.errors import FlinkSqlError
from labkit.flink.client import flink_error, java_errors
from labkit.flink.errors import java_error_traceback, show_java_errors

BAD_COLUMN = "SELECT nope FROM (VALUES (1)) AS t(x)"
#: What Flink says about BAD_COLUMN (and any query naming the column nope at line 1, column 8)
NOT_FOUND = (
    "SQL validation failed. From line 1, column 8 to line 1, column 11: Column 'nope' not found in any table"
)
QUERY_SHOWN = f"{NOT_FOUND}\n\n  SELECT nope FROM t\n         ^"


def assert_short(error: FlinkSqlError) -> None:
    """Flink's words, no Java frames, the trace kept for whoever wants it."""
    text = str(error)
    assert "at org.apache" not in text and "\tat " not in text and "Py4J" not in text, text
    assert len(text.splitlines()) < 15, text
    assert error.__cause__ is None and error.__suppress_context__  # raised `from None`
    assert "\tat org.apache.flink" in error.details  # the whole Java stack trace


def test_a_query_naming_a_missing_column_is_flinks_message_with_a_caret(lab, topic):
    name = topic("err-col")
    with pytest.raises(FlinkSqlError) as raised:
        lab.query("SELECT nope FROM clicks", {"clicks": "user_id STRING"}, topics={"clicks": name})
    error = raised.value
    assert (error.line, error.column) == (1, 8)
    assert "Column 'nope' not found in any table" in error.message
    assert error.statement == "SELECT nope FROM clicks"
    assert str(error).endswith("\n\n  SELECT nope FROM clicks\n         ^")
    assert_short(error)


def test_a_kafka_table_with_a_wrong_type_points_into_its_ddl(lab):
    t_env = lab.table_env()
    with pytest.raises(FlinkSqlError) as raised:
        lab.kafka_table(t_env, "k", "user_id STRNG, page STRING", topic="never-read")
    error = raised.value
    assert "Unknown identifier 'STRNG'" in error.message
    assert (error.line, error.column) == (2, 11)  # in the DDL kafka_table wrote
    assert error.statement.startswith("CREATE TABLE `k` (\n  user_id STRNG, page STRING\n) WITH (")
    assert str(error).endswith("\n\n    user_id STRNG, page STRING\n            ^")
    assert_short(error)


def test_a_kafka_table_with_a_wrong_option_value_is_flinks_message(lab, topic):
    """Flink checks a table's options when a query reads it: lab.query raises then."""
    name = topic("err-opt")
    with pytest.raises(FlinkSqlError) as raised:
        lab.query(
            "SELECT * FROM t", {"t": "a INT"}, topics={"t": name}, options={"scan.startup.mode": "latest"}
        )
    error = raised.value
    assert error.message.startswith("Unable to create a source for reading table 'default_catalog")
    assert "Invalid value for option 'scan.startup.mode'." in error.message
    assert "Could not parse value 'latest' for key 'scan.startup.mode'." in error.message
    assert (error.line, error.column) == (None, None)
    assert_short(error)


def test_a_query_whose_job_fails_is_flinks_message_and_so_is_waiting_on_one(lab, topic):
    """Not only a refused statement: a job that fails on the cluster (a record that is not
    JSON), through lab.query and through Job.wait."""
    src, dst = topic("err-src"), topic("err-dst")
    lab.produce(src, [b"this is not JSON"])
    with pytest.raises(FlinkSqlError) as queried:
        lab.query("SELECT * FROM t", {"t": "a INT"}, topics={"t": src})
    assert "this is not JSON" in queried.value.message  # the json format's "Failed to deserialize"
    assert_short(queried.value)

    t_env = lab.table_env()
    t_env.get_config().set("restart-strategy.type", "none")  # fail at once, not after 10 restarts
    lab.kafka_table(t_env, "src", "a INT", topic=src, bounded=True)
    lab.kafka_table(t_env, "dst", "a INT", topic=dst)
    job = lab.start(t_env.execute_sql("INSERT INTO dst SELECT a FROM src"), "fails")
    with pytest.raises(FlinkSqlError) as waited:
        job.wait(120)
    assert "this is not JSON" in waited.value.message
    assert_short(waited.value)


def test_flink_error_reads_py4j_and_pyflinks_own_java_exceptions(lab, topic):
    t_env = lab.table_env()
    with pytest.raises(Py4JJavaError) as raw:
        t_env.execute_sql(BAD_COLUMN)
    error = flink_error(raw.value, BAD_COLUMN)
    assert error.message == NOT_FOUND
    assert error.details == str(raw.value) and len(error.details.splitlines()) > 30

    # PyFlink turns a TableException into its own exception, which has the trace's text only
    lab.kafka_table(t_env, "src", "a INT", topic=topic("err-agg"))
    lab.kafka_table(t_env, "dst", "n BIGINT", topic=topic("err-sink"))
    with pytest.raises(java_errors()) as converted:
        t_env.execute_sql("INSERT INTO dst SELECT COUNT(*) FROM src")
    assert not isinstance(converted.value, Py4JJavaError)
    said = flink_error(converted.value).message
    assert said.startswith("Table sink 'default_catalog.default_database.dst' doesn't support consuming")
    assert "\tat " not in said


def test_the_check_hint_is_flinks_message_on_one_line(lab, topic):
    result = run_sql(lab, "SELECT nope FROM clicks", "user_id STRING", topic("err-check"))
    assert not result.ok and result.message == "Flink could not run that query."
    assert result.hints == [NOT_FOUND]
    with pytest.raises(Py4JJavaError) as raw:
        lab.table_env().execute_sql(BAD_COLUMN)
    assert could_not_run(raw.value).hints == result.hints  # a PyFlink error says the same


def test_the_notebook_traceback_is_flinks_message_and_the_statement_with_a_caret(lab):
    """What the kernel's handler shows, from a real Py4JJavaError and its Python traceback."""
    with pytest.raises(Py4JJavaError) as raw:
        lab.table_env().execute_sql(BAD_COLUMN)
    stb, bundle = java_error_traceback(Py4JJavaError, raw.value, raw.value.__traceback__)
    assert stb == [f"Py4JJavaError: {NOT_FOUND}", "", f"  {BAD_COLUMN}", "         ^"]
    assert bundle["text/html"].startswith("<details><summary>Java stack trace</summary><pre")
    assert "Column &#x27;nope&#x27; not found" in bundle["text/html"]  # escaped
    assert "\tat org.apache.flink.table.planner" in bundle["text/html"]
    assert bundle["text/plain"] == str(raw.value).strip()


class _Shell:
    def __init__(self, custom: tuple) -> None:
        self.custom_exceptions = custom

    def set_custom_exc(self, exc_tuple: tuple, handler: object) -> None:
        self.custom_exceptions = exc_tuple


def test_the_handler_is_installed_once_and_never_over_someone_elses():
    assert not show_java_errors(None)  # pytest is no IPython
    shell = _Shell(())
    assert show_java_errors(shell) and shell.custom_exceptions == java_errors()
    assert show_java_errors(shell)  # connect() again: the same handler
    theirs = _Shell((KeyError,))
    assert not show_java_errors(theirs) and theirs.custom_exceptions == (KeyError,)


# --- in a real IPython kernel (tests/kernels.py) --------------------------------------

SETUP = """
import labkit
lab = labkit.connect(quiet=True)
t_env = lab.table_env()
"""


def test_a_kernel_shows_pyflinks_java_errors_as_flinks_message_the_trace_folded(lab):
    with kernel() as k:
        assert k.run(SETUP)["status"] == "ok"

        bad = k.run(f't_env.execute_sql("{BAD_COLUMN}")')
        assert bad["status"] == "error"  # Run All stops here
        assert bad["kinds"] == ["error", "display_data"]  # the message first, then the trace
        (shown,) = bad["errors"]  # nbval sees an error
        assert shown == [f"Py4JJavaError: {NOT_FOUND}", "", f"  {BAD_COLUMN}", "         ^"]
        assert bad["reply"] == shown
        (folded,) = bad["html"]
        assert folded.startswith("<details><summary>Java stack trace</summary>")
        assert "at org.apache.flink.table.planner.calcite.FlinkPlannerImpl" in folded

        # PyFlink's own TableException (a converted Java exception) is shown the same way
        tables = (
            "lab.kafka_table(t_env, 'src', 'a INT', topic='never-read'); "
            "lab.kafka_table(t_env, 'dst', 'n BIGINT', topic='never-written')"
        )
        assert k.run(tables)["status"] == "ok"
        update = k.run('t_env.execute_sql("INSERT INTO dst SELECT COUNT(*) FROM src")')
        assert update["status"] == "error" and len(update["errors"][0]) < 15
        assert update["errors"][0][0].startswith("TableException: Table sink 'default_catalog")
        assert "at org.apache" not in "\n".join(update["errors"][0]) and "<details" in update["html"][0]

        # labkit's own short error and any other error: as before
        ours = k.run("lab.query('SELECT nope FROM t', {'t': 'a INT'}, topics={'t': 'never-read'})")
        assert ours["errors"] == [[f"FlinkSqlError: {QUERY_SHOWN}"]] and ours["html"] == []
        other = k.run("1 / 0")
        assert other["status"] == "error" and "ZeroDivisionError" in "\n".join(other["errors"][0])
        assert other["html"] == []

        # if the handler itself fails, IPython's usual traceback of the error still shows
        broken = "import labkit.flink.errors as e; e.java_error_traceback = None\n"
        failed = k.run(broken + f't_env.execute_sql("{BAD_COLUMN}")')
        assert failed["status"] == "error" and failed["html"] == []
        text = "\n".join(failed["errors"][0])
        assert "Py4JJavaError" in text and "at org.apache.flink" in text and len(failed["errors"][0]) > 5
