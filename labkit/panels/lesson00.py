"""Lesson 00's panel ("Welcome"): the lab's health, and one event's trip through Kafka and Flink.

`HealthPanel` shows the broker and its topics, and a button that sends one event
app -> Kafka -> Flink -> Kafka -> notebook and shows how long the trip took. The Flink job
that does the middle hop is started by the notebook (so the learner sees its SQL); the
panel only sends to ``send_topic`` and waits on ``receive_topic``.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING

import ipywidgets as widgets
from kafka import TopicPartition
from matplotlib.ticker import MaxNLocator

from ..kafka import closing
from .base import FAIL, OK, Panel, new_figure, render
from .status import status_html

if TYPE_CHECKING:
    from ..lab import Lab


class HealthPanel(Panel):
    """Broker, topics, and a button that sends one event app -> Kafka -> Flink -> Kafka ->
    notebook and shows how long the trip took.

    A click runs in a background thread, so the notebook stays responsive while the
    first event waits for Flink to start; `send_event` is the same trip, synchronously,
    for cells and tests.
    """

    def __init__(self, lab: Lab, send_topic: str, receive_topic: str) -> None:
        self.lab = lab
        self.send_topic = send_topic
        self.receive_topic = receive_topic
        self.trips: list[dict] = []
        self.thread: threading.Thread | None = None
        self.status = widgets.HTML()
        self.topics = widgets.HTML()
        self.message = widgets.Text(value="hello, stream", description="message")
        self.send = widgets.Button(description="Send an event", button_style="primary", icon="paper-plane")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.result = widgets.HTML("Press <i>Send an event</i>.")
        self.plot = widgets.Output()
        self.send.on_click(lambda _: self._send_in_background())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h4>Lab health</h4>"),
                self.status,
                self.topics,
                self.refresh_button,
                widgets.HTML("<h4>First event: app &rarr; Kafka &rarr; Flink &rarr; Kafka &rarr; here</h4>"),
                widgets.HBox([self.message, self.send]),
                self.result,
                self.plot,
            ]
        )
        self.refresh()

    def refresh(self) -> dict:
        """Re-read the cluster's status and topics into the panel; returns the status."""
        st = self.lab.status()
        self.status.value = f"{OK if st['running'] else FAIL} " + status_html(st)
        topics = self.lab.topics()
        with closing(self.lab.consumer(enable_auto_commit=False)) as consumer:  # one client for all
            # no partitions: deleted since it was listed (another notebook)
            parts = {t: ps for t in topics if (ps := sorted(consumer.partitions_for_topic(t)))}
            tps = [TopicPartition(t, p) for t, ps in parts.items() for p in ps]
            ends = consumer.end_offsets(tps) if tps else {}
        counts = dict.fromkeys(parts, 0)
        for tp, end in ends.items():
            counts[tp.topic] += end
        rows = "".join(f"<tr><td><code>{t}</code></td><td>{n}</td></tr>" for t, n in counts.items())
        self.topics.value = f"<table><tr><th>topic</th><th>events</th></tr>{rows}</table>"
        return st

    def send_event(self, timeout: float = 60.0) -> dict:
        """Send one event and wait for Flink's answer; returns the trip's measurements."""
        trip_id = uuid.uuid4().hex[:8]
        with closing(self.lab.reader(self.receive_topic, start="end")) as consumer:
            self.result.value = f"sent <code>{trip_id}</code>, waiting for Flink..."
            sent = time.time()
            self.lab.produce(
                self.send_topic,
                [{"id": trip_id, "message": self.message.value, "sent_ms": int(sent * 1000)}],
                key="id",
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for records in consumer.poll(50).values():
                    for r in records:
                        if isinstance(r.value, dict) and r.value.get("id") == trip_id:
                            trip = {
                                "id": trip_id,
                                "latency_s": round(time.time() - sent, 3),
                                "answer": r.value,
                            }
                            self.trips.append(trip)
                            self._show(trip)
                            return trip
            raise TimeoutError(
                f"No answer from Flink on {self.receive_topic!r} within {timeout} s: is the job running?"
            )

    def _send_in_background(self) -> None:
        def work() -> None:
            try:
                self.send_event()
            except Exception as exc:  # noqa: BLE001 - shown to the learner, not lost
                self.result.value = f"<b style='color:#cf222e'>{type(exc).__name__}</b>: {exc}"
            self.refresh()

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def _show(self, trip: dict) -> None:
        self.result.value = (
            f"{OK} Flink answered <code>{trip['answer']}</code> "
            f"after <b>{trip['latency_s'] * 1000:.0f} ms</b> end to end."
        )
        fig = new_figure(6, 2.2)
        ax = fig.add_subplot()
        ax.bar(range(1, len(self.trips) + 1), [t["latency_s"] * 1000 for t in self.trips], color="#4c72b0")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("event #")
        ax.set_ylabel("ms")
        ax.set_title("end-to-end latency (the first includes Flink's start-up)")
        fig.tight_layout()
        trips_ms = [round(t["latency_s"] * 1000) for t in self.trips]
        render(fig, self.plot, f"latency of each trip (ms): {trips_ms}")
