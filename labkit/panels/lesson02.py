"""Lesson 02's panels ("Topics, partitions and keys"): where keyed events land, and how evenly.

* `LanesPanel`: send events to a topic with N partitions and watch each partition's log
  grow, one lane per partition and one box per event (colour = key).
* `SkewPanel`: how evenly do keys spread over partitions, when a few keys are popular?
* `read_as_delivered`: events in the order a consumer of every partition gets them.

The two panels recreate their topic on each Send and keep what they saw (``lanes``, ``loads``) in
plain attributes for cells and tests.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .. import events
from ..kafka import closing
from ..waiting import wait_for
from .base import Panel, new_figure, render

if TYPE_CHECKING:
    from ..lab import Lab


def key_colour(key: str | None, keys: list[str]) -> str:
    """One stable colour per key (grey for "no key")."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    if key is None:
        return "#9e9e9e"
    return palette[keys.index(key) % len(palette)] if key in keys else "#bcbd22"


#: Key names for the lanes picture, in an order whose first few spread over 2-4 partitions
#: (with other names, e.g. "key-A" and "key-B", the hash can put the first keys together).
LANE_KEYS = ["alice", "carol", "dave", "erin", "bob", "frank", "grace", "heidi"]


class LanesPanel(Panel):
    """Send events to a topic with N partitions and watch each partition's log grow:
    one lane per partition, one box per event (colour = key, number = send order)."""

    def __init__(
        self,
        lab: Lab,
        topic: str,
        *,
        partitions: int = 3,
        keys: int = 4,
        events: int = 30,
        seconds: float = 2.0,
    ) -> None:
        self.lab, self.topic, self.seconds = lab, topic, seconds
        self.partitions = widgets.IntSlider(value=partitions, min=1, max=6, description="partitions")
        self.keys = widgets.IntSlider(value=keys, min=0, max=8, description="keys (0=none)")
        self.events = widgets.IntSlider(value=events, min=5, max=60, description="events")
        self.send_button = widgets.Button(description="Send", icon="paper-plane", button_style="primary")
        self.plot = widgets.Output()
        self.send_button.on_click(lambda _: self.send())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.partitions, self.keys]),
                widgets.HBox([self.events, self.send_button]),
                self.plot,
            ]
        )
        self.lanes: dict[int, list[dict]] = {}
        self.key_names: list[str] = []

    def send(self) -> dict[int, list[dict]]:
        """Recreate the topic, send the events paced over a couple of seconds, and draw the
        lanes as the consumer reads them back. Returns partition -> records in log order."""
        n_parts, n_keys, n = self.partitions.value, self.keys.value, self.events.value
        self.lab.create_topic(self.topic, partitions=n_parts, replace=True)
        self.key_names = LANE_KEYS[:n_keys]
        rng = random.Random(n_keys * 100 + n)
        self.lanes = {p: [] for p in range(n_parts)}
        producer = self.lab.producer()
        try:
            with closing(self.lab.reader(self.topic, start="beginning")) as consumer:
                received, last_draw = 0, 0.0
                for seq in range(n):
                    key = rng.choice(self.key_names) if self.key_names else None
                    producer.send(self.topic, key=key, value={"seq": seq, "key": key})
                    producer.flush()
                    received += self._poll(consumer, 0)
                    if time.monotonic() - last_draw > 0.25:
                        self.draw()
                        last_draw = time.monotonic()
                    time.sleep(self.seconds / n)
                deadline = time.monotonic() + 10
                while received < n and time.monotonic() < deadline:
                    received += self._poll(consumer, 100)
        finally:
            producer.close(timeout=5)
        self.draw()
        return self.lanes

    def _poll(self, consumer: Any, timeout_ms: int) -> int:
        got = 0
        for tp, records in consumer.poll(timeout_ms=timeout_ms).items():
            for r in records:
                self.lanes[tp.partition].append({"offset": r.offset, "key": r.key, "seq": r.value["seq"]})
                got += 1
        return got

    def draw(self) -> None:
        n_parts = len(self.lanes)
        width = max([len(v) for v in self.lanes.values()] + [8])
        fig = new_figure(8, 0.55 * n_parts + 1.1)
        ax = fig.add_subplot()
        for p, records in self.lanes.items():
            y = n_parts - 1 - p
            for r in records:
                ax.add_patch(_box(r["offset"], y, key_colour(r["key"], self.key_names)))
                ax.text(
                    r["offset"] + 0.45,
                    y + 0.4,
                    str(r["seq"]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="w",
                )
        ax.set_xlim(0, width + 0.5)
        ax.set_ylim(-0.2, n_parts)
        ax.set_yticks([n_parts - 1 - p + 0.4 for p in self.lanes], [f"partition {p}" for p in self.lanes])
        ax.set_xlabel("offset in the partition (box number = order the producer sent it)")
        if self.key_names:
            handles = [_box(0, 0, key_colour(k, self.key_names)) for k in self.key_names]
            ax.legend(
                handles, self.key_names, title="key", fontsize=7, loc="upper left", bbox_to_anchor=(1, 1)
            )
            ax.set_title(f"{self.topic}: one colour per key", fontsize=9)
        else:
            ax.set_title(f"{self.topic}: no key: kafka-python picks a random partition per event", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        sizes = {p: len(v) for p, v in self.lanes.items()}
        fig.tight_layout()
        render(fig, self.plot, f"events per partition: {sizes}")


def _box(x: float, y: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.9, 0.8, facecolor=colour, edgecolor="white")


class SkewPanel(Panel):
    """How evenly do keys spread over partitions? Set how many distinct keys there are
    and how skewed their popularity is, send, and see each partition's load (read from
    the broker's log end offsets) as it fills."""

    def __init__(
        self,
        lab: Lab,
        topic: str,
        *,
        keys: int = 50,
        skew: float = 1.1,
        partitions: int = 4,
        events: int = 2000,
    ) -> None:
        self.lab, self.topic, self.n = lab, topic, events
        self.keys = widgets.IntSlider(value=keys, min=1, max=500, description="distinct keys")
        self.skew = widgets.FloatSlider(value=skew, min=0.0, max=3.0, step=0.1, description="skew")
        self.partitions = widgets.IntSlider(value=partitions, min=2, max=8, description="partitions")
        self.send_button = widgets.Button(description="Send", icon="paper-plane", button_style="primary")
        self.plot = widgets.Output()
        self.send_button.on_click(lambda _: self.send())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.keys, self.skew]),
                widgets.HBox([self.partitions, self.send_button]),
                self.plot,
            ]
        )
        self.loads: dict[int, int] = {}
        self.hottest_key: tuple[str, int] = ("", 0)

    def send(self, chunks: int = 5) -> dict[int, int]:
        """Recreate the topic, produce clicks keyed by user in a few chunks, and redraw the
        load per partition after each. Returns partition -> event count."""
        self.lab.create_topic(self.topic, partitions=self.partitions.value, replace=True)
        sample = list(events.clicks(self.n, seed=3, users=self.keys.value, skew=self.skew.value))
        counts = pd.Series([e["user_id"] for e in sample]).value_counts()
        self.hottest_key = (str(counts.index[0]), int(counts.iloc[0]))
        step = -(-len(sample) // chunks)
        producer = self.lab.producer()
        try:
            for i in range(0, len(sample), step):
                for e in sample[i : i + step]:
                    producer.send(self.topic, key=e["user_id"], value=e)
                producer.flush()
                self.loads = self.lab.end_offsets(self.topic)
                self.draw()
        finally:
            producer.close(timeout=5)
        return self.loads

    @property
    def imbalance(self) -> float:
        """Busiest partition's load divided by the average load (1.0 = perfectly even)."""
        total = sum(self.loads.values())
        return max(self.loads.values()) * len(self.loads) / total if total else 0.0

    def draw(self) -> None:
        parts = sorted(self.loads)
        total = sum(self.loads.values())
        fig = new_figure(7, 2.8)
        ax = fig.add_subplot()
        ax.bar([str(p) for p in parts], [self.loads[p] for p in parts], color="#1f77b4")
        if total:
            ax.axhline(total / len(parts), color="grey", ls="--", lw=1, label="fair share")
            ax.legend(fontsize=8)
        key, hits = self.hottest_key
        ax.set(
            xlabel="partition",
            ylabel="events",
            title=f"{self.keys.value} keys, skew {self.skew.value:.1f}: busiest partition "
            f"x{self.imbalance:.2f} the average; hottest key {key} = {hits / max(1, self.n):.0%}",
        )
        ax.title.set_fontsize(9)
        fig.tight_layout()
        render(fig, self.plot, f"load per partition: {self.loads}")


def read_as_delivered(
    lab: Lab, topic: str, n: int, timeout: float = 30.0
) -> list[tuple[int, str | None, Any]]:
    """``(partition, key, value["seq"])`` of the first ``n`` events of ``topic`` in the order
    a `KafkaConsumer` assigned every partition delivers them (lesson 02, section 4): the
    calls of lesson 01, in a loop until ``n`` have come (a `LabError` after ``timeout`` s)::

        consumer = lab.reader(topic)            # every partition, from the beginning
        while fewer than n:
            for records in consumer.poll(timeout_ms=500).values():
                arrived += [(r.partition, r.key, r.value["seq"]) for r in records]
    """
    arrived: list[tuple[int, str | None, Any]] = []
    with closing(lab.reader(topic)) as consumer:

        def got_all() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                arrived.extend((r.partition, r.key, r.value["seq"]) for r in records)
            return len(arrived) >= n

        wait_for(got_all, f"{n} events of {topic!r}", timeout=timeout, every=0)
    return arrived[:n]
