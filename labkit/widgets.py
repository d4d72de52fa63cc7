"""Live pictures: small building blocks that work in a notebook and degrade to text.

Everything here draws into an ``ipywidgets.Output`` when running under IPython, and
prints plain text otherwise (CLI, tests), so the same helper serves both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pandas as pd

from .errors import UnknownTopic


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


OK = "<span style='color:#1a7f37'>&#x25CF;</span>"  # a green dot: renders without emoji fonts
FAIL = "<span style='color:#cf222e'>&#x25CF;</span>"


def redraw(out, fig) -> None:
    """Replace what ``out`` (an ``ipywidgets.Output``) shows with ``fig``, then close it.

    Safe from a background thread (a button callback, a live loop): ``with out:`` is not,
    because it captures by the *current* message, which a thread does not have.
    """
    import matplotlib.pyplot as plt

    out.outputs = ()
    out.append_display_data(fig)
    plt.close(fig)


@contextlib.contextmanager
def live_table(title: str, last: int = 10) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Yield a ``show(df)`` function that redraws the newest ``last`` rows in place."""
    if not in_notebook():
        seen = 0

        def show_text(df: pd.DataFrame) -> None:
            nonlocal seen
            for _, row in df.iloc[seen:].iterrows():
                print(f"{title}: {row.to_dict()}")
            seen = len(df)

        yield show_text
        return

    import ipywidgets as widgets
    from IPython.display import display

    header = widgets.HTML(f"<b>{title}</b>: waiting for events...")
    out = widgets.Output()
    display(widgets.VBox([header, out]))

    def show(df: pd.DataFrame) -> None:
        header.value = f"<b>{title}</b>: {len(df)} events"
        with out:
            out.clear_output(wait=True)
            display(df.tail(last))

    yield show


# --- lesson 00: the lab's health panel ------------------------------------------------


class HealthPanel:
    """Broker, topics, and a button that sends one event app -> Kafka -> Flink -> Kafka ->
    notebook and shows how long the trip took.

    The Flink job that does the middle hop is started by the notebook (so the learner
    sees its SQL); the panel only sends to ``send_topic`` and waits on ``receive_topic``.
    A click runs in a background thread, so the notebook stays responsive while the
    first event waits for Flink to start; `send_event` is the same trip, synchronously,
    for cells and tests.
    """

    def __init__(self, lab, send_topic: str, receive_topic: str) -> None:
        import ipywidgets as widgets

        self.lab = lab
        self.send_topic = send_topic
        self.receive_topic = receive_topic
        self.trips: list[dict] = []
        self.thread = None
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

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> dict:
        """Re-read the cluster's status and topics into the panel; returns the status."""
        from .health import render

        st = self.lab.status()
        self.status.value = f"{OK if st['running'] else FAIL} " + render(st)
        rows = ""
        for t in self.lab.topics():
            try:
                count = sum(self.lab.end_offsets(t).values())
            except UnknownTopic:  # deleted since it was listed (another notebook)
                continue
            rows += f"<tr><td><code>{t}</code></td><td>{count}</td></tr>"
        self.topics.value = f"<table><tr><th>topic</th><th>events</th></tr>{rows}</table>"
        return st

    def send_event(self, timeout: float = 60.0) -> dict:
        """Send one event and wait for Flink's answer; returns the trip's measurements."""
        import time
        import uuid

        from kafka import TopicPartition

        trip_id = uuid.uuid4().hex[:8]
        ends = self.lab.end_offsets(self.receive_topic)
        consumer = self.lab.consumer(enable_auto_commit=False)
        try:
            tps = [TopicPartition(self.receive_topic, p) for p in ends]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, ends[tp.partition])
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
        finally:
            consumer.close()

    def _send_in_background(self) -> None:
        import threading

        def work() -> None:
            try:
                self.send_event()
            except Exception as exc:  # noqa: BLE001 - shown to the learner, not lost
                self.result.value = f"<b style='color:#cf222e'>{type(exc).__name__}</b>: {exc}"
            self.refresh()

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def _show(self, trip: dict) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        self.result.value = (
            f"{OK} Flink answered <code>{trip['answer']}</code> "
            f"after <b>{trip['latency_s'] * 1000:.0f} ms</b> end to end."
        )
        fig, ax = plt.subplots(figsize=(6, 2.2))
        ax.bar(range(1, len(self.trips) + 1), [t["latency_s"] * 1000 for t in self.trips], color="#4c72b0")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("event #")
        ax.set_ylabel("ms")
        ax.set_title("end-to-end latency (the first includes Flink's start-up)")
        fig.tight_layout()
        redraw(self.plot, fig)
