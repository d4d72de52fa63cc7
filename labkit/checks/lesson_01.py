"""Lesson 01's exercise (notebooks/01_events.ipynb, "Exercise": the cell
``checks.lesson_01_produce(lab, forward)``): move events from one topic to another, all four
parts of each kept.

The learner writes ``forward(source, target)``. The check makes a source topic of payments
the learner has never seen (a random number of them, random accounts, timestamps on a random
day in the past, headers with random values), calls ``forward``, and reads the target back:
the same events in the same order, each with its key, its timestamp and its headers. Only
reading the records from Kafka and sending each one on passes: nothing can be typed in
advance, and a record that loses a part (its timestamp becomes the send time, its headers
vanish) is caught.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import events
from ..errors import LabError
from ..kafka import closing
from ..waiting import wait_for
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab

_SOURCES = ["web-shop", "mobile-app", "pos-terminal", "partner-api", "call-centre"]
_DAY_MS = 86_400_000


def _secret_events(rng: random.Random) -> list[tuple[str, dict, int, list[tuple[str, bytes]]]]:
    """(key, value, timestamp, headers) of a few payments nobody has seen: random accounts,
    on a random day in the past, with random header values."""
    start = int(time.time() * 1000) // _DAY_MS * _DAY_MS - rng.randint(2, 300) * _DAY_MS
    payments = events.payments(rng.randint(6, 12), seed=rng.randrange(10**6), start=start)
    trace = lambda: f"{rng.getrandbits(32):08x}".encode()  # noqa: E731
    return [
        (p["account_id"], p, p["ts"], [("source", rng.choice(_SOURCES).encode()), ("trace", trace())])
        for p in payments
    ]


def _records(lab: Lab, topic: str, expected: int) -> list[Any]:
    """Every record of ``topic`` in log order (decoded keys and values), once the topic holds
    ``expected`` of them or 3 s have passed (a producer that was not flushed may still send)."""
    try:
        wait_for(lambda: sum(lab.end_offsets(topic).values()) >= expected, f"{expected} events", timeout=3)
    except LabError:
        pass  # fewer: what arrived is judged below
    out: list[Any] = []
    ends = lab.end_offsets(topic)
    with closing(lab.reader(topic)) as consumer:

        def read_all() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
            return all(consumer.position(tp) >= ends[tp.partition] for tp in consumer.assignment())

        wait_for(read_all, f"the events of {topic!r}", timeout=30, every=0)
    return sorted(out, key=lambda r: (r.partition, r.offset))


def lesson_01_produce(lab: Lab, forward: Any, *, seed: int | None = None) -> Result:
    """Exercise 01: ``forward(source, target)`` moves every event of ``source`` to ``target``,
    each with its key, value, timestamp and headers, in order. ``seed`` fixes the check's
    events (tests); by default they are new each time."""
    if not callable(forward):
        return failed(
            "forward should be a function of (source, target).",
            "Run the cell that defines it (def forward...), then pass the function itself.",
        )
    rng = random.Random(seed)
    sent = _secret_events(rng)
    forever = {"retention.ms": "-1"}  # the events are days old: keep them whatever the broker's retention
    source = lab.scratch_topic("l01-check-source", partitions=1, config=forever)
    target = lab.scratch_topic("l01-check-target", partitions=1, config=forever)
    try:
        producer = lab.producer()
        for key, value, ts, headers in sent:
            producer.send(source, key=key, value=value, timestamp_ms=ts, headers=headers)
        producer.flush()
        producer.close()
        return _judge(lab, forward, source, target, sent)
    finally:
        lab.delete_topic(source, target)


def _judge(lab: Lab, forward: Callable[..., Any], source: str, target: str, sent: list) -> Result:
    n = len(sent)
    try:
        forward(source, target)
    except Exception as exc:  # noqa: BLE001 - the learner's code: its error becomes the message
        return failed(
            f"forward({source!r}, {target!r}) raised {type(exc).__name__}: {exc}",
            "The check calls forward with two topic names it has just made: read from the first, send to "
            "the second.",
        )
    got = _records(lab, target, n)
    if not got:
        return failed(
            f"The check put {n} events in {source!r}, called forward, and {target!r} is empty.",
            "Read the source as section 1 reads its topic (a consumer assigned to partition 0, from the "
            "beginning), send each record to the target, then flush the producer so none stays in its "
            "buffer.",
        )
    if len(got) != n:
        return failed(
            f"{target!r} holds {len(got)} events; the source held {n}.",
            "Every record of the source, each once: the source has one partition, and its end offset says "
            "how many records it holds.",
        )
    if [r.value for r in got] != [value for _, value, _, _ in sent]:
        same = sorted(map(str, (r.value for r in got))) == sorted(str(v) for _, v, _, _ in sent)
        return failed(
            "The events arrived out of order." if same else "The values in the target are not the source's.",
            "Kafka keeps a partition in order: send the records in the order you read them."
            if same
            else "forward gets the names of the check's topics: read the events from `source` (not from a "
            "topic of the lesson), and send each record's value as you read it.",
        )
    if [r.key for r in got] != [key for key, _, _, _ in sent]:
        return failed(
            "The values arrived, but not their keys.",
            "A record has four parts (section 1): which of them does each record you read carry that your "
            "send did not pass on?",
        )
    if [r.timestamp for r in got] != [ts for _, _, ts, _ in sent]:
        return failed(
            "The timestamps in the target are when forward sent the events, not when they happened.",
            "producer.send can set a record's timestamp; the record you read carries the one it had.",
        )
    if [sorted(r.headers or []) for r in got] != [sorted(headers) for _, _, _, headers in sent]:
        return failed(
            "Keys, values and timestamps arrived, but the headers did not (or changed).",
            "The records you read carry their headers as a list of (name, bytes) pairs: producer.send "
            "takes headers in the same form.",
        )
    return passed(
        f"All {n} events you had never seen moved from one topic to the other, in order, each with its "
        "key, value, timestamp and headers: moving data, Kafka's job, with Kafka's own clients."
    )
