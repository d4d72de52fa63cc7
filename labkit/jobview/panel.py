"""`JobView`: one Flink job, live in a notebook (``lab.job_view(job)``, ``job.view()``).

A header (status dot, name, id, uptime, a link to the job's page in Flink's Web UI, the
time of the last refresh, a Pause toggle), the job graph as a picture (:mod:`.graph`) and
HTML tables: operators, checkpoints, watermarks per subtask, Kafka partitions. A daemon
thread takes a `snapshot` every ``every`` seconds; when the job has ended it refreshes
once more and stops. ``refresh()`` does one refresh now (tests, or a cell).

Idle CPU is what a view costs a kernel left open: each refresh is a handful of REST calls,
and the widgets are only touched when what they show changed - the PNG (the expensive
part: draw + encode) only when `graph.picture_key`, the rounded values it draws, differs
from the last one drawn; a table only when its HTML differs. On an idle job that is the
header alone (its refresh time). Errors - the JobManager not answering, the job forgotten -
are one line in the header, not a traceback: the thread goes on (the JobManager may come
back) or, for a forgotten job, stops.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from ..errors import LabError
from ..panels.base import FAIL, OK, Pace, Panel, render
from ..runtime import webui
from . import graph
from .snapshot import JobGone, JobManagerDown, JobSnapshot, check_job_id, snapshot

#: The dot of a job that ended without failing (grey: neither running nor failed).
ENDED_DOT = "<span style='color:#8c959f'>&#x25CF;</span>"
#: REST calls of one refresh made at once (one per vertex).
WORKERS = 4
#: While nothing changes, refreshes slow down to this many times ``every`` (see `Pace`).
SLOWEST = 4


def _uptime(ms: int) -> str:
    s = max(0, ms // 1000)
    h, m = divmod(s // 60, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s % 60:02d}s" if m else f"{s}s"


def _table(frame: pd.DataFrame) -> str:
    """A DataFrame in JupyterLab's own table look, left-aligned."""
    shown = frame.to_html(index=False, border=0, na_rep="-")
    shown = shown.replace("<table ", "<table style='margin-left:0' ", 1)
    return f"<div class='jp-RenderedHTMLCommon'>{shown}</div>"


def operators_html(snap: JobSnapshot) -> str:
    ops = snap.operators
    rate = lambda x: "-" if x != x else f"{x:,.1f}"  # noqa: E731
    pct = lambda x: "-" if x != x else f"{x:.0f}%"  # noqa: E731
    shown = pd.DataFrame({
        "operator": ops["operator"], "parallelism": ops["parallelism"], "status": ops["status"],
        "records in": ops["records_in"].map("{:,}".format),
        "records out": ops["records_out"].map("{:,}".format),
        "in/s": ops["in_per_s"].map(rate), "out/s": ops["out_per_s"].map(rate),
        "busy": ops["busy_pct"].map(pct), "backpressured": ops["backpressured_pct"].map(pct),
        "state (last checkpoint)": ops["state_bytes"].map(graph.size_text),
    })  # fmt: skip
    return "<b>Operators</b>" + _table(shown)


def checkpoints_html(snap: JobSnapshot) -> str:
    c = snap.checkpoints
    failed = f"{c['failed']} failed"
    if c["failed"] and c["failed_reason"]:
        failed += f" (the last, #{c['failed_id']}: {html.escape(c['failed_reason'])})"
    text = f"{c['completed']} completed, {failed}, {c['in_progress']} in progress"
    if c["last_id"] is not None:
        text += f"; last #{c['last_id']}: {c['last_duration_ms']} ms, {graph.size_text(c['last_size_bytes'])}"
    if c["restored_id"] is not None:
        kind = "savepoint" if c["restored_savepoint"] else "checkpoint"
        text += f"; restored from {kind} #{c['restored_id']}"
        if c["restored_path"]:
            text += f" (<code>{html.escape(str(c['restored_path']))}</code>)"
    else:
        text += "; not restored"
    return f"<b>Checkpoints</b>: {text}"


def watermarks_html(snap: JobSnapshot) -> str:
    wm = snap.watermarks
    if wm.empty:
        return "<b>Watermarks</b>: none reported yet"
    shown = wm[["vertex", "subtask", "kind", "watermark"]]
    return "<b>Watermarks</b> (UTC)" + _table(shown)


def partitions_html(snap: JobSnapshot) -> str:
    parts = snap.partitions
    notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in snap.notes)
    if parts.empty:
        return "<b>Kafka partitions</b>: none reported yet" + notes
    shown = parts.assign(
        watermark=parts["watermark"],
        **{"holds the watermark back": parts["holds_back"].map({True: "YES", False: ""})},
        **{"idle ms/s": parts["idle_ms_per_s"].map(lambda x: "-" if x != x else f"{x:.0f}")},
    )
    shown = shown[["topic", "partition", "subtask", "watermark", "offset", "state", "idle ms/s"]
                  + ["holds the watermark back"]]  # fmt: skip
    return "<b>Kafka partitions</b> (watermark and last offset read, per split)" + _table(shown) + notes


class JobView(Panel):
    """A live view of one Flink job: ``snapshot`` is the last `JobSnapshot`, ``error`` the
    last refresh's failure (one line) or "", ``refreshes`` / ``renders`` how often it asked
    Flink / redrew the picture, ``skipped`` the ticks it let pass while paused."""

    def __init__(
        self,
        rest: str | None,
        job_id: str,
        *,
        link: Callable[[], str] | None = None,
        every: float = 2.0,
        start: bool = True,
    ) -> None:
        import ipywidgets as widgets

        self.rest = rest
        self.job_id = check_job_id(job_id)
        self.every = every
        self._link = link or (lambda: webui.open_link(rest, None, f"#/job/running/{self.job_id}/overview"))
        self.snapshot: JobSnapshot | None = None
        self.error = ""
        self.refreshes = self.renders = self.skipped = 0
        self._tables = 0  # tables redrawn (a refresh that redraws nothing slows the pace)
        self.pace = Pace(every, SLOWEST * every)
        self.finished = threading.Event()  # the job ended (or is gone): no more refreshes
        self._drawn: Hashable = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="flink-job-view-rest")
        self.header = widgets.HTML("Asking Flink...")
        self.pause = widgets.ToggleButton(
            value=False, description="Pause", icon="pause", tooltip="Stop refreshing (the job keeps running)"
        )
        self.pause.observe(lambda _: self._show_header(), names="value")
        self.pause.observe(lambda _: self.pace.now(), names="value")
        self.picture = widgets.Output()
        self.operators = widgets.HTML()
        self.checkpoints = widgets.HTML()
        self.watermarks = widgets.HTML()
        self.partitions = widgets.HTML()
        parts = [self.operators, self.checkpoints, self.watermarks, self.partitions]
        self.widget = widgets.VBox([widgets.HBox([self.pause, self.header]), self.picture, *parts])
        self._thread = threading.Thread(target=self._follow, name="flink-job-view", daemon=True)
        try:
            first = self._take()  # a wrong id, or no JobManager: a clear LabError now, not a thread
        except LabError:
            self._pool.shutdown(wait=False)
            raise
        self._show(first)
        if start and not self.finished.is_set():
            self.started()
            self._thread.start()

    # -- what a notebook asks -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The refreshing thread is alive."""
        return self._thread.is_alive()

    def refresh(self) -> JobSnapshot | None:
        """Ask Flink now and redraw what changed; the new snapshot (None if Flink did not
        answer: ``error`` and the header say why)."""
        try:
            snap = self._take()
        except JobGone as exc:
            self.error = str(exc)
            self.finished.set()
        except JobManagerDown as exc:
            self.error = str(exc)
        else:
            self._show(snap)
            return snap
        self._show_header()
        return None

    def stop(self) -> None:
        """Stop refreshing (the job itself keeps running: ``job.stop()`` ends it)."""
        self._stopping.set()
        self.pace.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=False)
        super().stop()

    # -- the thread -----------------------------------------------------------------------

    def _follow(self) -> None:
        """Refresh every ``every`` s until stopped, or the job ended (after a last refresh)."""
        try:
            while True:
                self.pace.wait()
                if self._stopping.is_set():
                    break
                if self.pause.value:
                    self.skipped += 1
                    continue
                try:
                    drawn = self.renders, self._tables
                    self.refresh()
                    self.pace.changed((self.renders, self._tables) != drawn)
                except Exception as exc:  # noqa: BLE001 - an answer the view did not expect: said, not fatal
                    self.error = f"this refresh failed ({type(exc).__name__}: {exc})"[:300]
                    self._show_header()
                if self.finished.is_set():
                    break
        finally:
            self._pool.shutdown(wait=False)
            self.pace.close()
            self._show_header()
            super().stop()

    def _take(self) -> JobSnapshot:
        with self._lock:
            snap = snapshot(self.rest, self.job_id, self.snapshot, self._pool)
            self.snapshot, self.error = snap, ""
            self.refreshes += 1
            if snap.ended:
                self.finished.set()
            return snap

    # -- drawing ----------------------------------------------------------------------------

    def _show(self, snap: JobSnapshot) -> None:
        self._show_header()
        key = graph.picture_key(snap)
        if key != self._drawn:
            self._drawn = key
            self.renders += 1
            render(graph.draw(snap), self.picture, graph.summary(snap))
        for target, text in (
            (self.operators, operators_html(snap)),
            (self.checkpoints, checkpoints_html(snap)),
            (self.watermarks, watermarks_html(snap)),
            (self.partitions, partitions_html(snap)),
        ):
            if target.value != text:  # an unchanged table costs no message to the browser
                target.value = text
                self._tables += 1

    def _show_header(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        state = snap.status
        dot = FAIL if self.error or state == "FAILED" else ENDED_DOT if snap.ended else OK
        try:
            link = self._link()
        except LabError:
            link = ""
        ui = f" &middot; <a href='{html.escape(link)}' target='_blank'>Flink Web UI</a>" if link else ""
        when = time.strftime("%H:%M:%S", time.localtime(snap.taken))
        if self.finished.is_set():
            pace = "ended: no more refreshes"
        elif self._stopping.is_set():
            pace = "stopped"
        else:
            pace = "paused" if self.pause.value else str(self.pace)
        text = (
            f"{dot} <b>{html.escape(snap.name)}</b> <code>{snap.job_id}</code> <b>{state}</b> "
            f"&middot; up {_uptime(snap.duration_ms)}{ui} &middot; refreshed {when} ({pace})"
        )
        if self.error:
            text += f"<br><span style='color:#cf222e'>{html.escape(self.error)}</span>"
        self.header.value = text
        if self.finished.is_set():
            self.pause.disabled = True

    def __repr__(self) -> str:
        snap = self.snapshot
        return f"<JobView {self.job_id} {snap.status if snap else '?'}{' (error)' if self.error else ''}>"
