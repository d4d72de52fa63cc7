"""Lesson 04's panel ("Durability and replay") and lesson 04c's pictures ("Retention and
compaction").

* `ReplayPanel` (04): replay a topic of transactions from the beginning, an offset or a
  time (`lab.reader`'s ``start``) and rebuild the account balances from what is replayed, live.
* `retention_picture` / `compaction_picture` (04c): what retention deleted and what
  compaction kept, drawn from what the lesson read before and after (as `Picture`s, so a
  cell ending in one shows it). Waiting for the broker to act, and the log start offset and
  segment files it is judged by, are `labkit.durability`'s.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from ..kafka import closing
from ..reference import apply_transaction
from .base import Panel, Picture, new_figure, render

if TYPE_CHECKING:
    from ..lab import Lab

DAY_MS = 24 * 3600 * 1000


class ReplayPanel(Panel):
    """Replay a topic of transactions from the beginning, from an offset, or from a point
    in time, and rebuild the account balances from what is replayed, live."""

    def __init__(self, lab: Lab, topic: str, marks: dict[str, int] | None = None) -> None:
        self.lab, self.topic = lab, topic
        self.marks = dict(marks or {})
        self.mode = widgets.ToggleButtons(options=["beginning", "offset", "time"], description="replay from")
        ends = lab.end_offsets(topic)
        self.offset = widgets.IntSlider(value=0, min=0, max=max(ends.values()), description="offset")
        self.when = widgets.Dropdown(options=list(self.marks.items()) or [("now", int(time.time() * 1000))])
        self.when.description = "time"
        self.replay_button = widgets.Button(description="Replay", icon="history", button_style="primary")
        self.status = widgets.HTML()
        self.plot = widgets.Output()
        self.replay_button.on_click(lambda _: self.replay())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.mode, self.replay_button]),
                widgets.HBox([self.offset, self.when]),
                self.status,
                self.plot,
            ]
        )
        self.balances: dict[str, int] = {}
        self.replayed = 0
        self.started_at: dict[int, int] = {}

    @property
    def start(self) -> str | int | pd.Timestamp:
        """Where the controls say to start, as `lab.reader` takes it: "beginning", an offset
        (capped at each partition's end) or a time (each partition's first event at or after
        it; the log end where there is none)."""
        if self.mode.value == "beginning":
            return "beginning"
        if self.mode.value == "offset":
            return int(self.offset.value)
        return pd.Timestamp(self.when.value, unit="ms", tz="UTC")

    def replay(self) -> dict[str, int]:
        """Seek every partition as the controls say, read to the log end, rebuild balances."""
        self.balances, self.replayed = {}, 0
        with closing(self.lab.reader(self.topic, start=self.start)) as consumer:  # no group: we choose
            tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
            # where "the log end" is: each partition's end as this reader starts
            ends = {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
            self.started_at = {tp.partition: consumer.position(tp) for tp in tps}
            pending = {tp for tp in tps if self.started_at[tp.partition] < ends[tp.partition]}
            deadline = time.monotonic() + 20
            while pending and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=200, max_records=30).items():
                    for r in records:
                        if r.offset < ends[tp.partition]:
                            apply_transaction(self.balances, r.value)
                            self.replayed += 1
                # every pending partition, as `lab.read` does: one ending in a transaction
                # marker or emptied by retention has no records left to return
                pending = {tp for tp in pending if consumer.position(tp) < ends[tp.partition]}
                self.draw()
        self.draw()
        return self.balances

    def draw(self) -> None:
        self.status.value = (
            f"replayed {self.replayed} events, starting at offsets {self.started_at} (partition: offset)"
        )
        accounts = sorted(self.balances)
        fig = new_figure(7, 2.6)
        ax = fig.add_subplot()
        values = [self.balances[a] / 100 for a in accounts]
        ax.bar(accounts, values, color=["#2ca02c" if v >= 0 else "#d62728" for v in values])
        ax.axhline(0, color="black", lw=0.6)
        ax.set(ylabel="balance (EUR)", title=f"balances rebuilt from {self.replayed} replayed events")
        fig.tight_layout()
        render(fig, self.plot, json.dumps(self.balances, sort_keys=True))


def retention_picture(
    before: pd.DataFrame, start_offset: int, retention_ms: int, now_ms: int, bounds: list[int] | None = None
) -> Picture:
    """Every event the partition held before retention ran, by offset (x) and age (y):
    deleted ones grey, kept ones blue; the retention limit as a line, the new log start
    offset as another; segment boundaries (``bounds``, base offsets) shaded when known."""
    fig = new_figure(8, 3.0)
    ax = fig.add_subplot()
    age = (now_ms - before["timestamp"].map(lambda t: int(t.timestamp() * 1000))) / DAY_MS
    gone = before["offset"] < start_offset
    if bounds:
        last = int(before["offset"].max()) + 1
        for i, (a, b) in enumerate(zip(bounds, [*bounds[1:], last], strict=True)):
            if i % 2 == 0:
                ax.axvspan(a - 0.5, b - 0.5, color="#f0f0f0", zorder=0)
    ax.scatter(before.loc[gone, "offset"], age[gone], s=10, color="#b0b0b0", marker="x", label="deleted")
    ax.scatter(before.loc[~gone, "offset"], age[~gone], s=10, color="#1f77b4", label="kept")
    ax.axhline(retention_ms / DAY_MS, color="#d62728", lw=1, ls="--")
    ax.text(
        0,
        retention_ms / DAY_MS,
        f" retention.ms = {retention_ms / DAY_MS:g} days",
        color="#d62728",
        va="bottom",
        fontsize=8,
    )
    ax.axvline(start_offset - 0.5, color="black", lw=1)
    ax.text(start_offset, ax.get_ylim()[1], f" log start offset {start_offset}", va="top", fontsize=8)
    ax.set(xlabel="offset" + (" (shading: one segment file each)" if bounds else ""), ylabel="age (days)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(
        "retention: whole segments whose newest event is older than retention.ms are deleted", fontsize=9
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    summary = f"deleted offsets 0-{start_offset - 1}, kept {start_offset}-{int(before['offset'].max())}"
    fig.tight_layout()
    return Picture(fig, summary)


def _label(v: Any) -> str:
    """A kept value as text: a null value is a tombstone; whole floats (a column with a
    null in it) print as the integers they were."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "tombstone"
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def compaction_picture(before: pd.DataFrame, after: pd.DataFrame, value: str) -> Picture:
    """Each key's events by offset, before compaction (small grey dots) and what is left
    after (big dots, labelled with ``value``): the latest value per key survives."""
    keys = sorted(before["key"].unique())
    fig = new_figure(8, 0.42 * len(keys) + 1.2)
    ax = fig.add_subplot()
    row = {k: len(keys) - 1 - i for i, k in enumerate(keys)}
    ax.scatter(before["offset"], before["key"].map(row), s=8, color="#c8c8c8", label="removed by compaction")
    kept = after[after["key"].isin(keys)]
    ax.scatter(kept["offset"], kept["key"].map(row), s=45, color="#2ca02c", zorder=3, label="kept")
    for _, r in kept.groupby("key").tail(1).iterrows():  # one label per key: its latest value
        ax.annotate(
            _label(r[value]),
            (r["offset"], row[r["key"]]),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            fontsize=7,
        )
    ax.set_yticks(list(row.values()), list(row.keys()))
    ax.set_ylim(-0.7, len(keys) - 0.3)
    ax.set_xlabel(f"offset (labels: {value} kept)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(f"compaction: {len(before)} events -> {len(after)}, the latest per key", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return Picture(fig, f"{len(before)} events before compaction, {len(after)} after")
