"""The explorer's message browser: one partition, read from a chosen position, a page at a
time, then followed live (tail) - and every record shown, whatever its bytes.

A ``KafkaConsumer`` with no group (nothing committed, no other reader disturbed) is
*assigned* the partition and *seeks*: to the log start ("beginning"), to one page before
the end ("end": the newest records), to an offset, or to the first record at or after a
time (``offsets_for_times``, Kafka's time index). The same consumer then keeps reading:
`more` is the next page, `tail` whatever arrived since.

Values are shown as they are stored: JSON pretty-printed, anything else as Python bytes
(``b'\\xff\\x00...'``), a tombstone as ``null``; a value is never dropped or "fixed".
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd
from kafka import KafkaConsumer, TopicPartition

from ..errors import LabError, UnknownTopic
from ..records import timestamp_ms

if TYPE_CHECKING:
    from ..kafka import KafkaHelpers

COLUMNS = ["offset", "timestamp", "key", "headers", "value", "format"]
#: Records a page shows.
PAGE = 20

Start: TypeAlias = str | int | datetime | pd.Timestamp


def show_bytes(raw: bytes | None) -> tuple[str, str]:
    """``(text, format)`` of a stored value: ``"json"`` pretty-printed, ``"bytes"`` as a
    bytes literal (text that is not JSON included: that is what a JSON reader would choke
    on), ``"null"`` for no value (a tombstone)."""
    if raw is None:
        return "null", "null"
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False), "json"
    except (ValueError, UnicodeDecodeError):
        return repr(bytes(raw)), "bytes"


def show_key(raw: bytes | None) -> str | None:
    """A key as text when it is UTF-8 (most keys are ids), else as a bytes literal."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return repr(bytes(raw))


def row(record: Any) -> dict:
    """One browser row of a kafka-python ``ConsumerRecord`` (read with no deserializers)."""
    text, kind = show_bytes(record.value)
    headers = {k: show_key(v) for k, v in record.headers or []}
    return {
        "offset": record.offset,
        "timestamp": pd.Timestamp(record.timestamp, unit="ms", tz="UTC"),
        "key": show_key(record.key),
        "headers": headers or None,
        "value": text,
        "format": kind,
    }


class MessageBrowser:
    """Reads one partition of one topic from a chosen position (see the module docstring).

    ``kafka`` is a lab (or lesson 04b's trio): the browser reads through its ``consumer()``,
    so a learner on a classroom's Kafka browses the topics the explorer lists, by the
    lesson's names. Safe to use from a widget callback and a refresh thread at once (one
    lock around the consumer).
    """

    def __init__(self, kafka: KafkaHelpers, page: int = PAGE) -> None:
        self.kafka = kafka
        self.page = page
        self.where: TopicPartition | None = None
        self.next_offset = 0
        self._consumer: KafkaConsumer | None = None
        self._lock = threading.Lock()

    def consumer(self) -> KafkaConsumer:
        """The browser's consumer: no group, nothing committed, raw bytes."""
        if self._consumer is None:
            self._consumer = self.kafka.consumer(
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,
                max_poll_records=self.page,
                key_deserializer=None,  # bytes as stored: the browser shows what they are
                value_deserializer=None,
            )
        return self._consumer

    def bounds(self) -> tuple[int, int]:
        """(log start, end) of the open partition now."""
        if self.where is None:
            raise LabError("No partition open: call open(topic, partition, start) first.")
        with self._lock:
            return self._bounds(self.where)

    def _bounds(self, tp: TopicPartition) -> tuple[int, int]:
        consumer = self.consumer()
        return consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]

    def open(self, topic: str, partition: int = 0, start: Start = "beginning") -> pd.DataFrame:
        """Position on ``topic``'s ``partition`` at ``start`` and return the first page.

        ``start``: ``"beginning"`` (the oldest record still stored), ``"end"`` (the newest
        page), an offset (an int; past the end means "wait for new records"), or a time (a
        datetime, pandas Timestamp or ISO text: the first record at or after it).
        """
        with self._lock:
            consumer = self.consumer()
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise UnknownTopic(
                    f"No topic {topic!r} on the broker (the explorer lists the topics there are)."
                )
            if partition not in partitions:
                raise LabError(f"Topic {topic!r} has partitions {sorted(partitions)}, not {partition}.")
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            self.where = tp
            first, end = self._bounds(tp)
            offset = self._position(tp, start, first, end)
            consumer.seek(tp, offset)
            self.next_offset = offset
            return self._read(min(end, offset + self.page) if offset < end else offset)

    def _position(self, tp: TopicPartition, start: Start, first: int, end: int) -> int:
        if isinstance(start, bool):
            raise LabError(f"start={start!r}: give 'beginning', 'end', an offset or a time.")
        if isinstance(start, int):
            if start < 0:
                raise LabError(f"Offsets start at 0; {start} is not one. Use 'end' for the newest records.")
            return max(start, first)
        if start == "beginning":
            return first
        if start == "end":
            return max(first, end - self.page)
        try:
            when = timestamp_ms(start)
        except (ValueError, TypeError) as exc:
            raise LabError(f"start={start!r}: give 'beginning', 'end', an offset or a time ({exc}).") from exc
        found = self.consumer().offsets_for_times({tp: when})[tp]
        return end if found is None else found.offset  # none that late: from the end on

    def _read(self, until: int) -> pd.DataFrame:
        """Records from the current position up to offset ``until`` (or one page), with a
        deadline: a page is there within a second or it is not there."""
        consumer = self.consumer()
        assert self.where is not None
        rows: list[dict] = []
        for _ in range(20):  # each poll waits at most 50 ms on the broker (fetch_max_wait_ms)
            if self.next_offset >= until or len(rows) >= self.page:
                break
            batch = consumer.poll(timeout_ms=100, max_records=self.page - len(rows))
            rows.extend(row(record) for record in batch.get(self.where, []))
            # the position, not the last offset + 1: it steps over transaction markers
            self.next_offset = consumer.position(self.where)
        return pd.DataFrame(rows, columns=COLUMNS)

    def more(self) -> pd.DataFrame:
        """The next page from where the last one ended (empty at the end of the log)."""
        _, end = self.bounds()
        with self._lock:
            return self._read(min(end, self.next_offset + self.page))

    def tail(self) -> pd.DataFrame:
        """Whatever arrived since the last page (empty if nothing did): one short poll."""
        if self.where is None:
            return pd.DataFrame(columns=COLUMNS)
        with self._lock:
            batch = self.consumer().poll(timeout_ms=0, max_records=self.page)
            rows = [row(r) for r in batch.get(self.where, [])]
            self.next_offset = self.consumer().position(self.where)
            return pd.DataFrame(rows, columns=COLUMNS)

    def close(self) -> None:
        """Close the consumer (a later `open` makes a new one)."""
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
            self.where = None
