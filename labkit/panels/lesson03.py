"""Lesson 03's panel ("Consumer groups"): a group you grow and shrink while a producer writes,
and the lesson's poll loops (`join`, `poll_until`).

`GroupPanel` runs each member consumer in its own thread (kafka-python consumers are not
thread-safe, and a rebalance needs every member polling), a producer and a lag monitor;
it plots each partition's lag over time (dotted: the assignment changed) and keeps its
history (``lag_history``, ``assignment_history``, ``processed_offsets``) for cells and tests.
Who owns which partition now, and its lag, the lesson shows in the Kafka explorer
(``lab.explore("groups")``), as a Kafka UI shows any group.

`join` and `poll_until` are the loops the lesson's cells would otherwise spell out each
time: ``consumer.poll()`` until the group has assigned the consumer its partitions, and
until it has returned so many records or reached the log end. They return the records the
polls returned, so a cell counts what the consumer really got.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from kafka import TopicPartition
from kafka.errors import KafkaError

from .. import events, waiting
from ..errors import LabError
from .base import Panel, new_figure, render

if TYPE_CHECKING:
    from ..lab import Lab


def join(consumer: Any, timeout: float = 60) -> list[Any]:
    """Poll a subscribed ``consumer`` until its group has assigned it partitions; returns
    the records those polls returned (none where it starts at the log end)."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise LabError(f"Timed out after {timeout:.0f} s waiting for the group to assign partitions.")
        got += [r for records in consumer.poll(timeout_ms=200).values() for r in records]
    return got


def poll_until(consumer: Any, most: int | None = None, timeout: float = 60) -> list[Any]:
    """``consumer.poll()`` until it has returned ``most`` records, or until its position
    has reached the log end of every partition it is assigned (the log end when it got
    them), whichever comes first; returns the records, in the order the polls returned
    them. It never returns more than ``most`` (``poll(max_records=...)``), so a consumer
    that commits afterwards commits exactly what it got. A `LabError` after ``timeout`` s.
    """
    got: list[Any] = []
    ends: dict[Any, int] = {}
    deadline = time.monotonic() + timeout
    while most is None or len(got) < most:
        mine = consumer.assignment()
        if mine:
            if set(ends) != mine:  # just assigned (or reassigned): where the log ends now
                ends = consumer.end_offsets(list(mine))
            if all(consumer.position(tp) >= ends[tp] for tp in mine):
                break
        if time.monotonic() > deadline:
            raise LabError(
                f"Timed out after {timeout:.0f} s: the consumer got {len(got)} records"
                + (f" of {most}" if most is not None else "")
                + (", and has not reached the log end." if mine else "; no partitions assigned to it yet.")
            )
        left = None if most is None else most - len(got)
        batch = consumer.poll(timeout_ms=200, max_records=left)
        got += [r for records in batch.values() for r in records]
    return got


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


class GroupPanel(Panel):
    """A consumer group you can grow and shrink while a producer keeps writing.

    Shows each partition's lag over time; dotted lines mark a change of who owns which
    partition (a rebalance). Lag = log end offset - the group's committed offset, both
    read by a separate consumer that only asks for offsets and never joins the group.
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
        self.plot = widgets.Output()
        self.add_button.on_click(lambda _: self.add_consumer())
        self.remove_button.on_click(lambda _: self.remove_consumer())
        self.stop_button.on_click(lambda _: self.stop())
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.rate, self.work_ms]),
                widgets.HBox([self.add_button, self.remove_button, self.stop_button]),
                self.status,
                self.plot,
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
        self.started()
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
        tps = [TopicPartition(self.topic, p) for p in self.partitions]
        try:
            while not self._stop.wait(0.5):
                try:
                    # the true log end (high watermark), asked of this same consumer
                    ends = {tp.partition: end for tp, end in reader.end_offsets(tps).items()}
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
        """Wait until ``cond(panel)`` holds; a `LabError` naming ``what`` after ``timeout`` s."""
        waiting.wait_for(lambda: cond(self), what, timeout, every=0.1)

    def stop(self) -> None:
        """Stop every consumer, the producer and the monitor."""
        while self.members:
            self.remove_consumer()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
        super().stop()
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
            # a marker on each sample: the first one, alone, is a dot and not an empty frame
            lags = [lag[p] for _, lag in history]
            ax.plot([t for t, _ in history], lags, marker="o", markersize=2.5, label=f"partition {p}")
        for t, _ in self.assignment_history[1:]:
            if history and t >= history[0][0]:
                ax.axvline(t, color="grey", ls=":", lw=1)
        ax.set(
            xlabel="seconds (dotted: assignment changed)", ylabel="lag (events)", title="lag per partition"
        )
        ax.set_ylim(bottom=0)
        if history:
            ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        render(fig, self.plot, f"lag {self.lag}")
