"""Pictures and panels for the Flink lessons (05-08), the plain-pandas references
they are checked against, and a few questions to the JobManager (what the Web UI shows).

Two halves:

* **Reference computations** in pandas, written independently of Flink, so a lesson can
  assert that Flink's answer is right: `windows_pandas` (tumbling, hopping, cumulative,
  session windows), `arrival_order` + `watermark_sim` (bounded out-of-orderness
  watermarks and which events a window drops as late), `running_totals`.
* **Widgets** that keep the SQL / Flink API in the lesson and do the drawing here:
  `JobPanel` (start/stop/status of a job), `WindowExplorer` (window kind and sizes ->
  plot of windows over the raw events), `DisorderPanel` (disorder and watermark bound ->
  event time vs arrival, watermark line, late events), `watch_windows` (send events live
  and draw window results as they arrive, measuring their latency),
  `plot_watermark_timeline` (a real job's events, Flink's watermark after each, and the
  moment each window fired - from what the job wrote to Kafka).

Everything draws with matplotlib into an ``ipywidgets.Output`` (no ipympl), and works
outside a notebook too (the widgets then just hold their values; tests drive them).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from .reference import (  # noqa: F401 - re-exported: lessons and checks import them from here
    arrival_order,
    epoch_ms,
    event_frame,
    running_totals,
    same_windows,
    tradeoff,
    watermark_sim,
    watermark_timeline,
    windows_pandas,
)

MS = 1000

# ---------------------------------------------------------------------------------
# Reference computations (pandas, independent of Flink)
# ---------------------------------------------------------------------------------


def window_sql(
    kind: str,
    size: float,
    slide: float | None = None,
    gap: float | None = None,
    *,
    table: str = "clicks",
    time_col: str = "ev_time",
    key: str | None = None,
) -> str:
    """The Flink SQL counting events per window of this kind (what `WindowExplorer` shows)."""

    def iv(seconds: float) -> str:
        return (
            f"INTERVAL '{int(seconds * MS)}' MILLISECOND"
            if seconds % 1
            else f"INTERVAL '{int(seconds)}' SECOND"
        )

    tvf = {
        "tumble": f"TUMBLE(TABLE {table}, DESCRIPTOR({time_col}), {iv(size)})",
        "hop": f"HOP(TABLE {table}, DESCRIPTOR({time_col}), {iv(slide or size)}, {iv(size)})",
        "cumulate": f"CUMULATE(TABLE {table}, DESCRIPTOR({time_col}), {iv(slide or size)}, {iv(size)})",
        "session": f"SESSION(TABLE {table} PARTITION BY {key or 'user_id'}, DESCRIPTOR({time_col}), "
        f"{iv(gap or size)})",
    }[kind]
    group = "window_start, window_end" + (f", {key or 'user_id'}" if kind == "session" or key else "")
    return f"SELECT {group}, COUNT(*) AS n\nFROM {tvf}\nGROUP BY {group}"


# ---------------------------------------------------------------------------------
# Asking the JobManager (its REST API: the data behind Flink's Web UI)
# ---------------------------------------------------------------------------------


def rest(lab: Any, path: str, timeout: float = 5.0) -> Any:
    """GET ``path`` from the lab's Flink REST API (``lab.web_ui``) as JSON, e.g.
    ``rest(lab, f"jobs/{job.job_id}")`` - what the Web UI shows for that job."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{lab.web_ui}/{path.lstrip('/')}", timeout=timeout) as reply:
        return json.load(reply)


def tasks(lab: Any, job: Any) -> pd.DataFrame:
    """A job's tasks as the Web UI's job graph shows them: operator (chain) name,
    parallelism and status (CREATED, DEPLOYING, INITIALIZING, RUNNING, FINISHED, ...)."""
    vertices = rest(lab, f"jobs/{job.job_id}")["vertices"]
    return pd.DataFrame(
        [{"operator": v["name"], "parallelism": v["parallelism"], "status": v["status"]} for v in vertices],
        columns=["operator", "parallelism", "status"],
    )


def wait_until_running(lab: Any, job: Any, timeout: float = 60.0) -> pd.DataFrame:
    """Block until every task of ``job`` runs on a TaskManager, and return `tasks`.

    A job is RUNNING as soon as the JobManager has scheduled it; its tasks then still
    deploy and initialise (start Python workers, restore state) for a few seconds before
    they read anything. Raises if the job ends or ``timeout`` passes first.
    """
    deadline = time.monotonic() + timeout
    while True:
        now = tasks(lab, job)
        if len(now) and (now["status"] == "RUNNING").all():
            return now
        if job.status in ("FAILED", "CANCELED", "FINISHED"):
            raise RuntimeError(f"job {job.name or job.job_id} ended ({job.status}) before all its tasks ran")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the tasks of job {job.name or job.job_id} were not all RUNNING within {timeout:.0f} s:\n"
                f"{now.to_string(index=False)}\nSee {job.web_ui or lab.web_ui}"
            )
        time.sleep(0.2)


def failures(lab: Any, job: Any) -> list[str]:
    """The failures Flink recorded for ``job``, oldest first, one line each (the Web UI's
    *Exceptions* tab): the last line of each exception's Python or Java message."""
    history = rest(lab, f"jobs/{job.job_id}/exceptions").get("exceptionHistory", {}).get("entries", [])
    lines = []
    for entry in sorted(history, key=lambda e: e.get("timestamp", 0)):
        text = entry.get("stacktrace") or entry.get("exceptionName") or ""
        python = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("\t", " "))]
        errors = [ln for ln in python if "Error:" in ln or "Exception:" in ln]
        lines.append((errors or python or [entry.get("exceptionName", "?")])[-1])
    return lines


# ---------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------


def _figure(rows: int = 1, height: float = 3.2, **kw: Any):
    import matplotlib

    if not _has_display_backend():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if rows == 0:
        return None, []

    fig, axes = plt.subplots(rows, 1, figsize=(10, height * rows), squeeze=False, **kw)
    return fig, list(axes[:, 0])


def _has_display_backend() -> bool:
    from .widgets import in_notebook

    return in_notebook()


def _show(fig, out: Any | None) -> None:
    import matplotlib.pyplot as plt

    if out is None:
        plt.close(fig)
        return
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        display(fig)
    plt.close(fig)


def plot_windows(
    events: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    title: str = "",
    key: str | None = None,
    out: Any | None = None,
):
    """Raw events as dots on an event-time line (top) and each window as a bar spanning
    its time range, as tall as its count (bottom), so you see which events fell where.

    With ``key`` (session windows) there is one lane per key, and each window is drawn as
    a band behind its key's events, labelled with its count.
    """
    ev = event_frame(events)
    windows = windows.copy()
    for c in ("window_start", "window_end"):
        windows[c] = pd.to_datetime(windows[c])
    colors = ["tab:orange", "tab:green", "tab:purple", "tab:red"]
    if key:
        lanes = {k: i for i, k in enumerate(sorted(ev[key].unique()))}
        fig, (ax,) = _figure(1, max(2.5, 0.35 * len(lanes) + 1))
        for i, w in enumerate(windows.itertuples()):
            lane = lanes.get(getattr(w, key), 0)
            ax.barh(
                lane,
                w.window_end - w.window_start,
                left=w.window_start,
                height=0.7,
                alpha=0.3,
                color=colors[i % 4],
                edgecolor="black",
                linewidth=0.5,
            )
            ax.text(w.window_start, lane + 0.38, str(w.n), fontsize=6, va="bottom")
        ax.scatter(ev["time"], ev[key].map(lanes), s=10, color="tab:blue", zorder=3)
        ax.set_yticks(list(lanes.values()))
        ax.set_yticklabels(list(lanes), fontsize=7)
        ax.set_xlabel("event time")
        ax.set_title(title or f"{len(ev)} events and {len(windows)} windows")
        fig.tight_layout()
        _show(fig, out)
        return fig
    fig, (ax1, ax2) = _figure(2, 2.2, sharex=True)
    jitter = random.Random(0)
    ax1.scatter(ev["time"], [jitter.random() for _ in range(len(ev))], s=10, alpha=0.6, color="tab:blue")
    ax1.set_yticks([])
    ax1.set_ylabel("events")
    ax1.set_title(title or f"{len(ev)} events (top) and {len(windows)} window results (bottom)")
    for i, w in enumerate(windows.sort_values(["window_start", "window_end"]).itertuples()):
        ax2.bar(
            w.window_start,
            w.n,
            width=w.window_end - w.window_start,
            align="edge",
            alpha=0.35,
            color=colors[i % 4],
            edgecolor="black",
            linewidth=0.6,
        )
        for edge in (w.window_start, w.window_end):
            ax1.axvline(edge, color="grey", linewidth=0.4, linestyle=":")
    ax2.set_ylabel("events in window")
    ax2.set_xlabel("event time")
    fig.tight_layout()
    _show(fig, out)
    return fig


def plot_disorder(ev: pd.DataFrame, *, size: float, title: str = "", out: Any | None = None):
    """Event time (y) against arrival order (x): on-time events blue, late ones red, the
    watermark as a line, window ends as dotted lines."""
    fig, (ax,) = _figure(1, 3.6)
    t0 = ev["ts"].min()
    on_time = ev[~ev["late"]]
    late = ev[ev["late"]]
    ax.scatter(on_time["arrival_index"], (on_time["ts"] - t0) / MS, s=8, color="tab:blue", label="on time")
    ax.scatter(late["arrival_index"], (late["ts"] - t0) / MS, s=22, color="tab:red", marker="x", label="late")
    wm = ev["watermark"].astype("float")
    ax.step(ev["arrival_index"], (wm - t0) / MS, where="post", color="black", linewidth=1, label="watermark")
    top = (ev["ts"].max() - t0) / MS
    for end in range(int(size), int(top) + int(size), int(size)):
        ax.axhline(end, color="grey", linestyle=":", linewidth=0.6)
    ax.set_xlabel("arrival order")
    ax.set_ylabel("event time (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    _show(fig, out)
    return fig


def plot_watermark_timeline(
    seen: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    bound: float,
    size: float,
    late: Iterable[str] = (),
    later: Iterable[str] = (),
    title: str = "",
    out: Any | None = None,
):
    """The watermark timeline of a real job: each event (x: the order Flink read it, y: its
    event time), Flink's watermark as a line that steps up with each event, every window's
    end as a dotted line, and a star where the watermark crosses it - the moment that
    window fires - labelled with its count. A window whose end the watermark has not
    reached is drawn in orange: still open, waiting for a later event.

    ``seen``/``windows`` as in `watermark_timeline`; ``late`` the ids of the events Flink
    sent to the late-data topic; ``later`` the ids of events to mark (e.g. one sent to
    close the last window).
    """
    fired = watermark_timeline(seen, windows, bound=bound)
    fig, (ax,) = _figure(1, 4.0)
    size_ms = int(size * MS)
    ts = seen["ts"].astype("int64")
    t0 = int(ts.min() - ts.min() % size_ms)
    x = pd.Series(range(len(seen)), index=seen.index)
    y = (ts - t0) / MS
    is_late = seen["event_id"].isin(set(late))
    ax.scatter(x[~is_late], y[~is_late], s=8, color="tab:blue", label="event")
    ax.scatter(x[is_late], y[is_late], s=26, marker="x", color="tab:red",
               label="late event (its window had fired)")
    wm_after = list(((epoch_ms(seen["watermark_at"]) - t0) / MS)[1:]) + [(ts.max() - bound * MS - t0) / MS]
    ax.step(x, wm_after, where="post", color="black", linewidth=1.1,
            label="watermark after each event (Flink's)")
    done = {int(w.end): w for w in fired.itertuples() if pd.notna(w.fired_after)}
    ends = sorted(set(int(t - t % size_ms + size_ms) for t in ts) | set(done))
    for end in ends:
        end_s, start_s = (end - t0) / MS, (end - size_ms - t0) / MS
        if end in done:
            w = done[end]
            ax.axhline(end_s, color="grey", linestyle=":", linewidth=0.6)
            ax.plot([w.fired_after], [end_s], marker="*", markersize=12, color="tab:green", zorder=4)
            ax.annotate(f"[{start_s:.0f}, {end_s:.0f}) s fires: n={w.n}", (w.fired_after, end_s),
                        textcoords="offset points", xytext=(-6, 5), ha="right", fontsize=7, color="tab:green")
        else:
            ax.axhline(end_s, color="tab:orange", linestyle="--", linewidth=1)
            note = f"[{start_s:.0f}, {end_s:.0f}) s still open: the watermark is below {end_s:.0f} s"
            ax.text(len(seen) - 1, end_s, note, color="tab:orange", fontsize=8, va="bottom", ha="right")
    is_later = seen["event_id"].isin(set(later))
    if is_later.any():
        ax.scatter(x[is_later], y[is_later], s=60, color="tab:purple", zorder=5,
                   label="the later event we sent")
    ax.plot([], [], marker="*", linestyle="", color="tab:green", label="a window fires")
    ax.set_xlabel("events in the order Flink read them")
    ax.set_ylabel("event time (s)")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title or f"watermark = newest event time - {bound:g} s; windows of {size:g} s")
    fig.tight_layout()
    _show(fig, out)
    return fig


def plot_tradeoff(table: pd.DataFrame, *, out: Any | None = None):
    """Late (dropped) events and result delay against the watermark bound, as `tradeoff`
    simulated them."""
    fig, (ax,) = _figure(1, 3.0)
    ax.plot(table["bound_s"], table["late_events"], "o-", color="tab:red", label="late events (dropped)")
    ax.set_xlabel("watermark bound (s)")
    ax.set_ylabel("late events", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(table["bound_s"], table["mean_delay_s"], "s-", color="tab:blue", label="mean result delay")
    ax2.set_ylabel("result delay after window end (s)", color="tab:blue")
    ax.set_title("Completeness vs latency - a simulation (watermark_sim), not a measurement")
    fig.tight_layout()
    _show(fig, out)
    return fig


# ---------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------


def _widgets():
    import ipywidgets as widgets

    return widgets


class JobPanel:
    """Start / Stop buttons and a status line for one streaming job.

    ``start`` is a function that starts the job and returns a `labkit.flink.Job` (e.g.
    ``lambda: lab.start(t_env.execute_sql("INSERT ..."))``), so the SQL stays in the lesson.
    """

    def __init__(self, start: Callable[[], Any], title: str = "Flink job") -> None:
        w = _widgets()
        self._start = start
        self.job: Any = None
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.refresh_button = w.Button(description="Status", icon="refresh")
        self.status = w.HTML(f"<b>{title}</b>: not started")
        self.title = title
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = w.VBox(
            [w.HBox([self.start_button, self.stop_button, self.refresh_button]), self.status]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def start(self) -> None:
        if self.job is not None and self.job.status in ("RUNNING", "CREATED", "INITIALIZING"):
            return
        self.status.value = f"<b>{self.title}</b>: starting..."
        self.job = self._start()
        self.start_button.disabled, self.stop_button.disabled = True, False
        deadline = time.monotonic() + 20  # CREATED / INITIALIZING -> RUNNING takes a moment
        while self.job.status in ("CREATED", "INITIALIZING") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.refresh()

    def stop(self, timeout: float = 15.0) -> None:
        if self.job is None:
            return
        self.job.stop()
        deadline = time.monotonic() + timeout
        while self.job.status not in ("CANCELED", "FINISHED", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.start_button.disabled, self.stop_button.disabled = False, True
        self.refresh()

    def refresh(self) -> str:
        state = self.job.status if self.job is not None else "not started"
        color = {"RUNNING": "#1a7f37", "FAILED": "#cf222e"}.get(state, "#57606a")
        extra = ""
        if self.job is not None:
            extra = f" &middot; job {self.job.job_id[:8]} &middot; up {time.time() - self.job.started:.0f} s"
        self.status.value = f"<b>{self.title}</b>: <span style='color:{color}'>{state}</span>{extra}"
        return state


class WindowExplorer:
    """Pick a window kind and its sizes; see the windows over the raw events at once
    (computed in pandas), and ask Flink for the same windows with one click.

    ``run_flink(sql) -> DataFrame`` is given by the lesson (normally a `lab.query` call),
    so the lesson decides how Flink is asked; the SQL for the current settings is shown.
    """

    def __init__(
        self,
        events: Iterable[dict] | pd.DataFrame,
        run_flink: Callable[[str, str], pd.DataFrame] | None = None,
    ) -> None:
        w = _widgets()
        self.events = event_frame(events)
        self.run_flink = run_flink
        self.kind = w.Dropdown(
            options=["tumble", "hop", "cumulate", "session"], value="tumble", description="window"
        )
        self.size = w.IntSlider(value=10, min=2, max=60, step=1, description="size (s)")
        self.slide = w.IntSlider(value=5, min=1, max=30, step=1, description="slide/step")
        self.gap = w.IntSlider(value=3, min=1, max=30, step=1, description="gap (s)")
        self.flink_button = w.Button(description="Check with Flink", icon="check")
        self.info = w.HTML()
        self.sql = w.HTML()
        self.out = w.Output()
        self.windows = pd.DataFrame()
        self.flink_windows: pd.DataFrame | None = None
        self.agrees: bool | None = None
        for control in (self.kind, self.size, self.slide, self.gap):
            control.observe(lambda _: self.update(), names="value")
        self.flink_button.on_click(lambda _: self.check_with_flink())
        self.widget = w.VBox(
            [
                w.HBox([self.kind, self.flink_button]),
                w.HBox([self.size, self.slide, self.gap]),
                self.info,
                self.sql,
                self.out,
            ]
        )
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @property
    def params(self) -> dict:
        kind = self.kind.value
        return {
            "kind": kind,
            "size": self.size.value,
            "slide": self.slide.value if kind in ("hop", "cumulate") else None,
            "gap": self.gap.value if kind == "session" else None,
        }

    def current_sql(self) -> str:
        p = self.params
        return window_sql(p["kind"], p["size"], p["slide"], p["gap"])

    def update(self) -> None:
        p = self.params
        if p["kind"] in ("hop", "cumulate") and self.size.value % self.slide.value:
            self.info.value = "<span style='color:#cf222e'>size must be a multiple of slide/step</span>"
            return
        key = "user_id" if p["kind"] == "session" else None
        self.windows = windows_pandas(self.events, p["kind"], p["size"], p["slide"], p["gap"], key=key)
        self.flink_windows, self.agrees = None, None
        per_event = self.windows["n"].sum() / max(1, len(self.events))
        self.info.value = (
            f"<b>{len(self.windows)}</b> windows; each event is counted in "
            f"<b>{per_event:.2f}</b> window(s) on average"
        )
        self.sql.value = f"<pre>{self.current_sql()}</pre>"
        plot_windows(
            self.events,
            self.windows,
            key=key,
            title=f"{p['kind']} windows: events (top), one bar per window (bottom)",
            out=self.out if _has_display_backend() else None,
        )

    def check_with_flink(self) -> bool | None:
        if self.run_flink is None:
            return None
        self.info.value += " &middot; asking Flink..."
        self.flink_windows = self.run_flink(self.current_sql(), self.kind.value)
        self.agrees = same_windows(self.flink_windows, self.windows)
        verdict = "Flink agrees with pandas" if self.agrees else "Flink and pandas DIFFER"
        self.info.value = self.info.value.replace(" &middot; asking Flink...", f" &middot; <b>{verdict}</b>")
        return self.agrees


class DisorderPanel:
    """Two sliders - how out of order events arrive, and the watermark's bound - and the
    picture of event time vs arrival order, the watermark, and the late events."""

    def __init__(self, events: Sequence[dict], *, size: float = 5, seed: int = 0) -> None:
        w = _widgets()
        self.source = list(events)
        self.size_s = size
        self.seed = seed
        self.disorder = w.FloatSlider(value=2.0, min=0, max=10, step=0.5, description="disorder (s)")
        self.bound = w.FloatSlider(value=1.0, min=0, max=10, step=0.5, description="wm bound (s)")
        self.info = w.HTML()
        self.out = w.Output()
        self.events = pd.DataFrame()
        self.windows = pd.DataFrame()
        for control in (self.disorder, self.bound):
            control.observe(lambda _: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.disorder, self.bound]), self.info, self.out])
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @property
    def late(self) -> int:
        return int(self.events["late"].sum())

    def update(self) -> None:
        arrived = arrival_order(self.source, self.disorder.value, seed=self.seed)
        self.events, self.windows = watermark_sim(arrived, self.bound.value, self.size_s)
        delay = self.windows["delay_s"].mean()
        self.info.value = (
            f"<b>{self.late}</b> of {len(self.events)} events late (dropped by the window); "
            f"results appear on average <b>{delay:.2f} s</b> after their window ends"
        )
        plot_disorder(
            self.events,
            size=self.size_s,
            title=f"disorder {self.disorder.value} s, watermark bound {self.bound.value} s",
            out=self.out if _has_display_backend() else None,
        )


def watch_windows(
    lab: Any,
    source_topic: str,
    result_topic: str,
    events: Sequence[dict],
    *,
    per_second: float = 40,
    size: float = 5,
    bound: float = 0,
    after: float = 3.0,
    expect: int | None = None,
    redraw_every: float = 0.5,
    key: str = "user_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Send ``events`` live to ``source_topic`` and draw the window results arriving on
    ``result_topic`` as they come, next to the events sent so far.

    ``size`` and ``bound`` are the job's tumbling window size and watermark bound
    (seconds), used only to measure. After the last event it keeps reading for ``after``
    seconds, or until ``expect`` results have arrived. Returns (results, latency): latency has, per
    window, the wall-clock seconds from sending the event that moves the watermark past
    the window's end (the first with ts - bound >= end - 1 ms) to the result being read
    back from Kafka.
    """
    from kafka import TopicPartition

    from .kafka import record_row, records_frame
    from .widgets import in_notebook

    out = None
    if in_notebook():
        import ipywidgets as w
        from IPython.display import display

        out = w.Output()
        header = w.HTML("sending events...")
        display(w.VBox([header, out]))
    producer = lab.producer()
    consumer = lab.consumer(enable_auto_commit=False, value_deserializer=None, key_deserializer=None)
    tps = [TopicPartition(result_topic, p) for p in lab.partitions(result_topic)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, lab.end_offsets(result_topic)[tp.partition])
    size_ms, bound_ms = int(size * MS), int(bound * MS)
    closer_sent: dict[int, float] = {}  # window end (ms) -> wall time the closing event was sent
    seen: dict[int, float] = {}
    results: list[dict] = []
    sent: list[dict] = []

    def poll() -> None:
        for records in consumer.poll(0).values():
            for r in records:
                row = record_row(r)
                results.append(row)
                end = int(pd.Timestamp(row["window_end"]).tz_localize("UTC").timestamp() * MS)
                seen.setdefault(end, time.monotonic())

    begin = time.monotonic()
    last_draw = draw_cost = 0.0
    try:
        for i, e in enumerate(events):
            due = begin + i / per_second
            while time.monotonic() < due:
                poll()
                time.sleep(0.005)
            producer.send(source_topic, key=str(e[key]), value=e, timestamp_ms=e["ts"])
            producer.flush()
            now = time.monotonic()
            sent.append(e)
            wm = e["ts"] - bound_ms  # the watermark this event lets the source emit
            closable = (wm + 1) - (wm + 1) % size_ms  # windows ending at or before wm + 1 ms
            for end in range(closable, closable - 3 * size_ms, -size_ms):
                closer_sent.setdefault(end, now)
            poll()
            if out is not None and now - last_draw > max(redraw_every, 4 * draw_cost):
                # a redraw takes the sender's time: on a busy machine it can take longer
                # than the gap between two events, so draw less often than that
                header.value = f"sent {len(sent)} events, {len(results)} window results back"
                _draw_live(sent, results, out)
                last_draw = time.monotonic()
                draw_cost = last_draw - now
        stop = time.monotonic() + after
        while time.monotonic() < stop and (expect is None or len(results) < expect):
            poll()
            time.sleep(0.01)
    finally:
        producer.close(timeout=5)
        consumer.close()
    res = records_frame(results)
    if out is not None:
        header.value = f"sent {len(sent)} events, {len(results)} window results back"
        _draw_live(sent, results, out)
    lat = [
        {"window_end": pd.to_datetime(end, unit="ms"), "latency_s": round(seen[end] - closer_sent[end], 3)}
        for end in sorted(seen)
        if end in closer_sent
    ]
    return res, pd.DataFrame(lat, columns=["window_end", "latency_s"])


def _draw_live(sent: list[dict], results: list[dict], out: Any) -> None:
    res = pd.DataFrame(results)
    if res.empty:
        res = pd.DataFrame(columns=["window_start", "window_end", "n"])
    else:
        res["window_start"] = pd.to_datetime(res["window_start"])
        res["window_end"] = pd.to_datetime(res["window_end"])
    plot_windows(
        pd.DataFrame(sent), res, title=f"{len(sent)} events sent, {len(res)} windows closed", out=out
    )


def plot_totals(
    records: pd.DataFrame,
    *,
    upto: int | None = None,
    title: str = "",
    out: Any | None = None,
    close: bool = True,
):
    """The running total of each account, record by record as the job wrote them (left),
    and every account's latest total as of record ``upto`` (right). Records written by
    the restarted attempt are drawn dashed: where they start, the totals jump back to the
    last checkpoint and climb again."""
    _figure(0)  # settles the backend
    import matplotlib.pyplot as plt

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    df = records.reset_index(drop=True)
    upto = len(df) - 1 if upto is None else min(upto, len(df) - 1)
    if not df.empty:
        for i, (acct, g) in enumerate(df.groupby("account_id")):
            for attempt, part in g.groupby("attempt"):
                ax.plot(
                    part.index,
                    part["total"],
                    "-" if attempt == 0 else "--",
                    color=f"C{i}",
                    label=acct if attempt == 0 else None,
                    linewidth=1.2,
                )
        restarts = df.index[(df["attempt"].diff() > 0)]
        for r in restarts:
            ax.axvline(r, color="red", linewidth=1)
            ax.text(r, ax.get_ylim()[1] * 0.95, " restart", color="red", fontsize=8, va="top")
        ax.axvline(upto, color="black", linewidth=0.8, linestyle=":")
        latest = df.iloc[: upto + 1].groupby("account_id")["total"].last()
        bars.bar(latest.index, latest.values, color=[f"C{i}" for i in range(len(latest))])
        bars.tick_params(axis="x", labelrotation=45, labelsize=7)
        bars.set_title(f"state as of output record #{upto}", fontsize=9)
    ax.set_xlabel("output record (Kafka offset)")
    ax.set_ylabel("running total (EUR)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or f"{len(df)} output records")
    fig.tight_layout()
    if close or out is not None:
        _show(fig, out)
    return fig


class ReplayPanel:
    """A slider over a job's output records: see each account's total as of any record,
    and watch the totals fall back to the checkpoint where the restarted attempt begins.

    The picture is an ``ipywidgets.Image`` (PNG bytes), not an ``Output``: moving the
    slider from code then changes a widget's value and captures no output into the cell.
    """

    def __init__(self, records: pd.DataFrame) -> None:
        w = _widgets()
        self.records = records.reset_index(drop=True)
        self.record = w.IntSlider(
            value=len(self.records) - 1,
            min=0,
            max=max(0, len(self.records) - 1),
            description="record #",
            layout=w.Layout(width="60%"),
        )
        self.info = w.HTML()
        self.image = w.Image(format="png")
        self.state: dict[str, float] = {}
        self.record.observe(lambda _: self.update(), names="value")
        self.widget = w.VBox([self.record, self.info, self.image])
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def update(self) -> None:
        import io

        import matplotlib.pyplot as plt

        i = self.record.value
        row = self.records.iloc[i]
        self.state = self.records.iloc[: i + 1].groupby("account_id")["total"].last().to_dict()
        self.info.value = (
            f"record #{i}: <b>{row['account_id']}</b> total {row['total']:.2f} after "
            f"{row['tx_id']}, written by attempt <b>{row['attempt']}</b>"
        )
        fig = plot_totals(self.records, upto=i, out=None, close=False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        self.image.value = buf.getvalue()
