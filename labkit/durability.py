"""Lesson 04's pictures and waits: how Kafka keeps events, and how it forgets them on purpose.

The lesson makes retention and compaction happen on its own topics; this module waits for
the broker to act (on what a client can see: the log start offset, the events read back),
lists a partition's segment files where the lab's data is on this machine, and draws the
before/after pictures. Nothing here changes what Kafka does.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import paths, waiting

if TYPE_CHECKING:
    from .lab import Lab

DAY_MS = 24 * 3600 * 1000


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.2) -> float:
    """Poll ``cond`` until it is true; return the seconds that took. Raises a `LabError`
    naming ``what`` after ``timeout`` s: the broker acts on its own schedule (retention is
    checked every ``log.retention.check.interval.ms``), so the lesson waits for the effect,
    never for a fixed time."""
    t0 = time.monotonic()
    waiting.wait_for(
        lambda: bool(cond()), f"{what} (the broker's log, {paths.logs()}, may say why)", timeout, every
    )
    return time.monotonic() - t0


def log_start(lab: Lab, topic: str, partition: int = 0) -> int:
    """The partition's log start offset: the oldest offset still stored."""
    df = lab.describe_topic(topic)
    return int(df.loc[df["partition"] == partition, "start_offset"].iloc[0])


def segments(lab: Lab, topic: str, partition: int = 0) -> list[int] | None:
    """The base offsets of the partition's segment files (each file is named after the first
    offset it holds), read from the broker's data folder; None when the lab's Kafka does not
    keep its data on this machine (compose, remote), where the files cannot be listed.

    Only live segments count: a deleted one is renamed ``*.log.deleted`` and removed later.
    """
    from . import cluster
    from .runtime import kafka_proc

    state = cluster.State.load()
    if state is None or state.endpoints.backend != "local":
        return None
    folder = kafka_proc.data_dir(state.brokers)
    found: list[Path] = list(folder.glob(f"broker-*/{topic}-{partition}/*.log"))
    if not found:
        return None
    leader_dir = found[0].parent  # on one broker the only copy; with three, one replica's
    return sorted(int(p.stem) for p in leader_dir.glob("*.log"))


class Picture:
    """A PNG with a one-line text summary: shows as the image in a notebook, as the summary
    elsewhere (and in nbval's comparison, were a cell tagged)."""

    def __init__(self, fig: Any, summary: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        self.png = buf.getvalue()
        self.summary = summary

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return self.summary

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode()


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def retention_picture(
    before: pd.DataFrame, start_offset: int, retention_ms: int, now_ms: int, bounds: list[int] | None = None
) -> Picture:
    """Every event the partition held before retention ran, by offset (x) and age (y):
    deleted ones grey, kept ones blue; the retention limit as a line, the new log start
    offset as another; segment boundaries (``bounds``, base offsets) shaded when known."""
    fig = _figure(8, 3.0)
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
    fig = _figure(8, 0.42 * len(keys) + 1.2)
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
    return Picture(fig, f"{len(before)} events before compaction, {len(after)} after")
