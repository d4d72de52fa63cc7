"""Lesson 07's pictures and panel ("Event time, watermarks and late data").

* `plot_disorder` / `DisorderPanel`: how out of order events arrive and the watermark's
  bound, as event time against arrival order, the watermark line and the late events (the
  simulation is `labkit.reference.watermark_sim`).
* `plot_watermark_timeline`: a real job's events, Flink's watermark after each, and the
  moment each window fired (from what the job wrote to Kafka).
* `plot_tradeoff`: late events and result delay against the watermark bound.
* the lesson's plumbing, out of the learner's way: `read_when` (wait for a live job's output
  in a topic), `at`, `per_5s`, `clicks_schema` and `start_idle_job` (the idle-partition job).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
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


# --- the lesson's plumbing: waiting for a job's output, and the idle-partition job ---------


def read_when(
    lab: Any, topic: str, done: Callable[[pd.DataFrame], bool], timeout: float = 60
) -> pd.DataFrame:
    """``lab.read(topic)`` as soon as ``done(rows)`` holds (a live job writes it); a
    `TimeoutError` after ``timeout`` seconds, saying how many rows the topic holds."""
    deadline = time.monotonic() + timeout
    while not done(rows := lab.read(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic} still holds {len(rows)} rows after {timeout} s")
        time.sleep(0.5)
    return rows


def at(ms: int) -> str:
    """An epoch-ms event time as the clock time it shows (the clicks start at 00:00:00)."""
    return str(pd.to_datetime(ms, unit="ms").strftime("%H:%M:%S.%f")[:-3])


def per_5s(times: Iterable[Any]) -> list[int]:
    """How many of these times (timestamps, or epoch milliseconds like an event's ``ts``)
    fall into each 5-second bucket, in time order."""
    values = list(times)
    numbers = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    series = pd.Series(
        pd.to_datetime(values, unit="ms", utc=True) if numbers else pd.to_datetime(values, utc=True)
    )
    return [int(n) for n in series.dt.floor("5s").value_counts().sort_index().tolist()]


def clicks_schema(bound: float = 1) -> str:
    """The lesson's clicks table: its columns, event time and a watermark ``bound`` s behind."""
    return (
        "event_id STRING, user_id STRING, ts BIGINT, ev_time AS TO_TIMESTAMP_LTZ(ts, 3), "
        f"WATERMARK FOR ev_time AS ev_time - INTERVAL '{bound:g}' SECOND"
    )


#: The idle-partition job's SQL: 5 s window counts, and (optionally) every event it reads with
#: the watermark at that moment.
IDLE_WINDOWS = """
    INSERT INTO results
    SELECT window_start, window_end, COUNT(*)
    FROM TUMBLE(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '5' SECOND)
    GROUP BY window_start, window_end
"""
IDLE_SEEN = "INSERT INTO seen SELECT event_id, CAST(CURRENT_WATERMARK(ev_time) AS STRING) FROM clicks"


def start_idle_job(
    lab: Any, out_topic: str, seen_topic: str | None = None, *, topic: str = "l07-idle", **options: str
) -> Any:
    """The 5 s window count over ``topic`` as a live job (unbounded), its windows into
    ``out_topic``; with ``seen_topic``, it also copies every event it reads there, with the
    watermark at that moment. ``options``: extra source options (e.g. the idle timeout)."""
    env = lab.table_env()
    lab.kafka_table(env, "clicks", clicks_schema(1), topic=topic, **options)
    lab.kafka_table(
        env, "results", "window_start TIMESTAMP(3), window_end TIMESTAMP(3), n BIGINT", topic=out_topic
    )
    statements = env.create_statement_set()
    statements.add_insert_sql(IDLE_WINDOWS)
    if seen_topic:
        lab.kafka_table(env, "seen", "event_id STRING, watermark_at STRING", topic=seen_topic)
        statements.add_insert_sql(IDLE_SEEN)
    return lab.start(statements.execute(), out_topic)
