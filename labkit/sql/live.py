"""A statement's job on the SQL Gateway (`SqlJob`) and a continuous query on screen (`LiveQuery`).

`SqlJob` is a `labkit.flink.Job` whose job was started by the SQL Gateway: the same status,
``stop()`` and Web UI link, so ``lab.stop_jobs()`` and the kernel's exit stop it like any
other. `LiveQuery` shows a continuous query's result while it runs: a thread fetches its
changes and applies them to a `ChangelogTable`; the table, the job's state and the counts
of changes are redrawn at most `REDRAWS_PER_S` times a second (so 5,000 changes a second
cost a few redraws, not 5,000), and a Stop button ends the job.
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import FlinkSqlError, LabError
from ..flink.client import ACTIVE, ENDED, FLINK_TIMEOUT_S, rest_api
from ..flink.jobs import Job, forget, remember
from ..panels.base import FAIL, OK, Panel, new_figure, render
from .changelog import ChangelogError, ChangelogTable
from .gateway import Operation

if TYPE_CHECKING:
    from ..jobview.panel import JobView

#: The table and the header are redrawn at most this often (the chart at most half as often).
REDRAWS_PER_S = 4.0
#: The dot before a query that has ended without failing (grey: neither running nor failed).
ENDED_DOT = "<span style='color:#8c959f'>&#x25CF;</span>"
#: Rows a live table shows (the newest places); the whole result is `LiveQuery.frame()`.
SHOWN_ROWS = 20


class SqlJob(Job):
    """A Flink job the SQL Gateway started for one statement (an INSERT, or a query's)."""

    def __init__(self, operation: Operation, name: str, rest: str | None, web: str | None) -> None:
        super().__init__(None, name, rest or "", web)
        self.operation = operation
        self.stopping = threading.Event()

    @property
    def job_id(self) -> str:
        return self.operation.job_id or ""

    @property
    def status(self) -> str:
        """RUNNING, FINISHED, CANCELED, FAILED... as the JobManager reports it; INITIALIZING
        before the gateway has named the job."""
        if not self.job_id:
            return self.final or ("CANCELED" if self.stopping.is_set() else "INITIALIZING")
        try:
            # jobs/<id>/status is the dispatcher's answer now (jobs/<id> is a cached graph)
            return str(rest_api(self.rest, f"jobs/{self.job_id}/status", timeout=5)["status"])
        except Exception as exc:  # noqa: BLE001 - e.g. the cluster was stopped
            return self.final or f"UNKNOWN ({type(exc).__name__})"

    def stop(self, timeout: float = FLINK_TIMEOUT_S) -> None:
        """Cancel the job (and the gateway's operation) and wait until it has ended."""
        self.stopping.set()
        self.operation.cancel()
        if self.job_id:
            try:
                rest_api(self.rest, f"jobs/{self.job_id}?mode=cancel", timeout=5, method="PATCH")
            except Exception:  # noqa: BLE001 - already ended
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                status = self.status
                if status in ENDED or status.startswith("UNKNOWN"):
                    break
                time.sleep(0.05)
        self.final = self.final or "CANCELED"
        forget(self)
        self.show_ended()

    def wait(self, timeout: float = 300.0) -> str:
        """Block until the job ends and return its final status (a `LabError` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (status := self.status) in ACTIVE:
            if time.monotonic() > deadline:
                raise LabError(f"Job {self.name} still {status} after {timeout:.0f} s (it keeps running).")
            time.sleep(0.2)
        self.final = status
        return status

    def _repr_html_(self) -> str:
        link = self.web_ui
        page = f" - <a href='{html.escape(link)}' target='_blank'>Flink Web UI</a>" if link else ""
        return f"<b>Flink job</b> <code>{self.job_id or '...'}</code>: {self.status}{page}"


class LiveQuery(Panel):
    """A continuous query's result, kept current from its changelog, with a Stop button.

    ``frame()`` is the result now; ``table`` the `ChangelogTable` (its ``changes`` and
    ``counts`` per row kind); ``job`` the `SqlJob`; ``error`` Flink's error if it failed.
    ``chart=(x, y)`` adds a chart of column ``y`` against ``x`` (``bar=True``: bars).
    """

    def __init__(
        self,
        job: SqlJob,
        chart: tuple[str, str] | None = None,
        bar: bool = False,
        shown: int = SHOWN_ROWS,
        first: list[tuple[str, list[Any]]] | None = None,
    ) -> None:
        import ipywidgets as widgets

        self.job = job
        self.table = ChangelogTable(job.operation.columns, job.operation.types)
        self.table.apply_all(first or [])  # what came while the cell waited for the job to start
        self.error: LabError | None = None
        self.chart, self.bar, self.shown = chart, bar, shown
        self.redraws = 0
        self.state = "STARTING"  # the job's state as last shown: STARTING, RUNNING, ..., FINISHED
        self.finished = threading.Event()
        self.header = widgets.HTML("Starting the query...")
        self.grid = widgets.HTML()
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", tooltip="Cancel this query's Flink job"
        )
        self.stop_button.on_click(lambda _: self.stop())
        self.plot = widgets.Output() if chart else None
        parts = [widgets.HBox([self.stop_button, self.header]), self.grid]
        self.widget = widgets.VBox(parts + ([self.plot] if self.plot else []))
        self._dirty = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="flink-sql-live", daemon=True)
        self.started()
        remember(job)
        self._thread.start()

    # -- what a notebook asks -------------------------------------------------------------

    def frame(self) -> pd.DataFrame:
        """The query's result as of the last change applied."""
        return self.table.frame()

    @property
    def status(self) -> str:
        return self.job.status

    @property
    def job_id(self) -> str:
        return self.job.job_id

    def view(self, every: float = 2.0) -> JobView:
        """A live view of this query's Flink job (`labkit.jobview.panel.JobView`): its graph,
        records, checkpoints and watermarks. A LabError until the gateway has named the job."""
        if not self.job.job_id:
            raise LabError("The query's job has not started yet: run this again in a moment.")
        return self.job.view(every)

    def stop(self) -> None:
        """Cancel the query's job and show the final table."""
        self.stop_button.disabled = True
        self.job.stop()
        self._thread.join(timeout=10)
        super().stop()

    def wait_until(self, check: Any, timeout: float = 60.0) -> pd.DataFrame:
        """Until ``check(frame)`` is true (or the query ended): the frame it was true for."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.frame()
            if check(frame):
                return frame
            if self.error is not None:
                raise self.error
            if self.finished.is_set() or time.monotonic() > deadline:
                raise LabError(
                    f"The live query's result never matched (now {len(frame)} rows, {self.status})."
                )
            time.sleep(0.05)

    # -- the thread -----------------------------------------------------------------------

    def _follow(self) -> None:
        """Fetch and apply changes; redraw when something changed, at most REDRAWS_PER_S a second."""
        drawn = asked = 0.0
        shown_state = ""
        try:
            operation = self.job.operation
            for page in operation.pages(self.job.stopping):
                if page.rows or not self.table.columns:
                    self.table.columns, self.table.types = operation.columns, operation.types
                    self.table.apply_all(page.rows)
                    self._dirty.set()
                now = time.monotonic()
                if self.job.job_id and now - asked >= 1.0:  # the job's own state, once a second
                    asked, self.state = now, self.job.status
                if (self._dirty.is_set() or self.state != shown_state) and now - drawn >= 1 / REDRAWS_PER_S:
                    drawn, shown_state = now, self.state
                    self._dirty.clear()
                    self._draw()
        except (FlinkSqlError, ChangelogError, LabError) as exc:
            if not self.job.stopping.is_set():
                self.error = (
                    exc if isinstance(exc, LabError) else LabError(f"The result could not be applied: {exc}")
                )
        finally:
            if self.job.final is None:
                stopped = self.job.stopping.is_set()
                self.job.final = "FAILED" if self.error else ("CANCELED" if stopped else "FINISHED")
            self.state = self.job.final
            self.stop_button.disabled = True
            self._draw()
            self.finished.set()
            forget(self.job)

    def _draw(self) -> None:
        self.redraws += 1
        state = self.state
        final = self.finished.is_set() or state in ENDED
        running = state in ACTIVE or state == "STARTING"
        dot = FAIL if self.error or state == "FAILED" else OK if running else ENDED_DOT
        link = self.job.web_ui if self.job.job_id else ""
        job = (
            f"job <a href='{html.escape(link)}' target='_blank'><code>{self.job.job_id[:8]}</code></a>"
            if link
            else ""
        )
        counts = ", ".join(f"{k} {v:,}" for k, v in self.table.counts.items() if v)
        self.header.value = (
            f"{dot} <b>{state}</b> {job} &middot; {len(self.table):,} rows &middot; "
            f"{self.table.changes:,} changes" + (f" ({counts})" if counts else "")
        )
        if self.error is not None:
            self.header.value += f"<pre style='color:#cf222e'>{html.escape(str(self.error))}</pre>"
        more = len(self.table) - self.shown
        rest = f"<small>... and {more:,} more rows (<code>.frame()</code> has them all)</small>"
        rest = rest if more > 0 else ""
        # in JupyterLab's own look for tables (what a DataFrame in a cell's output gets)
        shown = self.table.frame(first=self.shown).to_html(index=False, border=0)
        shown = shown.replace("<table ", "<table style='margin-left:0' ", 1)  # left, as a DataFrame's
        self.grid.value = f"<div class='jp-RenderedHTMLCommon'>{shown}{rest}</div>"
        if self.plot is not None and self.chart and (final or self.redraws % 2 == 0):
            self._draw_chart(self.table.frame())

    def _draw_chart(self, frame: pd.DataFrame) -> None:
        x, y = self.chart or ("", "")
        fig = new_figure(7.0, 2.6)
        ax = fig.add_subplot()
        if x in frame and y in frame and len(frame):
            data = frame.sort_values(x)
            if self.bar:
                ax.bar(data[x].astype(str), data[y])
            else:
                ax.plot(data[x], data[y], marker="o")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        render(fig, self.plot, f"{y} by {x}: {len(frame)} rows")
