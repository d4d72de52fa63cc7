"""Running a learner's Flink SQL for a check, and saying in Flink's words why it did not run.

Lessons 05 and 06 answer with a query over the lesson's ``clicks`` topic (`run_sql`);
lesson 09 with a MATCH_RECOGNIZE query over ``transactions``. When Flink rejects a query,
`could_not_run` turns its exception into a hint: Flink's own message (a `FlinkSqlError`'s,
or the one :func:`labkit.flink.client.flink_error` reads from a PyFlink error), else the
first line that names an exception, which is where Flink says what it could not resolve or
parse. A job Flink refuses to plan (lesson 08's sink options) is explained by `flink_cause`:
the innermost "Caused by", where the connector names the option it wants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import FlinkSqlError
from ..flink.client import flink_error, java_errors
from .result import Result, failed

if TYPE_CHECKING:
    from ..lab import Lab


def could_not_run(exc: Exception) -> Result:
    """The `Result` for a query Flink refused: its own complaint (at most 300 characters)
    is the hint, without the Java stack trace."""
    if isinstance(exc, java_errors()):
        exc = flink_error(exc)
    if isinstance(exc, FlinkSqlError):
        return failed("Flink could not run that query.", " ".join(exc.message.split())[:300])
    lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    reason = next((ln for ln in lines if "Exception" in ln), lines[0] if lines else type(exc).__name__)
    return failed("Flink could not run that query.", reason.strip()[:300])


def run_sql(lab: Lab, sql: Any, schema: str, topic: str) -> pd.DataFrame | Result:
    """Run the learner's ``sql`` over ``topic`` as the table ``clicks`` (columns ``schema``):
    its rows, or the failed `Result` saying why the query did not run."""
    if not isinstance(sql, str) or not sql.strip():
        return failed("No query yet.", 'Write your query as a string: my_sql = "SELECT ..."')
    try:
        return lab.query(sql, {"clicks": schema}, topics={"clicks": topic})
    except Exception as exc:  # noqa: BLE001 - show Flink's own complaint
        return could_not_run(exc)


def flink_cause(exc: Exception) -> str:
    """The most specific line of a (Java) exception: its last 'Caused by' (without the
    exception's class name), else its first line. A `FlinkSqlError`'s Java trace is its
    ``details``."""
    trace = exc.details or exc.message if isinstance(exc, FlinkSqlError) else str(exc)
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by: ")]
    text = (causes or lines or [type(exc).__name__])[-1 if causes else 0]
    return text.split(": ", 1)[1] if text.count(": ") and text.split(": ", 1)[0].count(".") else text
