"""Lesson 08's picture and panel ("State, checkpoints and exactly-once").

* `plot_totals`: each account's running total, record by record as a job wrote them, and
  every account's latest total as of one record; records of a restarted attempt dashed.
* `TotalsPanel`: a slider over those records, to watch the totals fall back to the last
  checkpoint where the restarted attempt begins. (Lesson 04's `ReplayPanel` replays a
  Kafka topic; this one replays a job's output, hence its own name.)
* the lesson's plumbing, out of the learner's way: `read_totals` (a topic as a reader with
  one isolation level sees it), `results_of` (the result each payment should produce),
  `checkpoint_table` (what a checkpoint holds per operator) and `first_offset`.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .base import Panel, Picture, new_figure, show


def plot_totals(
    records: pd.DataFrame, *, upto: int | None = None, title: str = "", out: Any | None = None
) -> Picture:
    """The running total of each account, record by record as the job wrote them (left),
    and every account's latest total as of record ``upto`` (right). Records written by
    the restarted attempt are drawn dashed: where they start, the totals jump back to the
    last checkpoint and climb again."""
    df = records.reset_index(drop=True)
    upto = len(df) - 1 if upto is None else min(upto, len(df) - 1)
    fig = new_figure(11, 3.4)
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if not df.empty:
        for i, (acct, g) in enumerate(df.groupby("account_id")):
            for attempt, part in g.groupby("attempt"):
                ax.plot(
                    part.index,
                    part["total"],
                    "-" if attempt == 0 else "--",
                    color=f"C{i}",
                    label=acct if attempt == 0 else None,
                    linewidth=1.2,
                )
        restarts = df.index[(df["attempt"].diff() > 0)]
        for r in restarts:
            ax.axvline(r, color="red", linewidth=1)
            ax.text(r, ax.get_ylim()[1] * 0.95, " restart", color="red", fontsize=8, va="top")
        ax.axvline(upto, color="black", linewidth=0.8, linestyle=":")
        latest = df.iloc[: upto + 1].groupby("account_id")["total"].last()
        bars.bar(latest.index, latest.values, color=[f"C{i}" for i in range(len(latest))])
        bars.tick_params(axis="x", labelrotation=45, labelsize=7)
        bars.set_title(f"state as of output record #{upto}", fontsize=9)
    ax.set_xlabel("output record (Kafka offset)")
    ax.set_ylabel("running total (EUR)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or f"{len(df)} output records")
    fig.tight_layout()
    return show(fig, out, f"{len(df)} output records; the state as of record #{upto}")


class TotalsPanel(Panel):
    """A slider over a job's output records: see each account's total as of any record,
    and watch the totals fall back to the checkpoint where the restarted attempt begins.

    `plot_totals` draws into an ``Output`` through `render` (no ``with out:``): moving the
    slider from code then changes a widget's value and captures no output into the cell.
    """

    def __init__(self, records: pd.DataFrame) -> None:
        self.records = records.reset_index(drop=True)
        self.record = widgets.IntSlider(
            value=len(self.records) - 1,
            min=0,
            max=max(0, len(self.records) - 1),
            description="record #",
            layout=widgets.Layout(width="60%"),
        )
        self.info = widgets.HTML()
        self.plot = widgets.Output()
        self.state: dict[str, float] = {}
        self.record.observe(lambda _: self.update(), names="value")
        self.widget = widgets.VBox([self.record, self.info, self.plot])
        self.update()

    def update(self) -> None:
        i = self.record.value
        row = self.records.iloc[i]
        self.state = self.records.iloc[: i + 1].groupby("account_id")["total"].last().to_dict()
        self.info.value = (
            f"record #{i}: <b>{row['account_id']}</b> total {row['total']:.2f} after "
            f"{row['tx_id']}, written by attempt <b>{row['attempt']}</b>"
        )
        plot_totals(self.records, upto=i, out=self.plot)


# --- the lesson's plumbing ------------------------------------------------------------------


def read_totals(lab: Any, topic: str, isolation_level: str = "read_uncommitted") -> pd.DataFrame:
    """Every record of ``topic`` (one partition) as a reader with this isolation level sees
    it: offset, account_id, payments, total. read_uncommitted (Kafka's default) gets every
    record in the log; read_committed skips records of aborted transactions and stops
    before any transaction still open."""
    from kafka import TopicPartition

    reader = lab.consumer(isolation_level=isolation_level, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    reader.assign([tp])
    reader.seek_to_beginning(tp)
    end, rows, deadline = reader.end_offsets([tp])[tp], [], time.monotonic() + 30
    while reader.position(tp) < end and time.monotonic() < deadline:
        rows += [{"offset": r.offset, **r.value} for r in reader.poll(200).get(tp, [])]
    reader.close()
    return pd.DataFrame(rows, columns=["offset", "account_id", "payments", "total"])


def results_of(payments: Sequence[dict]) -> list[tuple[str, int]]:
    """The result each payment should produce, in order: (its account, the account's running
    count after it)."""
    seen: collections.Counter[str] = collections.Counter()
    out = []
    for p in payments:
        seen[p["account_id"]] += 1
        out.append((p["account_id"], seen[p["account_id"]]))
    return out


def checkpoint_table(lab: Any, job: Any, checkpoint: dict) -> pd.DataFrame:
    """What a completed checkpoint (`Lab.trigger_checkpoint`'s reply) holds per operator: the
    operator's name (as the job graph shows it) and its state in bytes."""
    names = {v["id"]: v["name"][:60] for v in lab.flink_api(f"jobs/{job.job_id}")["vertices"]}
    rows = [{"operator": names[v], "state (bytes)": t["state_size"]} for v, t in checkpoint["tasks"].items()]
    return pd.DataFrame(rows, columns=["operator", "state (bytes)"])


def first_offset(lab: Any, topic: str) -> int:
    """The first offset still in ``topic``'s partition 0 (after retention or `delete_records`)."""
    from kafka import TopicPartition

    probe = lab.consumer()
    try:
        tp = TopicPartition(topic, 0)
        return int(probe.beginning_offsets([tp])[tp])
    finally:
        probe.close()
