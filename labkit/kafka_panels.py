"""Live panels for lessons 01-04 ("Kafka moves data").

Each panel is a small ipywidgets control surface plus matplotlib pictures, so a lesson
shows the Kafka calls and not fifty lines of plotting. The panels use the same real
kafka-python clients the lesson shows (``lab.producer()``, ``lab.consumer()``).

Pictures are rendered to PNG and put into an ``ipywidgets.Output`` by setting its
``outputs`` directly (no ``with out:``), which is safe from a background thread and does
not leak the picture into the cell's own outputs. Every panel keeps its numbers in plain
attributes (``sent``, ``lanes``, ``loads``, ``lag_history``, ``balances`` ...) so a cell
or a test can drive it from code and assert on what it did.

No panel needs a browser: outside a notebook the widgets still work (tests click them).
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
from kafka import TopicPartition
from kafka.errors import KafkaError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import events
from .reference import apply_transaction  # noqa: F401 - re-exported for lesson 04

if TYPE_CHECKING:
    from .lab import Lab

# --- drawing helpers -----------------------------------------------------------------


def new_figure(width: float = 7.5, height: float = 2.8) -> Figure:
    """A figure that is not attached to pyplot: no inline double display, thread-safe."""
    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def show_figure(out: widgets.Output, fig: Figure, summary: str = "") -> None:
    """Replace what ``out`` shows with ``fig`` (as PNG) and a one-line text summary."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    png = base64.b64encode(buf.getvalue()).decode()
    out.outputs = (
        {"output_type": "display_data", "data": {"image/png": png, "text/plain": summary}, "metadata": {}},
    )


def show_frame(out: widgets.Output, df: pd.DataFrame) -> None:
    """Replace what ``out`` shows with a table."""
    data = {"text/html": df.to_html(index=False), "text/plain": df.to_string(index=False)}
    out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


def key_colour(key: str | None, keys: list[str]) -> str:
    """One stable colour per key (grey for "no key")."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    if key is None:
        return "#9e9e9e"
    return palette[keys.index(key) % len(palette)] if key in keys else "#bcbd22"


def wait_until(cond: Callable[[], bool], timeout: float, what: str = "the condition") -> None:
    """Poll ``cond`` until it holds; raise after ``timeout`` seconds (for driving panels)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


class _Panel:
    """Displays as its ``widget``."""

    widget: widgets.Widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def stop(self) -> None:  # panels with background threads override this
        pass


#: Panels whose background threads may be running in this kernel (see `stop_all`).
_RUNNING: weakref.WeakSet[_Panel] = weakref.WeakSet()


def stop_all() -> None:
    """Stop every panel still running in this kernel.

    A lesson's set-up cell calls this first: re-running a notebook in the same kernel
    would otherwise leave the previous run's producers and consumers going, writing into
    the freshly recreated topics and joining the same consumer groups.
    """
    for panel in list(_RUNNING):
        panel.stop()
    _RUNNING.clear()


# --- lesson 01: a stream, live ---------------------------------------------------------

#: generator -> the field that is the event's key
GENERATORS: dict[str, tuple[Callable[..., Iterator[dict]], str]] = {
    "clicks": (events.clicks, "user_id"),
    "payments": (events.payments, "account_id"),
    "sensors": (events.sensors, "sensor_id"),
}


class StreamPanel(_Panel):
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
        _RUNNING.add(self)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.start_button.disabled, self.stop_button.disabled = False, True

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
        consumer = self.lab.consumer(enable_auto_commit=False)
        try:
            ends = self.lab.end_offsets(self.topic)
            tps = [TopicPartition(self.topic, p) for p in ends]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, ends[tp.partition])  # only what this run sends
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
                        self.latest.append(
                            {"partition": r.partition, "offset": r.offset, "key": r.key} | r.value
                        )
                done = self.received - received_before >= self.sent - sent_before
                if drain_until is not None and (done or now > drain_until):
                    break
                if now - last_draw > 0.5:
                    self.draw()
                    last_draw = now
        finally:
            producer.close(timeout=5)
            consumer.close()
        self.draw()

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
        show_figure(self.plot, fig, f"{self.sent} sent, {self.received} received")
        if self.latest:
            show_frame(self.table, pd.DataFrame(list(self.latest)))


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


class AcksPanel(_Panel):
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
        show_figure(self.plot, fig, df.to_string(index=False))


# --- lesson 02: partitions and keys -------------------------------------------------


#: Key names for the lanes picture, in an order whose first few spread over 2-4 partitions
#: (with other names, e.g. "key-A" and "key-B", the hash can put the first keys together).
LANE_KEYS = ["alice", "carol", "dave", "erin", "bob", "frank", "grace", "heidi"]


class LanesPanel(_Panel):
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
        consumer = self.lab.consumer(enable_auto_commit=False)
        try:
            tps = [TopicPartition(self.topic, p) for p in range(n_parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
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
            consumer.close()
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
        show_figure(self.plot, fig, f"events per partition: {sizes}")


def _box(x: float, y: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.9, 0.8, facecolor=colour, edgecolor="white")


class SkewPanel(_Panel):
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
        show_figure(self.plot, fig, f"load per partition: {self.loads}")


# --- lesson 03: consumer groups -----------------------------------------------------------


class _Member:
    """One consumer of the group, polling in its own thread (kafka-python consumers are
    not thread-safe, and a rebalance needs every member to poll at the same time)."""

    def __init__(self, panel: GroupPanel, name: str) -> None:
        self.panel, self.name = panel, name
        self.assignment: list[int] = []
        self.processed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"l03-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        panel = self.panel
        consumer = panel.lab.consumer(
            panel.topic, group_id=panel.group, client_id=self.name, enable_auto_commit=False
        )
        try:
            while not self.stop.is_set():
                batch = consumer.poll(timeout_ms=200, max_records=20)
                self.assignment = sorted(tp.partition for tp in consumer.assignment())
                for records in batch.values():
                    for r in records:
                        if panel.work_ms.value:
                            time.sleep(panel.work_ms.value / 1000)  # pretend to do some work
                        panel.seen(r.partition, r.offset)
                        self.processed += 1
                if batch:
                    try:
                        consumer.commit()  # "I have processed up to here"
                    except KafkaError:
                        pass  # the group rebalanced meanwhile; the new owner re-reads the rest
        finally:
            self.assignment = []
            consumer.close()  # leaves the group: the others rebalance at once


class GroupPanel(_Panel):
    """A consumer group you can grow and shrink while a producer keeps writing.

    Shows which consumer owns which partition (it changes at every rebalance) and each
    partition's lag over time. Lag = log end offset (``lab.end_offsets``) - the group's
    committed offset, read by a separate consumer that only asks for offsets and never
    joins the group.
    """

    def __init__(self, lab: Lab, topic: str, group: str, *, rate: int = 100, work_ms: int = 0) -> None:
        self.lab, self.topic, self.group = lab, topic, group
        self.rate = widgets.IntSlider(value=rate, min=0, max=500, step=10, description="produce/s")
        self.work_ms = widgets.IntSlider(value=work_ms, min=0, max=50, description="ms/event")
        self.add_button = widgets.Button(description="Add consumer", icon="plus", button_style="success")
        self.remove_button = widgets.Button(
            description="Remove consumer", icon="minus", button_style="warning"
        )
        self.stop_button = widgets.Button(description="Stop all", icon="stop", button_style="danger")
        self.status = widgets.HTML()
        self.plot, self.owners = widgets.Output(), widgets.Output()
        self.add_button.on_click(lambda _: self.add_consumer())
        self.remove_button.on_click(lambda _: self.remove_consumer())
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.rate, self.work_ms]),
                widgets.HBox([self.add_button, self.remove_button, self.stop_button]),
                self.status,
                widgets.HBox([self.plot, self.owners]),
            ]
        )
        self.partitions = lab.partitions(topic)
        self.members: list[_Member] = []
        self.produced = 0
        self.log_end_total = 0
        self.processed_offsets: set[tuple[int, int]] = set()
        self.duplicates = 0
        self.lag_history: list[tuple[float, dict[int, int]]] = []
        self.assignment_history: list[tuple[float, dict[str, list[int]]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._began = time.monotonic()
        self._names = 0
        self.draw()

    # the group's members
    def add_consumer(self) -> str:
        self._ensure_started()
        self._names += 1
        member = _Member(self, f"consumer-{self._names}")
        self.members.append(member)
        self.draw()
        return member.name

    def remove_consumer(self) -> str | None:
        if not self.members:
            return None
        member = self.members.pop()
        member.stop.set()
        member.thread.join(timeout=15)
        self.draw()
        return member.name

    def seen(self, partition: int, offset: int) -> None:
        with self._lock:
            if (partition, offset) in self.processed_offsets:
                self.duplicates += 1
            self.processed_offsets.add((partition, offset))

    @property
    def assignment(self) -> dict[str, list[int]]:
        return {m.name: list(m.assignment) for m in self.members}

    @property
    def lag(self) -> dict[int, int]:
        return self.lag_history[-1][1] if self.lag_history else {}

    @property
    def caught_up(self) -> bool:
        """The latest measurement shows no lag *and* counts every event produced so far
        (a lag of 0 measured just before the producer's last send does not count)."""
        return bool(self.lag) and sum(self.lag.values()) == 0 and self.log_end_total == self.produced

    # producer and monitor threads
    def _ensure_started(self) -> None:
        if self._threads:
            return
        _RUNNING.add(self)
        self._stop.clear()  # a stopped panel starts again on the next click
        self.lag_history, self.assignment_history = [], []
        self._began = time.monotonic()
        for target in (self._produce, self._monitor):
            thread = threading.Thread(target=target, name=f"l03-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> None:
        """Start the producer and the lag monitor (adding a consumer does this too)."""
        self._ensure_started()

    def _produce(self) -> None:
        producer = self.lab.producer()
        source = events.clicks(seed=3, start="now")
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                rate = self.rate.value
                if rate <= 0:
                    due = now
                    time.sleep(0.05)
                    continue
                while due <= now:
                    e = next(source)
                    producer.send(self.topic, key=e["user_id"], value=e)
                    self.produced += 1
                    due += 1 / rate
                due = max(due, now - 1)
                producer.flush()
                time.sleep(0.02)
        finally:
            producer.close(timeout=5)

    def committed(self, reader: Any) -> dict[int, int | None]:
        """The group's committed offset per partition (None: never committed)."""
        return {p: reader.committed(TopicPartition(self.topic, p)) for p in self.partitions}

    def _monitor(self) -> None:
        reader = self.lab.consumer(group_id=self.group, enable_auto_commit=False)  # never subscribes
        try:
            while not self._stop.wait(0.5):
                try:
                    ends = self.lab.end_offsets(self.topic)  # the true log end (high watermark)
                    done = self.committed(reader)
                except KafkaError:
                    continue
                lag = {p: ends[p] - (done[p] or 0) for p in self.partitions}
                self.log_end_total = sum(ends.values())
                t = round(time.monotonic() - self._began, 2)
                self.lag_history.append((t, lag))
                owners = self.assignment
                if not self.assignment_history or self.assignment_history[-1][1] != owners:
                    self.assignment_history.append((t, owners))
                self.draw()
        finally:
            reader.close()

    def wait_for(
        self, cond: Callable[[GroupPanel], bool], timeout: float = 20, what: str = "the group"
    ) -> None:
        wait_until(lambda: cond(self), timeout, what)

    def stop(self) -> None:
        """Stop every consumer, the producer and the monitor."""
        while self.members:
            self.remove_consumer()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
        self.draw()

    def draw(self) -> None:
        owners = self.assignment
        without = [m for m, parts in owners.items() if not parts]
        # no partitions while others own them all: idle; otherwise still joining the group
        all_owned = set(sum(owners.values(), [])) == set(self.partitions)
        waiting = f" &middot; {'idle' if all_owned else 'joining'}: {', '.join(without)}" if without else ""
        self.status.value = (
            f"{len(self.members)} consumer(s) in group <code>{self.group}</code> &middot; produced "
            f"{self.produced} &middot; processed {len(self.processed_offsets)} distinct"
            f"{f' ({self.duplicates} twice, after a rebalance)' if self.duplicates else ''}{waiting}"
        )
        fig = new_figure(6.2, 2.8)
        ax = fig.add_subplot()
        history = self.lag_history[-120:]
        if not history:
            ax.text(0.5, 0.5, "press Add consumer; lag appears here", ha="center", transform=ax.transAxes)
            ax.set_xticks([])
        for p in self.partitions:
            ax.plot([t for t, _ in history], [lag[p] for _, lag in history], label=f"partition {p}")
        for t, _ in self.assignment_history[1:]:
            if history and t >= history[0][0]:
                ax.axvline(t, color="grey", ls=":", lw=1)
        ax.set(
            xlabel="seconds (dotted: assignment changed)", ylabel="lag (events)", title="lag per partition"
        )
        ax.set_ylim(bottom=0)
        if history:
            ax.legend(fontsize=7, loc="upper left")
        show_figure(self.plot, fig, f"lag {self.lag}")
        rows = [
            {
                "partition": p,
                "owner": next((m for m, ps in owners.items() if p in ps), "-"),
                "lag": self.lag.get(p, "-"),
            }
            for p in self.partitions
        ]
        show_frame(self.owners, pd.DataFrame(rows))


# --- lesson 04: replay -----------------------------------------------------------------


class ReplayPanel(_Panel):
    """Replay a topic of transactions from the beginning, from an offset, or from a point
    in time, and rebuild the account balances from what is replayed, live."""

    def __init__(self, lab: Lab, topic: str, marks: dict[str, int] | None = None) -> None:
        self.lab, self.topic = lab, topic
        self.marks = dict(marks or {})
        self.mode = widgets.ToggleButtons(options=["beginning", "offset", "time"], description="replay from")
        ends = lab.end_offsets(topic)
        self.offset = widgets.IntSlider(value=0, min=0, max=max(ends.values()), description="offset")
        self.when = widgets.Dropdown(options=list(self.marks.items()) or [("now", int(time.time() * 1000))])
        self.when.description = "time"
        self.replay_button = widgets.Button(description="Replay", icon="history", button_style="primary")
        self.status = widgets.HTML()
        self.plot = widgets.Output()
        self.replay_button.on_click(lambda _: self.replay())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.mode, self.replay_button]),
                widgets.HBox([self.offset, self.when]),
                self.status,
                self.plot,
            ]
        )
        self.balances: dict[str, int] = {}
        self.replayed = 0
        self.started_at: dict[int, int] = {}

    def replay(self) -> dict[str, int]:
        """Seek every partition as the controls say, read to the log end, rebuild balances."""
        ends = self.lab.end_offsets(self.topic)
        tps = [TopicPartition(self.topic, p) for p in ends]
        consumer = self.lab.consumer(enable_auto_commit=False)  # no group: we choose where to read
        self.balances, self.replayed = {}, 0
        try:
            consumer.assign(tps)
            if self.mode.value == "beginning":
                consumer.seek_to_beginning(*tps)
            elif self.mode.value == "offset":
                for tp in tps:
                    consumer.seek(tp, min(self.offset.value, ends[tp.partition]))
            else:
                found = consumer.offsets_for_times({tp: self.when.value for tp in tps})
                for tp in tps:
                    hit = found.get(tp)
                    # None: nothing stored at or after that time, so start at the log end
                    consumer.seek(tp, hit.offset if hit is not None else ends[tp.partition])
            self.started_at = {tp.partition: consumer.position(tp) for tp in tps}
            pending = {tp for tp in tps if self.started_at[tp.partition] < ends[tp.partition]}
            deadline = time.monotonic() + 20
            while pending and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=200, max_records=30).items():
                    for r in records:
                        if r.offset < ends[tp.partition]:
                            apply_transaction(self.balances, r.value)
                            self.replayed += 1
                    if consumer.position(tp) >= ends[tp.partition]:
                        pending.discard(tp)
                self.draw()
        finally:
            consumer.close()
        self.draw()
        return self.balances

    def draw(self) -> None:
        self.status.value = (
            f"replayed {self.replayed} events, starting at offsets {self.started_at} (partition: offset)"
        )
        accounts = sorted(self.balances)
        fig = new_figure(7, 2.6)
        ax = fig.add_subplot()
        values = [self.balances[a] / 100 for a in accounts]
        ax.bar(accounts, values, color=["#2ca02c" if v >= 0 else "#d62728" for v in values])
        ax.axhline(0, color="black", lw=0.6)
        ax.set(ylabel="balance (EUR)", title=f"balances rebuilt from {self.replayed} replayed events")
        show_figure(self.plot, fig, json.dumps(self.balances, sort_keys=True))
