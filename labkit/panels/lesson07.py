"""Lesson 07's pictures and panel ("Event time, watermarks and late data").

* `plot_disorder` / `DisorderPanel`: how out of order events arrive and the watermark's
  bound, as event time against arrival order, the watermark line and the late events (the
  simulation is `labkit.reference.watermark_sim`).
* `plot_watermark_timeline`: a real job's events, Flink's watermark after each, and the
  moment each window fired (from what the job wrote to Kafka).
* `plot_tradeoff`: late events and result delay against the watermark bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..reference import MS, arrival_order, watermark_after, watermark_sim, watermark_timeline
from .base import Panel, Picture, in_notebook, new_figure, show


def plot_disorder(ev: pd.DataFrame, *, size: float, title: str = "", out: Any | None = None) -> Picture:
    """Event time (y) against arrival order (x): on-time events blue, late ones red, the
    watermark as a line, window ends as dotted lines."""
    fig = new_figure(10, 3.6)
    ax = fig.add_subplot()
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
    return show(fig, out, f"{int(ev['late'].sum())} of {len(ev)} events late")


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
) -> Picture:
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
    fig = new_figure(10, 4.0)
    ax = fig.add_subplot()
    size_ms = int(size * MS)
    ts = seen["ts"].astype("int64")
    t0 = int(ts.min() - ts.min() % size_ms)
    x = pd.Series(range(len(seen)), index=seen.index)
    y = (ts - t0) / MS
    is_late = seen["event_id"].isin(set(late))
    ax.scatter(x[~is_late], y[~is_late], s=8, color="tab:blue", label="event")
    ax.scatter(
        x[is_late], y[is_late], s=26, marker="x", color="tab:red", label="late event (its window had fired)"
    )
    wm_after = [(wm - t0) / MS for wm in watermark_after(seen, bound)]
    ax.step(
        x, wm_after, where="post", color="black", linewidth=1.1, label="watermark after each event (Flink's)"
    )
    done = {int(w.end): w for w in fired.itertuples() if pd.notna(w.fired_after)}
    ends = sorted(set(int(t - t % size_ms + size_ms) for t in ts) | set(done))
    for end in ends:
        end_s, start_s = (end - t0) / MS, (end - size_ms - t0) / MS
        if end in done:
            w = done[end]
            ax.axhline(end_s, color="grey", linestyle=":", linewidth=0.6)
            ax.plot([w.fired_after], [end_s], marker="*", markersize=12, color="tab:green", zorder=4)
            ax.annotate(
                f"[{start_s:.0f}, {end_s:.0f}) s fires: n={w.n}",
                (w.fired_after, end_s),
                textcoords="offset points",
                xytext=(-6, 5),
                ha="right",
                fontsize=7,
                color="tab:green",
            )
        else:
            ax.axhline(end_s, color="tab:orange", linestyle="--", linewidth=1)
            note = f"[{start_s:.0f}, {end_s:.0f}) s still open: the watermark is below {end_s:.0f} s"
            ax.text(len(seen) - 1, end_s, note, color="tab:orange", fontsize=8, va="bottom", ha="right")
    is_later = seen["event_id"].isin(set(later))
    if is_later.any():
        ax.scatter(
            x[is_later], y[is_later], s=60, color="tab:purple", zorder=5, label="the later event we sent"
        )
    ax.plot([], [], marker="*", linestyle="", color="tab:green", label="a window fires")
    ax.set_xlabel("events in the order Flink read them")
    ax.set_ylabel("event time (s)")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title or f"watermark = newest event time - {bound:g} s; windows of {size:g} s")
    fig.tight_layout()
    summary = f"{len(seen)} events; {len(done)} window(s) fired, {len(ends) - len(done)} still open"
    return show(fig, out, summary)


def plot_tradeoff(table: pd.DataFrame, *, out: Any | None = None) -> Picture:
    """Late (dropped) events and result delay against the watermark bound, as `tradeoff`
    simulated them."""
    fig = new_figure(10, 3.0)
    ax = fig.add_subplot()
    ax.plot(table["bound_s"], table["late_events"], "o-", color="tab:red", label="late events (dropped)")
    ax.set_xlabel("watermark bound (s)")
    ax.set_ylabel("late events", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(table["bound_s"], table["mean_delay_s"], "s-", color="tab:blue", label="mean result delay")
    ax2.set_ylabel("result delay after window end (s)", color="tab:blue")
    ax.set_title("Completeness vs latency - a simulation (watermark_sim), not a measurement")
    fig.tight_layout()
    return show(fig, out, table.to_string(index=False))


class DisorderPanel(Panel):
    """Two sliders - how out of order events arrive, and the watermark's bound - and the
    picture of event time vs arrival order, the watermark, and the late events."""

    def __init__(self, events: Sequence[dict], *, size: float = 5, seed: int = 0) -> None:
        self.source = list(events)
        self.size_s = size
        self.seed = seed
        self.disorder = widgets.FloatSlider(value=2.0, min=0, max=10, step=0.5, description="disorder (s)")
        self.bound = widgets.FloatSlider(value=1.0, min=0, max=10, step=0.5, description="wm bound (s)")
        self.info = widgets.HTML()
        self.out = widgets.Output()
        self.events = pd.DataFrame()
        self.windows = pd.DataFrame()
        for control in (self.disorder, self.bound):
            control.observe(lambda _: self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.disorder, self.bound]), self.info, self.out])
        self.update()

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
            out=self.out if in_notebook() else None,  # outside a notebook: no PNG to make
        )
