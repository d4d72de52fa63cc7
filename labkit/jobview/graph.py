"""A job's graph as a picture, from a `JobSnapshot`: no widgets, no REST.

One box per job vertex (operator chain), left to right in topological order (a vertex's
column is its longest path from a source), arrows labelled with the ship strategy (HASH,
FORWARD, REBALANCE...). Each box: the short name, parallelism, records in/out and Flink's
rates, busy and backpressured time. Coloured like Flink's Web UI: blue when idle, redder as
busy time grows, hatched and dark when backpressured, grey when not running.

`picture_key` is what the picture shows, rounded as drawn: the panel redraws the PNG only
when it changes (drawing and encoding it costs far more than asking Flink).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..panels.base import new_figure
from .snapshot import Edge, JobSnapshot

#: A vertex at least this backpressured (% of its time) is drawn hatched and dark.
BACKPRESSURED_PCT = 10.0
LEGEND = (
    "colour: busy time (blue idle -> red busy, as Flink's Web UI); hatched dark: backpressured "
    f">= {BACKPRESSURED_PCT:.0f}%; grey: not running. Rates are Flink's own meters."
)
#: Sizes in inches: six vertices in a row fit a notebook (~12 in at 90 dpi).
_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 1.5, 1.05, 0.62, 0.25


def columns(vertex_ids: list[str], edges: list[Edge]) -> dict[str, int]:
    """Each vertex's column: its longest path from a source (topological order, Kahn)."""
    inputs: dict[str, list[str]] = {v: [] for v in vertex_ids}
    for e in edges:
        if e.target in inputs and e.source in inputs:
            inputs[e.target].append(e.source)
    column: dict[str, int] = {}
    pending = list(vertex_ids)
    while pending:
        ready = [v for v in pending if all(i in column for i in inputs[v])]
        if not ready:  # a cycle (Flink's iterations): place the rest after what is placed
            ready = pending[:1]
        for v in ready:
            column[v] = 1 + max((column[i] for i in inputs[v] if i in column), default=-1)
            pending.remove(v)
    return column


def _count(n: Any) -> str:
    n = int(n)
    return f"{n / 1e6:.1f}M" if n >= 10_000_000 else f"{n / 1e3:.1f}k" if n >= 100_000 else f"{n:,}"


def _rate(x: float) -> str:
    if x != x:  # NaN: not reported
        return "-"
    return f"{x:,.0f}/s" if x >= 100 else f"{x:.1f}/s"


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.0f}%"


def size_text(n: Any) -> str:
    """Bytes as a person reads them (kB, MB: powers of 1000, as Flink's Web UI shows)."""
    if n is None or n != n:
        return "-"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _box(row: dict[str, Any]) -> tuple[str, ...]:
    """The lines a vertex's box shows, rounded as drawn (also its share of `picture_key`)."""
    words = str(row["operator"]).split(" -> ")
    if len(words) > 2:
        words = [f"{words[0]} -> ...", words[-1]]
    lines = [" ->\n".join(words)]
    return (
        *lines,
        f"parallelism {row['parallelism']}",
        f"in {_count(row['records_in'])} · {_rate(row['in_per_s'])}",
        f"out {_count(row['records_out'])} · {_rate(row['out_per_s'])}",
        f"busy {_pct(row['busy_pct'])} · backpr. {_pct(row['backpressured_pct'])}",
        *([] if size_text(row.get("state_bytes")) == "-" else [f"state {size_text(row['state_bytes'])}"]),
    )


def _style(row: dict[str, Any], running: bool) -> tuple[str, str | None, str]:
    """(face colour, hatch, text colour) like the Web UI's: idle blue to busy red."""
    busy, bp = row["busy_pct"], row["backpressured_pct"]
    if not running or row["status"] != "RUNNING" or busy != busy:
        return "#d0d7de", None, "#24292f"
    if bp == bp and bp >= BACKPRESSURED_PCT:
        return "#4a4a4a", "///", "white"
    f = max(0.0, min(1.0, busy / 100))
    blue, red = (0.80, 0.89, 1.0), (1.0, 0.55, 0.50)
    rgb = tuple(b + (r - b) * f for b, r in zip(blue, red, strict=True))
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb), None, "#24292f"


def picture_key(snap: JobSnapshot) -> Hashable:
    """What `draw` shows, as drawn (rounded): equal keys, equal pictures."""
    running = not snap.ended
    rows = snap.operators.to_dict("records")
    return (
        tuple((r["vertex_id"], _box(r), _style(r, running)) for r in rows),
        tuple((e.source, e.target, e.ship_strategy) for e in snap.edges),
    )


def draw(snap: JobSnapshot, fig: Figure | None = None) -> Figure:
    """The job graph of ``snap`` drawn on ``fig`` (a new `panels.base.new_figure` if None)."""
    rows = {r["vertex_id"]: r for r in snap.operators.to_dict("records")}
    column = columns(list(rows), snap.edges)
    per_column: dict[int, list[str]] = {}
    for v, c in column.items():
        per_column.setdefault(c, []).append(v)
    n_cols = max(per_column, default=0) + 1
    n_rows = max((len(vs) for vs in per_column.values()), default=1)
    width = n_cols * (_BOX_W + _GAP_X) - _GAP_X
    height = n_rows * (_BOX_H + _GAP_Y) - _GAP_Y
    if fig is None:
        fig = new_figure(max(4.0, width + 0.2), height + 0.45)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-0.1, max(4.0, width + 0.2) - 0.1)
    ax.set_ylim(-0.35, height + 0.1)
    ax.axis("off")
    where: dict[str, tuple[float, float]] = {}
    for c, vs in per_column.items():
        top = (height - (len(vs) * (_BOX_H + _GAP_Y) - _GAP_Y)) / 2
        for k, v in enumerate(vs):
            where[v] = (c * (_BOX_W + _GAP_X), height - top - (k + 1) * _BOX_H - k * _GAP_Y)
    running = not snap.ended
    for v, (x, y) in where.items():
        face, hatch, ink = _style(rows[v], running)
        ax.add_patch(FancyBboxPatch(
            (x, y), _BOX_W, _BOX_H, boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=face, edgecolor="#57606a", hatch=hatch, linewidth=1.0,
        ))  # fmt: skip
        name, *rest = _box(rows[v])
        ax.text(x + _BOX_W / 2, y + _BOX_H - 0.05, name, ha="center", va="top", fontsize=6.5,
                fontweight="bold", color=ink)  # fmt: skip
        ax.text(x + _BOX_W / 2, y + 0.05, "\n".join(rest), ha="center", va="bottom", fontsize=6, color=ink)
    for e in snap.edges:
        if e.source not in where or e.target not in where:
            continue
        (x0, y0), (x1, y1) = where[e.source], where[e.target]
        start, end = (x0 + _BOX_W, y0 + _BOX_H / 2), (x1, y1 + _BOX_H / 2)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8, color="#57606a"))
        angle = math.degrees(math.atan2(end[1] - start[1], end[0] - start[0]))
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.03)
        turn = angle if abs(angle) < 60 else 0
        ax.text(*middle, e.ship_strategy, ha="center", va="bottom", fontsize=5.5, color="#0550ae",
                rotation=turn)  # fmt: skip
    ax.text(0, -0.3, LEGEND, fontsize=6, color="#57606a", ha="left", va="bottom")
    return fig


def summary(snap: JobSnapshot) -> str:
    """The picture in one line of text (what a text-only front end shows instead)."""
    ops = snap.operators
    return f"{snap.name}: {len(ops)} vertices, {len(snap.edges)} edges, {snap.status}"
