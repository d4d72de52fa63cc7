"""A client of Flink's SQL Gateway REST API: one session, statements, their results.

The gateway (:mod:`labkit.runtime.gateway_proc`) keeps a *session* per client - its tables,
its ``SET`` options - and runs each statement as an *operation* whose result is fetched
page by page: ``NOT_READY`` (ask again), ``PAYLOAD`` (rows, each with its row kind: INSERT,
UPDATE_BEFORE, UPDATE_AFTER, DELETE) or ``EOS`` (the end). A query's operation also names
its Flink job. Reference: Flink's docs, *SQL Gateway > REST Endpoint* (API v3).

Errors come back as a Java stack trace; `GatewayClient` turns them into a
`labkit.errors.FlinkSqlError` carrying Flink's own message. A gateway that does not answer
is a `GatewayDown` naming the fix, within `CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import FlinkSqlError, LabError, ShortError, causes_in, flink_message
from ..runtime import tls

API = "v3"
#: How long a request may take to connect and answer: a gateway that is down is known at
#: once (connection refused), one that hangs within this.
CONNECT_TIMEOUT_S = 2.0
#: How often the client tells the gateway its session is in use (the gateway forgets
#: sessions idle for `labkit.runtime.gateway_proc.SESSION_IDLE_TIMEOUT`, 10 min).
HEARTBEAT_S = 60.0
#: The first waits for a result are short (a warm bounded query answers in ~0.3 s), then
#: longer, up to this: a continuous query with nothing new costs a request per 0.2 s.
POLL_MAX_S = 0.2


class GatewayDown(ShortError):
    """Flink's SQL Gateway does not answer."""


@dataclass
class Page:
    """One page of an operation's result."""

    kind: str  # NOT_READY, PAYLOAD or EOS
    columns: list[dict[str, Any]] = field(default_factory=list)  # name, logicalType
    rows: list[tuple[str, list[Any]]] = field(default_factory=list)  # (row kind, fields)
    job_id: str | None = None
    is_query: bool = False
    result_kind: str | None = None  # SUCCESS (no rows to show) or SUCCESS_WITH_CONTENT


class GatewayClient:
    """One session on the gateway at ``address`` (``https://127.0.0.1:PORT``: mutual TLS with
    the lab's certificate, or ``host:port``: plain HTTP on a compose or remote cluster).

    The session is opened on first use and kept alive by a heartbeat thread; if the gateway
    forgot it anyway (it restarted), the next statement opens a new one and `renewed` says
    so, since the tables created in the old one are gone with it.
    """

    def __init__(self, address: str, properties: dict[str, str] | None = None) -> None:
        self.address = address
        self.properties = dict(properties or {})
        self.session: str | None = None
        self.renewed = False
        self._lock = threading.Lock()
        self._beat: threading.Thread | None = None
        self._closed = threading.Event()

    # -- requests --------------------------------------------------------------------------

    def call(
        self, path: str, body: dict | None = None, method: str | None = None, statement: str = ""
    ) -> Any:
        """One request; the reply's JSON. Flink's errors as `FlinkSqlError` (about
        ``statement``), an unreachable gateway as `GatewayDown`."""
        try:
            return tls.call(self.address, f"{API}/{path}", body, timeout=CONNECT_TIMEOUT_S, method=method)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                errors = json.loads(text).get("errors", [])
            except ValueError:
                errors = [text]
            trace = "\n".join(str(e) for e in errors)
            message = flink_message(causes_in(trace)) or trace.strip() or f"HTTP {exc.code}"
            raise FlinkSqlError(message, statement, trace) from None
        except (OSError, ValueError) as exc:
            raise GatewayDown(
                f"Flink's SQL Gateway does not answer at {self.address} ({type(exc).__name__}: {exc}). "
                "Start it with `labkit up` (in a terminal, or `labkit.connect()`); `labkit status` "
                "shows what runs."
            ) from None

    def open(self) -> str:
        """The session's handle, opening the session first if needed."""
        with self._lock:
            if self.session is None:
                reply = self.call("sessions", {"sessionName": "labkit", "properties": self.properties})
                self.session = str(reply["sessionHandle"])
                if self._beat is None:
                    self._beat = threading.Thread(
                        target=self._heartbeat, name="flink-sql-heartbeat", daemon=True
                    )
                    self._beat.start()
            return self.session

    def _heartbeat(self) -> None:
        while not self._closed.wait(HEARTBEAT_S):
            session = self.session
            if session is None:
                continue
            try:
                self.call(f"sessions/{session}/heartbeat", {})
            except FlinkSqlError:  # the gateway forgot it: the next statement opens a new one
                with self._lock:
                    if self.session == session:
                        self.session = None
                        self.renewed = True
            except LabError:
                pass  # the gateway is down for now; the next statement says so

    def close(self) -> None:
        """Close the session (the gateway closes its operations, which ends their queries)."""
        self._closed.set()
        session, self.session = self.session, None
        if session:
            try:
                self.call(f"sessions/{session}", method="DELETE")
            except LabError:
                pass

    # -- statements ------------------------------------------------------------------------

    def submit(self, statement: str, config: dict[str, str] | None = None) -> Operation:
        """Start running one statement; its `Operation`. ``config`` sets options for this
        statement only (e.g. the job's name)."""
        body: dict[str, Any] = {"statement": statement}
        if config:
            body["executionConfig"] = config
        session = self.open()
        try:
            reply = self.call(f"sessions/{session}/statements", body, statement=statement)
        except FlinkSqlError as exc:
            if "does not exist" not in exc.message or "ession" not in exc.message:
                raise
            with self._lock:  # the gateway restarted or expired the session: a new one
                self.session = None
                self.renewed = True
            reply = self.call(f"sessions/{self.open()}/statements", body, statement=statement)
        return Operation(self, self.session or session, str(reply["operationHandle"]), statement)

    def run(self, statement: str, config: dict[str, str] | None = None, timeout: float = 60.0) -> Result:
        """Run a statement to its end and return every row (for statements with a bounded
        result: DDL, SET, SHOW, DESCRIBE, EXPLAIN, a bounded query)."""
        return self.submit(statement, config).all(timeout)


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[str, list[Any]]]
    job_id: str | None
    is_query: bool
    result_kind: str | None


class Operation:
    """One statement running on the gateway: its pages of results, its job, and cancel."""

    def __init__(self, client: GatewayClient, session: str, handle: str, statement: str) -> None:
        self.client = client
        self.session = session
        self.handle = handle
        self.statement = statement
        self.token: int | None = 0  # the next page to fetch; None after the end
        self.columns: list[str] = []
        self.types: list[str] = []  # Flink's logical type of each column (VARCHAR, BIGINT, TIMESTAMP...)
        self.job_id: str | None = None
        self.is_query = False
        self.result_kind: str | None = None

    @property
    def path(self) -> str:
        return f"sessions/{self.session}/operations/{self.handle}"

    def fetch(self) -> Page:
        """The next page (``NOT_READY`` when nothing new has arrived yet)."""
        if self.token is None:
            return Page("EOS", job_id=self.job_id, is_query=self.is_query)
        reply = self.client.call(f"{self.path}/result/{self.token}?rowFormat=JSON", statement=self.statement)
        kind = str(reply.get("resultType"))
        results = reply.get("results") or {}
        if results.get("columns"):
            self.columns = [c["name"] for c in results["columns"]]
            self.types = [str((c.get("logicalType") or {}).get("type", "")) for c in results["columns"]]
        self.job_id = reply.get("jobID") or self.job_id
        self.is_query = bool(reply.get("isQueryResult")) or self.is_query
        self.result_kind = reply.get("resultKind") or self.result_kind
        following = reply.get("nextResultUri")
        if kind == "EOS" or not following:
            self.token = None if kind != "NOT_READY" else self.token
        else:
            self.token = int(following.split("/result/", 1)[1].split("?", 1)[0])
        rows = [(str(r.get("kind", "INSERT")), list(r.get("fields", []))) for r in results.get("data") or []]
        return Page(kind, results.get("columns") or [], rows, self.job_id, self.is_query, self.result_kind)

    def pages(self, stop: threading.Event | None = None) -> Iterator[Page]:
        """Every page until the end of the result (or ``stop`` is set), empty ones too (a
        caller keeps its deadline between them); after an empty page, a short wait."""
        wait = 0.02
        while self.token is not None and not (stop and stop.is_set()):
            page = self.fetch()
            yield page
            if page.kind == "EOS" or page.rows:
                wait = 0.02
                continue
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
            wait = min(wait * 2, POLL_MAX_S)

    def all(self, timeout: float = 60.0) -> Result:
        """Every row to the end of the result; a `LabError` after ``timeout`` s (the
        operation is cancelled)."""
        deadline = time.monotonic() + timeout
        rows: list[tuple[str, list[Any]]] = []
        for page in self.pages():
            rows += page.rows
            if time.monotonic() > deadline:
                self.cancel()
                raise LabError(
                    f"Flink's SQL Gateway had not finished this statement after {timeout:.0f} s "
                    f"(cancelled):\n{self.statement}"
                )
        return Result(self.columns, rows, self.job_id, self.is_query, self.result_kind)

    def cancel(self) -> None:
        """Cancel the operation and close it (the gateway then ends a query's job)."""
        self.token = None
        for action, method in (("cancel", "POST"), ("close", "DELETE")):
            try:
                self.client.call(f"{self.path}/{action}", {} if method == "POST" else None, method=method)
            except LabError:
                pass  # already finished, closed, or the gateway is gone
