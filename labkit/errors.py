"""The lab's own exceptions: each one says what went wrong *and* what to do about it."""

from __future__ import annotations

import re


class LabError(RuntimeError):
    """Base class for errors a learner can act on."""


class BrokerUnavailable(LabError):
    """No Kafka broker answers at the address the lab expects."""


class UnknownTopic(LabError):
    """A topic that does not exist was named."""


class ShortError(LabError):
    """A `LabError` a notebook shows as its message alone, without a Python traceback
    (IPython calls `_render_traceback_` when an exception has one): for errors in what the
    learner wrote - the SQL of a ``%%flink_sql`` cell - where Python's frames say nothing."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class FlinkSqlError(ShortError):
    """Flink refused a statement or a job failed: Flink's own message, short.

    ``message`` is what Flink said (its validation or parse error, with the position it
    points to), ``line``/``column`` that position (1-based; None when Flink gave none),
    ``statement`` the SQL it was about, and ``details`` the full server-side trace, for
    whoever wants it. In a notebook it shows as the message and the statement with a
    caret under the position, not as a Python traceback (`_render_traceback_`, which
    IPython uses when an exception has one).
    """

    def __init__(self, message: str, statement: str = "", details: str = "") -> None:
        self.message = message
        self.statement = statement
        self.details = details
        self.line, self.column = position(message)
        super().__init__(self.explained())

    def __str__(self) -> str:
        return self.explained()

    def explained(self) -> str:
        """The message, then the statement's line it points to with a caret under the column."""
        text = self.message
        lines = self.statement.splitlines()
        if self.line is not None and self.column is not None and 0 < self.line <= len(lines):
            text += f"\n\n  {lines[self.line - 1]}\n  {' ' * (self.column - 1)}^"
        return text


#: Exceptions that only wrap the one that says what is wrong (the SQL Gateway's, PyFlink's).
_WRAPPERS = (
    "SqlGatewayException",
    "SqlExecutionException",
    "Py4JJavaError",
    "ExecutionException",
    "CompletionException",
    "RestClientException",
)
#: How messages that only say "something below failed" begin (a failed job's wrappers).
_SAYS_NOTHING = (
    "Failed to fetchResults",
    "Failed to execute",
    "Failed to fetch next result",
    "Failed to fetch job execution result",
    "Job failed (JobID",
    "Job execution failed",
    "Recovery is suppressed",
)
_POSITION = re.compile(r"\bline (\d+), column (\d+)")
_HEAD = re.compile(
    r"^(?:Caused by: )?((?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error))(?:: (.*))?$"
)


def position(message: str) -> tuple[int | None, int | None]:
    """(line, column) of the first ``line N, column M`` in Flink's message, else (None, None)."""
    found = _POSITION.search(message)
    return (int(found.group(1)), int(found.group(2))) if found else (None, None)


def causes_in(trace: str) -> list[tuple[str, str]]:
    """(class name, message) of each exception in a Java stack trace's text, outermost first
    (a message may span lines: Flink lists a table's options under it)."""
    chain: list[tuple[str, str]] = []
    for line in trace.splitlines():
        head = _HEAD.match(line.strip()) if not line.startswith("\t") else None
        if head:
            chain.append((head.group(1), head.group(2) or ""))
        elif chain and line.strip() and not line.startswith("\t") and not line.startswith(("<", "End of")):
            chain[-1] = (chain[-1][0], f"{chain[-1][1]}\n{line.rstrip()}")
    return chain


def flink_message(chain: list[tuple[str, str]]) -> str:
    """What a chain of Java exceptions (outermost first) says, the way a person would: the
    wrappers dropped, each message once (Calcite's repeat Flink's), outermost first."""
    said: list[str] = []
    for name, message in chain:
        short = name.rsplit(".", 1)[-1]
        message = message.strip()
        if short in _WRAPPERS or not message or message.startswith(_SAYS_NOTHING):
            continue
        if any(message in earlier for earlier in said):
            continue
        said.append(message if name.startswith("org.apache.flink") else f"{short}: {message}")
    if not said and chain:
        name, message = chain[-1]
        said.append(f"{name.rsplit('.', 1)[-1]}: {message}".strip(": "))
    return "\n".join(said)
