"""`Explorer`: the Kafka explorer widget that ``lab.explore()`` shows.

    lab.explore()                 # topics, messages, groups, brokers - live, read-only

Four tabs, refreshed every ``every`` seconds by a background thread (Pause stops it):

* **Topics** - partitions, replication, messages stored, offsets, size on disk, retention
  and compaction settings;
* **Messages** - one partition from the beginning, the end, an offset or a time: offset,
  timestamp, key, headers and value (JSON pretty-printed, other bytes as bytes); *live
  tail* appends what arrives;
* **Groups** - each consumer group's state and members, and per partition the member that
  reads it, the committed offset, the end offset and the lag (with a bar), live;
* **Brokers** - the picture of leaders, replicas and ISR (:mod:`labkit.explorer.brokers`).

Everything comes from the Kafka protocol (`labkit.explorer.cluster.snapshot`, a consumer
with no group for messages): it works on every backend, with one broker or three, and never
writes. A widget's value changes only when what it shows changed, so an idle explorer sends
nothing to the browser and redraws no picture.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from ..errors import LabError
from ..panels.base import FAIL, OK, Pace, Panel, render
from . import brokers as brokers_picture
from .cluster import Snapshot, snapshot
from .messages import COLUMNS, MessageBrowser

if TYPE_CHECKING:
    from ..kafka import KafkaHelpers

#: Rows the message table keeps while tailing (the oldest scroll away).
KEEP_MESSAGES = 200
#: Characters of a value shown before it is cut (the cut says how long the value is).
VALUE_CHARS = 600
ALL_REPLICATED = "(all topics)"
#: While nothing changes, refreshes slow down to this many times ``every`` (see `Pace`).
SLOWEST = 4
#: The explorer's tabs, in order (``lab.explore(tab=...)`` opens on one).
TABS = ("topics", "messages", "groups", "brokers")


def size(n: float) -> str:
    """Bytes for people: 0 B, 12.3 KB, 4.0 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def duration_ms(value: str | None) -> str:
    """A retention setting in ms for people: -1 is "forever", 604800000 is "7 d"."""
    if value in (None, ""):
        return ""
    ms = int(str(value))
    if ms < 0:
        return "forever"
    for unit, length in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= length and ms % length == 0:
            return f"{ms // length} {unit}"
    return f"{ms} ms"


def retention_bytes(value: str | None) -> str:
    return "" if value in (None, "") else "no limit" if int(str(value)) < 0 else size(int(str(value)))


def table(df: pd.DataFrame, empty: str) -> str:
    """An HTML table in JupyterLab's own style (what a DataFrame looks like), or ``empty``."""
    if df.empty:
        return f"<i>{html.escape(empty)}</i>"
    body = df.to_html(index=False, escape=False, border=0, na_rep="")
    return f"<div class='jp-RenderedHTMLCommon' style='max-height:420px;overflow:auto'>{body}</div>"


def topics_html(snap: Snapshot) -> str:
    shown = pd.DataFrame(
        {
            "topic": snap.topics.topic.map(html.escape),
            "partitions": snap.topics.partitions,
            "replicas": snap.topics.replication,
            "messages": snap.topics.messages,
            "offsets (start..end)": [
                f"{s}..{e}" for s, e in zip(snap.topics.start, snap.topics.end, strict=True)
            ],
            "on disk": snap.topics.size_bytes.map(size),
            "cleanup.policy": snap.topics["cleanup.policy"],
            "retention.ms": snap.topics["retention.ms"].map(duration_ms),
            "retention.bytes": snap.topics["retention.bytes"].map(retention_bytes),
        }
    )
    return table(shown, "No topics yet: lab.create_topic('name') makes one.")


def lag_bar(lag: Any, biggest: int) -> str:
    """The lag as a number and a bar (the bars of one table share a scale)."""
    if lag is None or pd.isna(lag):
        return "<span title='nothing committed yet'>-</span>"
    width = 0 if biggest <= 0 else max(1, round(120 * int(lag) / biggest)) if lag else 0
    bar = f"<span style='display:inline-block;width:{width}px;height:0.8em;background:#d4a72c'></span>"
    return f"{int(lag)} {bar}"


def groups_html(snap: Snapshot) -> str:
    if snap.groups.empty:
        return "<i>No consumer groups yet: a consumer with a group_id makes one.</i>"
    summary = snap.groups.rename(columns={"lag": "total lag"})
    lag = snap.lag.copy()
    biggest = int(pd.to_numeric(lag.lag, errors="coerce").fillna(0).max()) if len(lag) else 0
    lag["lag"] = [lag_bar(v, biggest) for v in lag.lag]
    lag["committed"] = [("-" if v is None or pd.isna(v) else str(int(v))) for v in lag.committed]
    lag["member"] = lag.member.map(lambda m: html.escape(m) if m else "<i>none</i>")
    return (
        table(summary, "")
        + "<p><b>Lag per partition</b> (end offset - committed offset)</p>"
        + table(lag, "")
    )


def value_cell(text: str, kind: str) -> str:
    """A value in the message table: pre-formatted, cut after `VALUE_CHARS` (and said so)."""
    cut = text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + f"... ({len(text)} characters)"
    colour = {"bytes": "#953800", "null": "#57606a"}.get(kind, "inherit")
    style = f"margin:0;text-align:left;white-space:pre-wrap;background:transparent;color:{colour}"
    # a newline as a character reference: pandas' to_html writes a raw one as the two characters \\n
    return f"<pre style='{style}'>{html.escape(cut).replace(chr(10), '&#10;')}</pre>"


def messages_html(df: pd.DataFrame) -> str:
    if df.empty:
        return (
            "<i>No records here (yet): pick a topic and a start, then Show; live tail waits for new ones.</i>"
        )
    shown = pd.DataFrame(
        {
            "offset": df.offset,
            "timestamp (UTC)": df.timestamp.dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3],
            "key": df.key.map(lambda k: "" if k is None else html.escape(str(k))),
            "headers": df.headers.map(
                lambda h: "" if not h else html.escape(", ".join(f"{k}={v}" for k, v in h.items()))
            ),
            "value": [value_cell(t, k) for t, k in zip(df.value, df.format, strict=True)],
            "format": df.format,
        }
    )
    return table(shown, "")


class Explorer(Panel):
    """The Kafka explorer (see the module docstring). ``kafka`` is a lab handle (or lesson
    04b's trio): anything with Kafka helpers."""

    def __init__(
        self, kafka: KafkaHelpers, *, every: float = 2.0, internal: bool = False, tab: str = "topics"
    ) -> None:
        if not 0.5 <= every <= 60:
            raise LabError(f"every={every}: refresh between every 0.5 and 60 seconds.")
        if tab.lower() not in TABS:
            raise LabError(f"tab={tab!r}: one of {', '.join(TABS)}.")
        self.kafka = kafka
        self.every = every
        self.pace = Pace(every, SLOWEST * every)
        self.changed = True  # whether the last refresh found something new
        self.internal = internal
        self.snap: Snapshot | None = None
        self.error = ""
        self.refreshes = 0
        self.wakeups = 0  # times the refresh thread woke up (paused or not)
        self.pictures = 0  # brokers pictures drawn (redrawn only when they change)
        self.messages = pd.DataFrame(columns=COLUMNS)
        self.browser = MessageBrowser(kafka)
        self._admin: Any = None
        self._offsets: Any = None  # a consumer with no group: asks for log start/end offsets
        self._picture_key: tuple | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._build()
        self.tabs.selected_index = TABS.index(tab.lower())
        self.refresh()
        self.thread = threading.Thread(target=self._run, name="labkit-explorer", daemon=True)
        self.started()
        self.thread.start()

    # --- widgets ----------------------------------------------------------------------

    def _build(self) -> None:
        self.pause = widgets.ToggleButton(description="Pause", icon="pause", tooltip="stop refreshing")
        self.header = widgets.HTML()
        self.topics_view = widgets.HTML()
        self.topic = widgets.Dropdown(description="topic", layout=widgets.Layout(width="280px"))
        self.partition = widgets.Dropdown(
            description="partition", options=[0], layout=widgets.Layout(width="160px")
        )
        self.start_at = widgets.ToggleButtons(
            options=["beginning", "end", "offset", "time"], value="beginning"
        )
        self.start_at.style.button_width = "90px"
        self.offset = widgets.BoundedIntText(
            value=0, min=0, max=2**62, description="offset", layout=widgets.Layout(width="200px")
        )
        self.time = widgets.Text(
            placeholder="2026-12-05 10:00:00 (UTC)", description="time", layout=widgets.Layout(width="300px")
        )
        self.show_button = widgets.Button(description="Show", icon="search", button_style="primary")
        self.more_button = widgets.Button(description="Next page", icon="forward")
        self.follow = widgets.Checkbox(description="live tail", value=False, indent=False)
        self.where = widgets.HTML()
        self.messages_view = widgets.HTML(messages_html(self.messages))
        self.groups_view = widgets.HTML()
        self.brokers_topic = widgets.Dropdown(
            description="topic", options=[ALL_REPLICATED], layout=widgets.Layout(width="280px")
        )
        self.brokers_view = widgets.Output()
        self.brokers_line = widgets.HTML()

        self.topic.observe(lambda _: self._topic_changed(), names="value")
        self.show_button.on_click(lambda _: self._said(self.show_messages))
        self.more_button.on_click(lambda _: self._said(self.next_page))
        self.brokers_topic.observe(lambda _: self._draw_brokers(force=True), names="value")
        self.pause.observe(lambda _: self._header(), names="value")
        for control in (self.follow, self.pause):  # the learner acts: refresh now, then often
            control.observe(lambda _: self.pace.now(), names="value")

        messages = widgets.VBox(
            [
                widgets.HBox([self.topic, self.partition]),
                widgets.HBox([self.start_at, self.offset, self.time]),
                widgets.HBox([self.show_button, self.more_button, self.follow]),
                self.where,
                self.messages_view,
            ]
        )
        brokers = widgets.VBox([self.brokers_topic, self.brokers_line, self.brokers_view])
        self.tabs = widgets.Tab(children=[self.topics_view, messages, self.groups_view, brokers])
        self.tabs.observe(lambda _: self.pace.now(), names="selected_index")
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title.capitalize())
        self.widget = widgets.VBox([widgets.HBox([self.pause, self.header]), self.tabs])

    def _header(self) -> None:
        snap = self.snap
        dot = FAIL if self.error or snap is None or snap.errors else OK
        if snap is None:
            text = f"Kafka at {html.escape(self.kafka.bootstrap_servers)}: {html.escape(self.error)}"
        else:
            up = int(snap.brokers.alive.sum())
            state = "paused" if self.pause.value else f"refreshed {self.pace}"
            when = time.strftime("%H:%M:%S", time.localtime(snap.taken))
            where = html.escape(self.kafka.bootstrap_servers)
            text = (
                f"Kafka at {where}: {up} of {len(snap.brokers)} brokers up,"
                f" {len(snap.topics)} topics, {len(snap.groups)} groups - at {when}, {state}"
            )
            if self.error:
                text += f"<br><b>Not refreshed:</b> {html.escape(self.error)}"
            elif snap.errors:
                text += f"<br><b>Partly answered:</b> {html.escape('; '.join(snap.errors))}"
        self.header.value = f"{dot} {text}"

    # --- refreshing -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self.pace.wait()
            if self._stop.is_set():
                return
            self.wakeups += 1
            if not self.pause.value:
                with contextlib.suppress(Exception):  # errors are shown by refresh itself
                    self.refresh()
                self.pace.changed(self.changed)

    def refresh(self) -> Snapshot | None:
        """Ask the cluster again and update every tab (and the live tail); returns the new
        snapshot (None if Kafka could not answer: the header then says why)."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = self.kafka.admin()
                    self._offsets = self.kafka.consumer(enable_auto_commit=False)
                snap = snapshot(
                    self._admin, consumer=self._offsets, previous=self.snap, internal=self.internal
                )
            except Exception as exc:  # noqa: BLE001 - a broker down: said in the header, retried
                self.error = f"{type(exc).__name__}: {exc}".strip()[:300]
                self._close_admin()
                self._header()
                return None
            before, self.snap, self.error = self.snap, snap, ""
            self.refreshes += 1
            # building HTML costs more CPU than asking Kafka: only when something changed
            topics = before is None or not before.topics.equals(snap.topics)
            groups = before is None or not (before.groups.equals(snap.groups) and before.lag.equals(snap.lag))
            if topics:
                self.topics_view.value = topics_html(snap)
            if groups:
                self.groups_view.value = groups_html(snap)
            self._options(snap)
            drawn = self._draw_brokers()
            tailed = self._tail() if self.follow.value else False
            self.changed = topics or groups or drawn or tailed
            self._header()
            return snap

    def _options(self, snap: Snapshot) -> None:
        """Keep the topic lists current, and the learner's choice where it still exists."""
        topics = list(snap.topics.topic)
        if tuple(self.topic.options) != tuple(topics):
            keep = self.topic.value if self.topic.value in topics else (topics[0] if topics else None)
            self.topic.options = topics
            self.topic.value = keep
        choices = [ALL_REPLICATED, *topics]
        if tuple(self.brokers_topic.options) != tuple(choices):
            keep = self.brokers_topic.value if self.brokers_topic.value in choices else ALL_REPLICATED
            self.brokers_topic.options = choices
            self.brokers_topic.value = keep

    def _topic_changed(self) -> None:
        snap, topic = self.snap, self.topic.value
        if snap is None or topic is None:
            return
        parts = sorted(int(p) for p in snap.partitions.partition[snap.partitions.topic == topic])
        if tuple(self.partition.options) != tuple(parts):
            self.partition.options = parts or [0]

    def _draw_brokers(self, force: bool = False) -> bool:
        """Redraw the brokers picture if what it shows changed; whether it did."""
        snap = self.snap
        if snap is None:
            return False
        topic = None if self.brokers_topic.value == ALL_REPLICATED else self.brokers_topic.value
        key = brokers_picture.key(snap, topic)
        if key == self._picture_key and not force:
            return False
        self._picture_key = key
        line = brokers_picture.summary(snap, topic)
        self.brokers_line.value = html.escape(line)
        render(brokers_picture.draw(snap, topic), self.brokers_view, line)
        self.pictures += 1
        return True

    # --- messages ---------------------------------------------------------------------

    def start(self) -> Any:
        """Where the Messages tab starts reading, from its controls."""
        if self.start_at.value == "offset":
            return int(self.offset.value)
        if self.start_at.value == "time":
            if not self.time.value.strip():
                raise LabError("Type a time first, e.g. 2026-12-05 10:00:00 (UTC).")
            return self.time.value.strip()
        return self.start_at.value

    def show_messages(self) -> pd.DataFrame:
        """What Show does: open the chosen partition at the chosen start; the first page."""
        try:
            if self.topic.value is None:
                raise LabError("No topic to show: there are none yet.")
            page = self.browser.open(self.topic.value, int(self.partition.value), self.start())
        except Exception as exc:  # noqa: BLE001 - a bad offset or time: said where the learner looks
            self.where.value = f"{FAIL} {html.escape(str(exc))}"
            raise
        self.messages = page
        self._show_page()
        return page

    def _said(self, action: Any) -> None:
        """A button's action: its error is shown above the table (`show_messages` put it
        there), not raised into the widget manager's log where a learner never looks."""
        with contextlib.suppress(Exception):
            action()

    def next_page(self) -> pd.DataFrame:
        """What Next page does: the records after the ones shown."""
        if self.browser.where is None:
            return self.show_messages()
        try:
            page = self.browser.more()
        except Exception as exc:  # noqa: BLE001 - e.g. the broker went away: said, then raised
            self.where.value = f"{FAIL} {html.escape(str(exc))}"
            raise
        if len(page):
            self.messages = page
        self._show_page()
        return page

    def _tail(self) -> bool:
        """Append what arrived since (live tail); whether anything did."""
        if self.browser.where is None:
            return False
        new = self.browser.tail()
        if len(new):
            both = pd.concat([self.messages, new], ignore_index=True) if len(self.messages) else new
            self.messages = both.tail(KEEP_MESSAGES).reset_index(drop=True)
            self._show_page()
        return bool(len(new))

    def _show_page(self) -> None:
        tp = self.browser.where
        first, end = self.browser.bounds()
        if self.messages.empty:
            span = "no records from there"
        else:
            span = f"offsets {self.messages.offset.iloc[0]}-{self.messages.offset.iloc[-1]} shown"
        where = f"{tp.topic} partition {tp.partition}" if tp else ""
        self.where.value = (
            f"{OK} {html.escape(where)}: {span}; stored {first}..{end - 1 if end else 0} (next: {end})"
        )
        self.messages_view.value = messages_html(self.messages)

    # --- stopping ---------------------------------------------------------------------

    def _close_admin(self) -> None:
        clients, self._admin, self._offsets = (self._admin, self._offsets), None, None
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def stop(self) -> None:
        """Stop refreshing and close the explorer's Kafka clients."""
        self._stop.set()
        self.pace.close()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=15)
        with self._lock:
            self._close_admin()
        self.browser.close()
        super().stop()
