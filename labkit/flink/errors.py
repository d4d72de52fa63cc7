"""PyFlink's Java errors in a notebook: Flink's message first, the Java stack trace one click away.

A learner's ``t_env.execute_sql("SELECT nope FROM clicks")`` raises Py4J's ``Py4JJavaError``,
whose text is the whole Java stack trace (50-150 lines), Flink's own message on its second
line. In a notebook `show_java_errors` (which ``labkit.connect()`` calls) has IPython show
such an error as Flink's message (:func:`labkit.errors.flink_message`: the Java wrappers
dropped, Calcite's repeats too; with a caret under the position it names, when the
statement is known), then the Java stack trace folded in a ``<details>`` element. The cell
still fails: Run All stops there, nbval sees the error.

labkit's own helpers (``lab.query``, ``lab.kafka_table``) raise a short `FlinkSqlError`
themselves (:func:`labkit.flink.client.flink_sql`); this is for PyFlink's API called directly.
"""

from __future__ import annotations

import html
import sys
from types import TracebackType
from typing import Any

from .client import flink_error, java_errors

#: PyFlink's methods that take a statement, and the name of that argument: the statement a
#: caret can point into.
_STATEMENT_ARGS = {
    "execute_sql": "stmt",
    "sql_query": "query",
    "explain_sql": "stmt",
    "add_insert_sql": "stmt",
}


def show_java_errors(shell: Any = None) -> bool:
    """Have IPython (``shell``, default: the running one) show PyFlink's Java errors short
    (`java_error_traceback`); False outside IPython, or when another custom exception
    handler is installed already (IPython has one; it is left alone)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython comes with JupyterLab
            return False
        shell = get_ipython()
    if shell is None:
        return False
    errors = java_errors()
    if shell.custom_exceptions not in ((), errors):
        return False
    shell.set_custom_exc(errors, _handler)
    return True


def _handler(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: Any = None,
) -> list[str]:
    """IPython's custom exception handler (`show_java_errors`): shows the error, returns
    what it showed. Any failure here shows IPython's usual traceback of the error instead."""
    try:
        stb, bundle = java_error_traceback(etype, value, tb)
        # What IPython's own showtraceback does with a traceback: records it for %tb and
        # %debug, sends it as the cell's error (ipykernel: the "error" message, the reply's
        # traceback). IPython ignores a custom handler's return value: this shows it.
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
        if sys.version_info >= (3, 12):
            sys.last_exc = value
        shell._showtraceback(etype, value, stb)  # noqa: SLF001 - IPython's (and ipykernel's) hook for it
    except Exception:  # noqa: BLE001 - never hide the error itself
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return []
    try:
        from IPython.display import display

        display(bundle, raw=True)
    except Exception:  # noqa: BLE001 - the message was shown; the fold is a nicety
        pass
    return stb


def java_error_traceback(
    etype: type[BaseException], value: BaseException, tb: TracebackType | None = None
) -> tuple[list[str], dict[str, str]]:
    """What the notebook shows for a PyFlink Java error: the cell's error (IPython's
    structured traceback, one string a line: ``Py4JJavaError: <Flink's message>``, and the
    statement with a caret under the position when the call that failed took one) and a
    display bundle for after it: the Java stack trace folded (text/html), whole (text/plain,
    for a frontend without HTML)."""
    error = flink_error(value, statement_in(tb))
    lines = str(error).splitlines() or [""]
    stb = [f"{etype.__name__}: {lines[0]}", *lines[1:]]
    trace = error.details.strip()
    bundle = {
        "text/plain": trace,
        "text/html": (
            "<details><summary>Java stack trace</summary>"
            f"<pre style='font-size: smaller'>{html.escape(trace)}</pre></details>"
        ),
    }
    return stb, bundle


def statement_in(tb: TracebackType | None) -> str:
    """The statement of the innermost PyFlink call in ``tb`` that took one (``execute_sql``,
    ``sql_query``, ...: `_STATEMENT_ARGS`), else ""."""
    statement = ""
    while tb is not None:
        frame = tb.tb_frame
        arg = _STATEMENT_ARGS.get(frame.f_code.co_name)
        if arg and "pyflink" in frame.f_code.co_filename and isinstance(frame.f_locals.get(arg), str):
            statement = frame.f_locals[arg]
        tb = tb.tb_next
    return statement
