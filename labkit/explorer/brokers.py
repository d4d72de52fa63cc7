"""The explorer's picture of the brokers: who leads and who holds a copy of each partition.

One column per broker (a dead one greyed, the active KRaft controller marked), one row per
partition: the leader's cell is dark blue, a follower in the ISR light blue, a replica that
has fallen out of the ISR white with a red edge (it holds a copy, but too old to take
over), no copy empty. A partition with no leader (every replica dead) is labelled offline.
When a broker dies the picture changes as Kafka reacts: leaders move to an ISR follower,
the dead broker leaves every ISR; when it comes back it catches up and rejoins.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..panels.base import new_figure
from .cluster import Snapshot

LEADER = "#0969da"
IN_SYNC = "#9ec5fe"
BEHIND = "#cf222e"
DEAD = "#d0d7de"
#: Partitions drawn at most (a note says how many more there are).
MAX_ROWS = 24


def cell(partition: pd.Series, broker: int) -> str:
    """What ``broker`` is to ``partition``: "leader", "in sync", "behind" or "" (no copy)."""
    if broker not in partition.replicas:
        return ""
    if partition.leader == broker:
        return "leader"
    return "in sync" if broker in partition.isr else "behind"


def shown_partitions(snap: Snapshot, topic: str | None = None) -> pd.DataFrame:
    """The partitions the picture draws: ``topic``'s, or all (replicated topics first: where
    there is most to see); the first `MAX_ROWS` of them are drawn."""
    parts = snap.partitions
    if topic:
        return parts[parts.topic == topic]
    replicated = parts.replicas.map(len) > 1
    return pd.concat([parts[replicated], parts[~replicated]])


def key(snap: Snapshot, topic: str | None = None) -> tuple:
    """Everything the picture shows, as a value: the panel redraws only when it changes."""
    parts = shown_partitions(snap, topic)
    cells = tuple(
        (r.topic, r.partition, r.leader, tuple(r.replicas), tuple(r.isr))
        for _, r in parts.head(MAX_ROWS).iterrows()
    )
    brokers = tuple(snap.brokers[["broker", "alive", "controller"]].itertuples(index=False, name=None))
    return brokers, cells, len(parts)


def draw(snap: Snapshot, topic: str | None = None) -> Figure:
    """The picture (see the module docstring)."""
    parts = shown_partitions(snap, topic)
    shown = parts.head(MAX_ROWS)
    brokers = list(snap.brokers.itertuples(index=False))
    fig = new_figure(width=2.2 + 1.0 * max(len(brokers), 1), height=1.2 + 0.3 * max(len(shown), 1))
    ax = fig.add_subplot()
    for col, b in enumerate(brokers):
        label = (
            f"broker {b.broker}" + ("\ncontroller" if b.controller else "") + ("" if b.alive else "\nDOWN")
        )
        colour = "black" if b.alive else BEHIND
        ax.text(col + 0.5, -0.15, label, ha="center", va="bottom", fontsize=8, color=colour)
        if not b.alive:
            ax.add_patch(Rectangle((col, 0), 1, max(len(shown), 1), color=DEAD, alpha=0.5, zorder=0))
    for row, (_, p) in enumerate(shown.iterrows()):
        offline = p.leader is None
        name = f"{p.topic}[{p.partition}]" + (" offline" if offline else "")
        ax.text(
            -0.1, row + 0.5, name, ha="right", va="center", fontsize=8, color=BEHIND if offline else "black"
        )
        for col, b in enumerate(brokers):
            what = cell(p, b.broker)
            if not what:
                continue
            face, edge, ink = {
                "leader": (LEADER, LEADER, "white"),
                "in sync": (IN_SYNC, IN_SYNC, "black"),
            }.get(what, ("white", BEHIND, BEHIND))
            ax.add_patch(
                Rectangle((col + 0.08, row + 0.12), 0.84, 0.76, facecolor=face, edgecolor=edge, lw=1.5)
            )
            ax.text(col + 0.5, row + 0.5, what, ha="center", va="center", fontsize=7, color=ink)
    ax.set_xlim(0, max(len(brokers), 1))
    ax.set_ylim(max(len(shown), 1), 0)
    ax.axis("off")
    legend = [
        Patch(color=LEADER, label="leader"),
        Patch(color=IN_SYNC, label="follower, in sync (ISR)"),
        Patch(facecolor="white", edgecolor=BEHIND, label="replica out of the ISR"),
    ]
    ax.legend(
        handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=7, frameon=False
    )
    if len(parts) > len(shown):
        ax.text(
            0,
            len(shown) + 0.2,
            f"... and {len(parts) - len(shown)} more partitions: pick a topic",
            fontsize=8,
            va="top",
            color="#57606a",
        )
    return fig


def summary(snap: Snapshot, topic: str | None = None) -> str:
    """The picture in one line of text (what a test or a text-only front end reads)."""
    parts = shown_partitions(snap, topic)
    alive = [int(b) for b in snap.brokers.broker[snap.brokers.alive]]
    dead = [int(b) for b in snap.brokers.broker[~snap.brokers.alive]]
    offline = int(parts.leader.isna().sum())
    behind = sum(len(set(r) - set(i)) for r, i in zip(parts.replicas, parts.isr, strict=True))
    return (
        f"brokers up {alive}, down {dead}, controller {snap.controller}; {len(parts)} partitions,"
        f" {offline} offline, {behind} replicas out of the ISR"
    )
