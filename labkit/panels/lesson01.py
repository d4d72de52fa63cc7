"""Lesson 01's panels ("Events and streams"): a live stream, and what the producer's ``acks`` costs.

* `StreamPanel`: a generator produces to a topic at a rate you set while a consumer reads
  it back; events/second sent and received, and the latest events.
* `measure_acks` / `AcksPanel`: time synchronous and pipelined sends with ``acks`` 0, 1 or
  all, and chart them side by side.

The panels use the same real kafka-python clients the lesson shows (``lab.producer()``,
``lab.reader()``) and keep their numbers in plain attributes (``sent``, ``received``,
``results``) so a cell or a test can drive them from code and assert on what they did.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .. import events
from ..kafka import closing
from .base import Panel, new_figure, render, render_frame

if TYPE_CHECKING:
    from ..lab import Lab

#: generator -> the field that is the event's key
GENERATORS: dict[str, tuple[Callable[..., Iterator[dict]], str]] = {
    "clicks": (events.clicks, "user_id"),
    "payments": (events.payments, "account_id"),
    "sensors": (events.sensors, "sensor_id"),
}


class StreamPanel(Panel):
    """Start/stop a generator that produces to ``topic`` at a rate you set, while a
    consumer reads the topic back: events/second sent and received, and the latest events.

    A background thread does the work, so the Stop button (and the rate slider) respond
    while events flow. ``run_for(seconds)`` does start, wait, stop from code.
    """

    def __init__(
        self, lab: Lab, topic: str, *, kind: str = "clicks", rate: int = 50, window: int = 20
    ) -> None:
        self.lab, self.topic, self.window = lab, topic, window
        self.kind = widgets.Dropdown(options=list(GENERATORS), value=kind, description="events")
        self.rate = widgets.IntSlider(value=rate, min=5, max=1000, step=5, description="events/s")
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.status = widgets.HTML("stopped")
        self.plot, self.table = widgets.Output(), widgets.Output()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.kind, self.rate, self.start_button, self.stop_button]),
                self.status,
                self.plot,
                self.table,
            ]
        )
        self.sent = 0
        self.received = 0
        self.per_second: dict[int, list[int]] = {}  # second since start -> [sent, received]
        self.latest: deque[dict] = deque(maxlen=8)
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.draw()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.runs += 1
        self._stop.clear()
        self.start_button.disabled, self.stop_button.disabled = True, False
        self._thread = threading.Thread(target=self._run, name="l01-stream", daemon=True)
        self._thread.start()
        self.started()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.start_button.disabled, self.stop_button.disabled = False, True
        super().stop()

    def run_for(self, seconds: float) -> None:
        """Start, let events flow for ``seconds``, stop (how a cell or a test drives it)."""
        self.start()
        time.sleep(seconds)
        self.stop()
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - shown in the panel, re-raised by run_for
            self.error = exc
            self.status.value = f"<b style='color:#cf222e'>stopped by an error:</b> {exc}"

    def _loop(self) -> None:
        make, key_field = GENERATORS[self.kind.value]
        source = make(seed=self.runs, start="now")
        producer = self.lab.producer()
        try:
            with closing(self.lab.reader(self.topic, start="end")) as consumer:  # only what this run sends
                self._pump(source, key_field, producer, consumer)
        finally:
            producer.close(timeout=5)
        self.draw()

    def _pump(self, source: Iterator[dict], key_field: str, producer: Any, consumer: Any) -> None:
        """Send at the rate asked for and read back, until Stop and every event is back (or 5 s)."""
        began = time.monotonic()
        due = began
        last_draw = 0.0
        sent_before, received_before = self.sent, self.received
        drain_until = None
        while True:
            now = time.monotonic()
            if drain_until is None and self._stop.is_set():
                producer.flush(timeout=10)
                drain_until = now + 5
            if drain_until is None:
                while due <= now:
                    event = next(source)
                    event["ts"] = int(time.time() * 1000)  # event time = when it happened
                    producer.send(self.topic, key=event[key_field], value=event)
                    self.sent += 1
                    self._bucket(now - began)[0] += 1
                    due += 1 / max(1, self.rate.value)
                due = max(due, now - 1)  # after a stall, do not burst to catch up
            for records in consumer.poll(timeout_ms=20).values():
                for r in records:
                    self.received += 1
                    self._bucket(time.monotonic() - began)[1] += 1
                    self.latest.append({"partition": r.partition, "offset": r.offset, "key": r.key} | r.value)
            done = self.received - received_before >= self.sent - sent_before
            if drain_until is not None and (done or now > drain_until):
                break
            if now - last_draw > 0.5:
                self.draw()
                last_draw = now

    def _bucket(self, elapsed: float) -> list[int]:
        return self.per_second.setdefault(int(elapsed) + 1000 * self.runs, [0, 0])

    def draw(self) -> None:
        """Redraw the events/s plot and the table of the latest events."""
        state = "running" if self.running and not self._stop.is_set() else "stopped"
        self.status.value = (
            f"<b>{state}</b> &middot; {self.sent} sent &middot; {self.received} read back from "
            f"<code>{self.topic}</code>"
        )
        now = {k: v for k, v in self.per_second.items() if k // 1000 == self.runs}
        seconds = sorted(now)
        if self.running and not self._stop.is_set():
            seconds = seconds[:-1]  # the current second is not over yet: its count would dip
        seconds = seconds[-self.window :]
        fig = new_figure()
        ax = fig.add_subplot()
        xs = [s % 1000 for s in seconds]
        ax.plot(xs, [now[s][0] for s in seconds], "o-", label="sent (producer)")
        ax.plot(xs, [now[s][1] for s in seconds], "s--", label="received (consumer)")
        ax.axhline(self.rate.value, color="grey", lw=0.8, ls=":", label="rate asked for")
        ax.set(xlabel="second of this run", ylabel="events per second", title=f"{self.kind.value} stream")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        render(fig, self.plot, f"{self.sent} sent, {self.received} received")
        if self.latest:
            render_frame(pd.DataFrame(list(self.latest)), self.table)


def measure_acks(lab: Lab, topic: str, acks: int | str, n: int = 300) -> dict[str, Any]:
    """Time ``n`` synchronous sends (wait for each answer) and ``10 * n`` pipelined sends
    (send all, then flush) with the given ``acks``; return the measurements.

    The timings are what this run measured (they vary from run to run; ``make bench``
    measures throughput properly). ``events_per_request`` and ``stored`` do not depend on
    timing: how many events the pipelined producer packed into each produce request, and
    how many events the topic gained.
    """
    before = sum(lab.end_offsets(topic).values())
    producer = lab.producer(acks=acks, linger_ms=0)
    try:
        producer.send(topic, key="warm-up", value={}).get(timeout=10)
        waits, offsets = [], []
        for i in range(n):
            t0 = time.perf_counter()
            meta = producer.send(topic, key=f"k{i % 8}", value={"i": i}).get(timeout=10)
            waits.append(time.perf_counter() - t0)
            offsets.append(meta.offset)
    finally:
        producer.close(timeout=5)
    producer = lab.producer(acks=acks, linger_ms=0)  # a fresh one: its metrics are the pipelined sends'
    try:
        t0 = time.perf_counter()
        for i in range(10 * n):
            producer.send(topic, key=f"k{i % 8}", value={"i": i})
        producer.flush(timeout=30)
        pipelined = 10 * n / (time.perf_counter() - t0)
        per_request = producer.metrics()["producer-metrics"]["records-per-request-avg"]
    finally:
        producer.close(timeout=5)
    sent = 11 * n + 1
    # acks=0: the producer is done once the requests are on the wire; give the broker a
    # moment to append the last ones before counting (a lost event stays missing)
    stored = 0
    deadline = time.monotonic() + 10
    while True:
        stored = sum(lab.end_offsets(topic).values()) - before
        if stored >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    waits.sort()
    return {
        "acks": str(acks),
        "wait_per_send_ms": round(1000 * waits[len(waits) // 2], 3),
        "sync_events_per_s": round(n / sum(waits)),
        "pipelined_events_per_s": round(pipelined),
        "events_per_request": round(per_request, 1),
        "distinct_offsets_reported": len(set(offsets)),
        "sent": sent,
        "stored": stored,
    }


class AcksPanel(Panel):
    """Pick ``acks``, press Measure: the producer's cost is measured live and charted next
    to earlier measurements."""

    def __init__(self, lab: Lab, topic: str, *, n: int = 300) -> None:
        self.lab, self.topic = lab, topic
        self.acks = widgets.ToggleButtons(options=["0", "1", "all"], value="all", description="acks")
        self.n = widgets.IntSlider(value=n, min=50, max=2000, step=50, description="sends")
        self.measure_button = widgets.Button(description="Measure", icon="tachometer")
        self.plot = widgets.Output()
        self.measure_button.on_click(lambda _: self.measure())
        self.widget = widgets.VBox([widgets.HBox([self.acks, self.n, self.measure_button]), self.plot])
        self.results: dict[str, dict[str, Any]] = {}

    def measure(self) -> dict[str, Any]:
        acks: int | str = int(self.acks.value) if self.acks.value != "all" else "all"
        self.measure_button.disabled = True
        try:
            result = measure_acks(self.lab, self.topic, acks, self.n.value)
        finally:
            self.measure_button.disabled = False
        self.results[str(acks)] = result
        self.draw()
        return result

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.results[a] for a in ("0", "1", "all") if a in self.results])

    def draw(self) -> None:
        df = self.table
        fig = new_figure(8, 2.6)
        left, right = fig.subplots(1, 2)
        left.bar(df["acks"], df["wait_per_send_ms"], color="#d62728")
        left.set(title="wait for one send (median)", xlabel="acks", ylabel="ms")
        right.bar(df["acks"], df["pipelined_events_per_s"], color="#1f77b4")
        right.set(title="pipelined throughput", xlabel="acks", ylabel="events/s")
        fig.tight_layout()
        render(fig, self.plot, df.to_string(index=False))
