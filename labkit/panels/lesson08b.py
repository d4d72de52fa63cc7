"""Lesson 08b's pictures and panel ("Joins and enrichment").

* `WithinPanel`: a slider over an interval join's bound ("shipped within N hours") and the
  picture of every shipment's delay after its order, the bound drawn in: which orders the
  join keeps. Computed in pandas (`labkit.reference.interval_join`), the lesson runs the
  same join on Flink and compares.
* `plot_prices`: one product's price over the day as steps, and each of its orders at the
  price a temporal join gave it: the step in force at the order's time.
* `plot_state`: what each join kept in state, checkpoint after checkpoint.
* the lesson's plumbing, out of the learner's way: `caught_up` (wait until a job's sources
  have read every record in their topics) and `join_state` (a checkpoint's bytes per join operator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..reference import interval_join
from ..waiting import wait_for
from .base import Panel, Picture, new_figure, show

HOUR_MS = 3_600_000


class WithinPanel(Panel):
    """A slider for the bound of "shipped within N hours" and the picture of every
    shipment's delay after its order: the bars left of the line are the rows an interval
    join with that bound keeps."""

    def __init__(self, orders: Sequence[dict], shipments: Sequence[dict], hours: float = 4.0) -> None:
        self.orders, self.shipments = list(orders), list(shipments)
        placed = {o["order_id"]: o["ts"] for o in self.orders}
        self.delays = pd.Series([(s["ts"] - placed[s["order_id"]]) / HOUR_MS for s in self.shipments])
        self.hours = widgets.FloatSlider(value=hours, min=0.5, max=12, step=0.5, description="within (h)")
        self.out = widgets.Output()
        self.kept = 0
        self.hours.observe(lambda _: self.draw(), names="value")
        self.widget = widgets.VBox([self.hours, self.out])
        self.draw()

    def draw(self) -> Picture:
        """Redraw for the slider's bound; ``kept`` is the number of rows the join keeps."""
        hours = float(self.hours.value)
        self.kept = len(interval_join(self.orders, self.shipments, hours))
        fig = new_figure(9, 2.8)
        ax = fig.add_subplot()
        bins = [x / 2 for x in range(0, 25)]
        ax.hist(self.delays[self.delays <= hours], bins=bins, color="tab:green", label="kept by the join")
        ax.hist(self.delays[self.delays > hours], bins=bins, color="tab:gray", label="too late: left out")
        ax.axvline(hours, color="black", linestyle="--")
        ax.set_xlabel("hours from order to shipment")
        ax.set_ylabel("shipments")
        unshipped = len(self.orders) - len({s["order_id"] for s in self.shipments})
        ax.set_title(f"within {hours:g} h: {self.kept} of {len(self.shipments)} shipments join their order "
                     f"({unshipped} orders never shipped)")  # fmt: skip
        ax.legend(loc="upper right")
        fig.tight_layout()
        return show(fig, self.out, f"within {hours:g} h: {self.kept} rows")


def plot_prices(
    prices: Sequence[dict], priced: pd.DataFrame, orders: Sequence[dict], product: str
) -> Picture:
    """``product``'s price as steps over the day (``prices``: its changes) and each of its
    orders as a dot at the price the join gave it (``priced``: order_id, price), at the
    order's time: every dot sits on the step in force when the order was placed."""
    steps = pd.DataFrame([p for p in prices if p["product"] == product]).sort_values("ts")
    placed = pd.DataFrame(list(orders)).set_index("order_id")["ts"]
    mine = priced[priced["product"] == product]
    fig = new_figure(9, 2.8)
    ax = fig.add_subplot()
    hour = lambda ts: (pd.Series(ts, dtype="float") - steps["ts"].min()) / HOUR_MS  # noqa: E731
    end = max(placed.max(), steps["ts"].max())
    ax.step(list(hour(steps["ts"])) + [hour([end])[0]], list(steps["price"]) + [steps["price"].iloc[-1]],
            where="post", color="tab:blue", label=f"price of {product} (l08b-prices)")  # fmt: skip
    ax.plot(hour(placed[mine["order_id"]].to_numpy()), mine["price"].astype(float), "o", color="tab:orange",
            label="an order, at the price Flink joined")  # fmt: skip
    ax.set_xlabel("hours into the day (event time)")
    ax.set_ylabel("price (EUR)")
    ax.set_title(f"{len(mine)} orders of {product}: each at the price in force when it was placed")
    ax.legend(loc="best")
    fig.tight_layout()
    return show(fig, None, f"{len(mine)} orders of {product}")


def caught_up(lab: Any, job: Any, *topics: str, timeout: float = 60.0) -> int:
    """Wait until ``job``'s sources have read every record now in ``topics``: the *Records
    Received* of its source vertices (what each read from Kafka; *Records Sent* counts a
    record once per operator it feeds), refreshed by the JobManager every 2 s on the lab's
    cluster, against the topics' end offsets. Returns the number read."""
    n = sum(sum(lab.end_offsets(topic).values()) for topic in topics)

    def read() -> int | None:
        vertices = lab.flink_api(f"jobs/{job.job_id}")["vertices"]
        sources = [v for v in vertices if v["name"].startswith("Source")]
        read = sum(int(v["metrics"].get("read-records", 0)) for v in sources)
        return read if read >= n else None

    return wait_for(read, f"the job to read all {n} records of {', '.join(topics)}", timeout=timeout)


def join_state(lab: Any, job: Any, checkpoint: dict) -> dict[str, int]:
    """A completed checkpoint's bytes of state per join operator of ``job``: the regular
    join (``Join``), the interval join (``IntervalJoin``) and the temporal join
    (``TemporalJoin``), by the operator names Flink's planner gives them."""
    names = {v["id"]: v["name"] for v in lab.flink_api(f"jobs/{job.job_id}")["vertices"]}
    kinds = {"IntervalJoin": "interval join", "TemporalJoin": "temporal join", "Join": "plain join"}
    found: dict[str, int] = {}
    for vertex, task in checkpoint["tasks"].items():
        kind = next((k for k in kinds if names[vertex].startswith(f"{k}[")), None)
        if kind is not None:
            found[kinds[kind]] = found.get(kinds[kind], 0) + int(task["state_size"])
    return found


def plot_state(table: pd.DataFrame) -> Picture:
    """State per join (kB) after each day of orders: one line per join (``table``: one
    row per day, one column per join)."""
    fig = new_figure(9, 2.8)
    ax = fig.add_subplot()
    for name in table.columns:
        ax.plot(table.index, table[name] / 1000, "o-", label=name)
    ax.set_xlabel("days of orders and shipments read")
    ax.set_ylabel("state in the checkpoint (kB)")
    ax.set_xticks(list(table.index))
    ax.set_ylim(bottom=0)
    ax.set_title("What each join keeps: measured from the job's checkpoints in this run")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return show(fig, None, table.to_string())
