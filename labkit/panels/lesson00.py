"""Lesson 00's panel ("Welcome"): the lab's health, and one event's trip through Kafka and Flink.

`HealthPanel` shows the broker and its topics, and a button that sends one event
app -> Kafka -> Flink -> Kafka -> notebook and shows how long the trip took. The Flink job
that does the middle hop is started by the notebook (so the learner sees its SQL); the
panel only sends to ``send_topic`` and waits on ``receive_topic``.

`two_questions` sets one of those trips beside the memory trick: what Kafka did with the event
("Where does the data go?") and what Flink did ("What should we do with the data?"), each
read from the topics, where both are "real-time" and both deal in streams.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
            event = {"id": trip_id, "message": self.message.value, "sent_ms": int(sent * 1000)}
            self.lab.produce(self.send_topic, [event], key="id")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for records in consumer.poll(50).values():
                    for r in records:
                        if isinstance(r.value, dict) and r.value.get("id") == trip_id:
                            trip = {
                                "id": trip_id,
                                "sent": event,
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


#: Columns `Lab.read` adds to an event's own fields.
_METADATA = ("partition", "offset", "timestamp", "key", "headers")


@dataclass
class TwoQuestions:
    """What Kafka and what Flink did with one event of a trip, read back from the topics
    (`two_questions`). Shows itself as a table: the same field, different jobs."""

    event_id: str
    trip_ms: float
    send_topic: str
    receive_topic: str
    partition: int
    offset: int
    stored: dict[str, Any]  # the event as Kafka holds it (its own fields)
    kafka_kept_it_as_sent: bool  # stored == what the app sent: Kafka computed nothing
    answer_offset: int
    flink_made: str  # the value Flink worked out

    def rows(self) -> list[tuple[str, str, str]]:
        ms = f"{self.trip_ms:.0f} ms"
        stored = html.escape(json.dumps(self.stored))
        kept = "exactly as sent" if self.kafka_kept_it_as_sent else "CHANGED (not as sent)"
        return [
            (
                "real-time?",
                f"yes: it handed this event on within the {ms} trip - twice (to Flink, then Flink's result "
                "to this notebook)",
                f"yes: it worked out its answer within the same {ms}",
            ),
            (
                "streams?",
                f"yes: it stores the streams <code>{self.send_topic}</code> and "
                f"<code>{self.receive_topic}</code>",
                "yes: the job reads one stream and writes another",
            ),
            (
                "its question, for this event",
                f"<i>Where does the data go?</i> Into <code>{self.send_topic}</code>, partition "
                f"{self.partition}, offset {self.offset}, {kept}: <code>{stored}</code>; from there to the "
                f"Flink job; Flink's result into <code>{self.receive_topic}</code>, offset "
                f"{self.answer_offset}",
                f"<i>What should we do with the data?</i> What the job's SELECT says: it worked out "
                f"<code>shout = {html.escape(repr(self.flink_made))}</code>, a value that was nowhere before",
            ),
            (
                "after the trip",
                f"still holds the event: read back from <code>{self.send_topic}</code> just now, after Flink "
                "read it (reading removes nothing); any app can read it again, now or tomorrow",
                "keeps no copy of either: the job waits for the next event",
            ),
        ]

    def _repr_html_(self) -> str:
        head = "<tr><th></th><th>Kafka, <i>moving</i> data</th><th>Flink, <i>processing</i> data</th></tr>"
        body = "".join(
            f"<tr><td><b>{what}</b></td><td style='text-align:left'>{kafka}</td>"
            f"<td style='text-align:left'>{flink}</td></tr>"
            for what, kafka, flink in self.rows()
        )
        return f"<table>{head}{body}</table><p>Same field, same event, different jobs.</p>"

    def __repr__(self) -> str:
        def text(cell: str) -> str:
            return html.unescape(re.sub(r"<[^>]+>", "", cell))

        return "\n".join(f"{what}\n  Kafka: {text(k)}\n  Flink: {text(f)}" for what, k, f in self.rows())


def two_questions(lab: Lab, trip: dict, send_topic: str, receive_topic: str) -> TwoQuestions:
    """One trip of `HealthPanel` (``panel.trips[i]``), set beside the memory trick: where
    Kafka put the event and whether it kept it as the app sent it, and what Flink worked out
    from it - both read from the topics now, not from the panel's memory."""
    sent_rows = lab.read(send_topic)
    mine = sent_rows[sent_rows["id"] == trip["id"]].iloc[-1]
    out = lab.read(receive_topic)
    answer = out[out["id"] == trip["id"]].iloc[-1]
    stored = {k: v.item() if hasattr(v, "item") else v for k, v in mine.items() if k not in _METADATA}
    stored = {k: v for k, v in stored.items() if not (isinstance(v, float) and v != v)}  # NaN: not its field
    return TwoQuestions(
        event_id=trip["id"],
        trip_ms=trip["latency_s"] * 1000,
        send_topic=send_topic,
        receive_topic=receive_topic,
        partition=int(mine["partition"]),
        offset=int(mine["offset"]),
        stored=stored,
        kafka_kept_it_as_sent=stored == trip["sent"] and mine["key"] == trip["id"],
        answer_offset=int(answer["offset"]),
        flink_made=str(answer["shout"]),
    )
