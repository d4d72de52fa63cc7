"""Lesson 10's pictures ("Kafka Streams vs Flink"), drawn from what the lesson read from
the real stack.

* `plot_partitions`: which instance of a Kafka Streams application owns which partition,
  at a few moments (one instance; a second one joined; it stopped), as Kafka's group
  coordinator reported it (`labkit.streams.assignment` -> `labkit.streams.owners`).
* `plot_windows`: the two engines' window counts side by side, bar by bar - windows one
  engine has not emitted yet drawn as "still open" - and, for each late event, whether
  each engine counted it or dropped it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .base import Picture, new_figure, show

#: One colour per Kafka Streams instance (instance 1 blue, 2 orange, ...).
INSTANCE_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"]
ENGINES = ("Kafka Streams", "Flink")
ENGINE_COLOURS = {"Kafka Streams": "#4C72B0", "Flink": "#DD8452"}


def plot_partitions(
    moments: Sequence[tuple[str, Mapping[int, int]]], *, topic: str = "", out: Any | None = None
) -> Picture:
    """A grid: one column per moment, one row per partition; each cell coloured by, and
    labelled with, the instance that owns the partition then ("nobody" if none does).

    ``moments``: ``(label, {partition: instance})`` in time order, e.g. from
    ``streams.owners(streams.assignment(lab, app_id))``."""
    partitions = sorted({p for _, owned in moments for p in owned})
    fig = new_figure(2.6 * max(len(moments), 1) + 1.2, 0.55 * max(len(partitions), 1) + 1.3)
    ax = fig.add_subplot()
    for col, (_label, owned) in enumerate(moments):
        for row, partition in enumerate(partitions):
            instance = owned.get(partition)
            colour = INSTANCE_COLOURS[(instance - 1) % len(INSTANCE_COLOURS)] if instance else "#dddddd"
            ax.add_patch(_box(col, row, colour))
            text = f"instance {instance}" if instance else "nobody"
            ax.text(
                col + 0.5,
                row + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if instance else "black",
            )
        moved = [p for p in partitions if col and moments[col - 1][1].get(p) != owned.get(p)]
        for partition in moved:  # an arrow into each partition that changed hands
            row = partitions.index(partition)
            ax.annotate(
                "",
                (col + 0.06, row + 0.5),
                (col - 0.06, row + 0.5),
                arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.2},
            )
    ax.set_xlim(0, len(moments))
    ax.set_ylim(len(partitions), 0)
    ax.set_xticks([c + 0.5 for c in range(len(moments))], [label for label, _ in moments], fontsize=9)
    ax.set_yticks([r + 0.5 for r in range(len(partitions))], [f"partition {p}" for p in partitions])
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for side in ax.spines.values():
        side.set_visible(False)
    changes = sum(
        1
        for before, after in zip(moments, moments[1:], strict=False)
        for p in partitions
        if before[1].get(p) != after[1].get(p)
    )
    ax.set_title(
        f"who owns which partition{f' of {topic}' if topic else ''} (Kafka's group coordinator)",
        fontsize=10,
        pad=28,
    )
    fig.tight_layout()
    per_moment = "; ".join(
        f"{label}: " + ", ".join(f"p{p}->{owned.get(p, '-')}" for p in partitions) for label, owned in moments
    )
    return show(fig, out, f"{len(partitions)} partitions, {changes} change(s) of owner. {per_moment}")


def _engines(dropped_by: Any) -> set[str]:
    """``dropped_by`` as a set of `ENGINES`: a set of names, or "kafka streams", "flink",
    "both" or "neither" (what `labkit.streams.dropped_by` says)."""
    if isinstance(dropped_by, str):
        said = dropped_by.strip().lower()
        return {"kafka streams": {"Kafka Streams"}, "flink": {"Flink"}, "both": set(ENGINES)}.get(said, set())
    return set(dropped_by)


def _box(col: int, row: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((col + 0.08, row + 0.08), 0.84, 0.84, facecolor=colour, edgecolor="white")


def plot_windows(
    by_streams: pd.DataFrame,
    by_flink: pd.DataFrame,
    *,
    late: Iterable[Mapping[str, Any]] = (),
    per_user: bool = True,
    title: str = "",
    out: Any | None = None,
) -> Picture:
    """Both engines' counts per window, side by side: a Kafka Streams bar and a Flink bar for
    each (user, window) either engine reported; a window one engine has not emitted is an
    empty dashed bar, "still open". ``per_user=False`` adds the users up per window.

    ``by_streams``/``by_flink``: tidy counts (`labkit.streams.tidy`: user_id, window_start,
    window_end, clicks). ``late``: the late events, each ``{"user_id", "ts" (epoch ms),
    "dropped_by": {"Kafka Streams", "Flink"} or a part of it, or
    "kafka streams", "flink", "both" or "neither"}``, marked on their window's
    bars: a red cross where an engine dropped it, a green plus where it counted it."""
    tables = {"Kafka Streams": by_streams, "Flink": by_flink}
    if not per_user:
        tables = {
            name: t.assign(user_id="all users")
            .groupby(["user_id", "window_start", "window_end"], as_index=False)["clicks"]
            .sum()
            for name, t in tables.items()
        }
    keyed = {
        name: {(r.user_id, pd.Timestamp(r.window_start)): int(r.clicks) for r in t.itertuples()}
        for name, t in tables.items()
    }
    ends = {
        (r.user_id, pd.Timestamp(r.window_start)): pd.Timestamp(r.window_end)
        for t in tables.values()
        for r in t.itertuples()
    }
    windows = sorted(ends, key=lambda w: (str(w[0]), w[1]))
    t0 = min((w[1] for w in windows), default=pd.Timestamp(0, tz="UTC"))
    fig = new_figure(max(5.0, 0.9 * len(windows) + 2.5), 3.4)
    ax = fig.add_subplot()
    width = 0.38
    top = max([n for counts in keyed.values() for n in counts.values()] + [1])
    for i, engine in enumerate(ENGINES):
        x = [k + (i - 0.5) * width for k in range(len(windows))]
        heights = [keyed[engine].get(w, 0) for w in windows]
        emitted = [w in keyed[engine] for w in windows]
        ax.bar(
            [p for p, e in zip(x, emitted, strict=True) if e],
            [h for h, e in zip(heights, emitted, strict=True) if e],
            width,
            color=ENGINE_COLOURS[engine],
            label=engine,
        )
        for p, h, e in zip(x, heights, emitted, strict=True):
            if e:
                ax.text(p, h, str(h), ha="center", va="bottom", fontsize=8)
            else:
                ax.bar(p, top * 0.25, width, fill=False, linestyle="--", edgecolor=ENGINE_COLOURS[engine])
                ax.text(
                    p,
                    top * 0.27,
                    "still\nopen",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=ENGINE_COLOURS[engine],
                )
    marked = []
    for event in late:
        ts = pd.Timestamp(int(event["ts"]), unit="ms", tz="UTC")
        user = event["user_id"] if per_user else "all users"
        home = next((k for k, w in enumerate(windows) if w[0] == user and w[1] <= ts < ends[w]), None)
        if home is None:
            continue
        dropped_by = _engines(event.get("dropped_by", ()))
        second = (ts - t0).total_seconds()
        for i, engine in enumerate(ENGINES):
            p = home + (i - 0.5) * width
            h = keyed[engine].get(windows[home], 0)
            dropped = engine in dropped_by
            colour = "#cf222e" if dropped else "#1a7f37"
            crossed: dict[str, Any] = {"marker": "x", "markersize": 11, "mew": 2.5}
            marker = crossed if dropped else {"marker": "P", "markersize": 10}
            ax.plot([p], [h + top * 0.22], color=colour, **marker)
            verdict = "dropped" if dropped else "counted"
            ax.text(
                p,
                h + top * 0.3,
                f"{event['user_id']} at {second:g} s\n{verdict}",
                ha="center",
                fontsize=7,
                color=colour,
            )
        who = " and ".join(e for e in ENGINES if e in dropped_by) or "neither engine"
        marked.append(f"{event['user_id']} at {second:g} s dropped by {who}")
    labels = [
        (f"{user}\n" if per_user else "")
        + f"[{(start - t0).total_seconds():g}, {(ends[(user, start)] - t0).total_seconds():g}) s"
        for user, start in windows
    ]
    ax.set_xticks(range(len(windows)), labels, fontsize=8)
    ax.set_ylim(0, top * 1.6)
    ax.set_ylabel("clicks counted")
    ax.set_xlabel(("user and " if per_user else "") + "window (event time, from the first window's start)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "each engine's count per window", fontsize=10)
    fig.tight_layout()
    emitted_text = ", ".join(f"{e} {len(keyed[e])} of {len(windows)} windows" for e in ENGINES)
    summary = f"{emitted_text} emitted" + (f"; {'; '.join(marked)}" if marked else "")
    return show(fig, out, summary)
