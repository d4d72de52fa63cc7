"""Lesson 06's pictures and panels ("Windows"): counting an endless stream in pieces.

* `window_sql`: the Flink SQL that counts events per tumbling, hopping, cumulative or
  session window (what `WindowExplorer` shows and the lesson runs).
* `plot_windows`: raw events on an event-time line and each window as a bar over its range.
* `WindowExplorer`: pick a window kind and sizes, see the windows (computed by
  `labkit.reference.windows_pandas`) and ask Flink for the same with one click.
* `watch_windows`: send events live and draw the window results as they come back,
  measuring each window's latency.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

from ..records import record_row, records_frame
from ..reference import MS, event_frame, same_windows, windows_pandas
from .base import Panel, Picture, in_notebook, new_figure, show


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


def plot_windows(
    events: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    title: str = "",
    key: str | None = None,
    out: Any | None = None,
) -> Picture:
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
        fig = new_figure(10, max(2.5, 0.35 * len(lanes) + 1))
        ax = fig.add_subplot()
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
        return show(fig, out, f"{len(ev)} events, {len(windows)} windows, one lane per {key}")
    fig = new_figure(10, 2 * 2.2, rows=2, sharex=True)
    ax1, ax2 = fig.axes
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
    return show(fig, out, f"{len(ev)} events, {len(windows)} windows")


class WindowExplorer(Panel):
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
        self.events = event_frame(events)
        self.run_flink = run_flink
        self.kind = widgets.Dropdown(
            options=["tumble", "hop", "cumulate", "session"], value="tumble", description="window"
        )
        self.size = widgets.IntSlider(value=10, min=2, max=60, step=1, description="size (s)")
        self.slide = widgets.IntSlider(value=5, min=1, max=30, step=1, description="slide/step")
        self.gap = widgets.IntSlider(value=3, min=1, max=30, step=1, description="gap (s)")
        self.flink_button = widgets.Button(description="Check with Flink", icon="check")
        self.info = widgets.HTML()
        self.sql = widgets.HTML()
        self.out = widgets.Output()
        self.windows = pd.DataFrame()
        self.flink_windows: pd.DataFrame | None = None
        self.agrees: bool | None = None
        for control in (self.kind, self.size, self.slide, self.gap):
            control.observe(lambda _: self.update(), names="value")
        self.flink_button.on_click(lambda _: self.check_with_flink())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.kind, self.flink_button]),
                widgets.HBox([self.size, self.slide, self.gap]),
                self.info,
                self.sql,
                self.out,
            ]
        )
        self.update()

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
            out=self.out if in_notebook() else None,  # outside a notebook: no PNG to make
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
    out = None
    if in_notebook():
        out = widgets.Output()
        header = widgets.HTML("sending events...")
        display(widgets.VBox([header, out]))
    producer = lab.producer()
    consumer = lab.reader(result_topic, start="end", raw=True)  # only the results of what we send
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
