"""Lesson 04b's picture ("Failure and replication"): a drill on the replication trio.

* `plot_timeline`: what a `labkit.replication.Timeline` recorded - each partition's leader
  and in-sync replicas over time, the kills and restarts, and (with a
  `labkit.replication.Sender`) the events acknowledged per second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.patches import Patch

from .base import Picture, new_figure

if TYPE_CHECKING:
    from ..replication import Sender, Timeline

BROKER_COLORS = {1: "#4C72B0", 2: "#DD8452", 3: "#55A868"}


def plot_timeline(timeline: Timeline, sent: Sender | None = None, title: str = "") -> Picture:
    """The picture of a drill: per partition, a bar coloured by its leader (grey: no
    leader) with its in-sync replicas written on it; the kills and restarts as numbered red
    lines; underneath, the events acknowledged per second in each partition. A cell ending
    in it shows it; ``.figure`` is the matplotlib figure."""
    df = timeline.frame()
    keys = sorted({(r.topic, r.partition) for r in df.itertuples()})
    rows = 2 if sent is not None else 1
    fig = new_figure(
        11,
        1.4 + 0.6 * len(keys) + (2.4 if sent else 0),
        rows=rows,
        sharex=True,
        gridspec_kw={"height_ratios": [max(1, len(keys)), 3][:rows]},
    )
    axes = fig.axes
    ax = axes[0]
    end = float(df["t"].max()) if len(df) else 1.0
    for y, (topic, part) in enumerate(keys):
        seq = df[(df.topic == topic) & (df.partition == part)].sort_values("t").to_dict("records")
        segments: list[list[Any]] = []  # [start, end, leader, isr]: runs of the same leader and ISR
        for r in seq:
            state = (r["leader"], tuple(r["isr"]))
            if segments and tuple(segments[-1][2:]) == state:
                segments[-1][1] = r["t"]
            else:
                if segments:
                    segments[-1][1] = r["t"]
                segments.append([r["t"], r["t"], *state])
        if segments:
            segments[-1][1] = end
        for n, (a, b, leader, isr) in enumerate(segments, 1):
            color = BROKER_COLORS.get(leader, "#bbbbbb") if leader is not None else "#bbbbbb"
            ax.barh(y, b - a, left=a, color=color, edgecolor="white", height=0.6)
            text = "ISR " + (",".join(map(str, isr)) if isr else "none")
            if b - a > 0.06 * end:  # room for a label
                ax.text(a + 0.01 * end, y, text, va="center", fontsize=8)
            elif n == len(segments):  # the state at the end, however short: right-aligned
                ax.text(end - 0.005 * end, y, text, va="center", ha="right", fontsize=8, weight="bold")
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{t} p{p}" for t, p in keys])
    ax.invert_yaxis()
    handles = [Patch(color=c, label=f"leader: broker {n}") for n, c in BROKER_COLORS.items()]
    handles.append(Patch(color="#bbbbbb", label="no leader (offline)"))
    marks = [(m.t - timeline.t0, m.label) for m in timeline.trio.marks if 0 <= m.t - timeline.t0 <= end]
    for i, (x, label) in enumerate(marks, 1):
        for each in axes:
            each.axvline(x, color="#cf222e", linestyle="--", linewidth=1)
        ax.text(x, -0.55, str(i), color="#cf222e", fontsize=9, ha="center", va="bottom", weight="bold")
        handles.append(Patch(color="#cf222e", label=f"{i}: {label} ({x:.1f} s)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(title or "leader (colour) and in-sync replicas (ISR) of each partition", pad=14)
    if sent is not None:
        ax2 = axes[1]
        acks = sent.acks_frame(timeline.t0)
        if len(acks):
            acks["second"] = acks["t"].clip(lower=0).astype(int)
            per = acks.groupby(["second", "partition"]).size().unstack(fill_value=0)
            per = per.reindex(range(int(end) + 1), fill_value=0)
            for part in per.columns:
                ax2.step(per.index, per[part], where="post", label=f"{sent.topic} p{part}")
        ax2.set_ylabel("acknowledged\nevents / s")
        ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes[-1].set_xlabel("seconds since the watch began")
    axes[-1].set_xlim(0, end)
    fig.tight_layout()
    summary = f"leader and ISR of {len(keys)} partition(s) over {end:.1f} s; {len(marks)} kill(s)/restart(s)"
    return Picture(fig, summary)
