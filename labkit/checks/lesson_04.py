"""Lesson 04's exercise (notebooks/04_offsets_replay.ipynb, "Exercise": the cell
``checks.lesson_04_since(lab, LEDGER, SINCE, changes_since)``): replay from a time.

The exercise *is* the seek, so the check runs the learner's function on a consumer it
watches. That consumer is deliberately not `lab.reader`: it is assigned every partition
but not positioned, and its ``poll`` records the first offset each partition returns, so
the check sees where the learner's ``offsets_for_times`` + ``seek`` started reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka import TopicPartition

from ..kafka import closing
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab


def lesson_04_since(lab: Lab, topic: str, since_ms: int, changes_since: Any) -> Result:
    """Exercise 04: ``changes_since(consumer, since)`` returns each account's change of
    balance (cents) from the events stored at or after ``since``.

    The check hands it a consumer assigned every partition of ``topic`` and watches what
    that consumer reads (its polls and final positions): the records must start at the
    offsets ``offsets_for_times`` gives for ``since`` and go on to the log end. So an
    answer computed in Python from everything, or from a list, fails with a hint even
    when its numbers are right: the exercise is the seek.
    """
    if not callable(changes_since):
        return failed(
            "Hand over your function itself, not its result.",
            "checks.lesson_04_since(lab, LEDGER, SINCE, changes_since)",
        )
    ends = lab.end_offsets(topic)
    tps = [TopicPartition(topic, p) for p in ends]
    first: dict[int, int] = {}  # partition -> lowest offset the function's polls returned
    read = 0
    # No group and no position: where to read from is the learner's function's to choose.
    with closing(lab.consumer(enable_auto_commit=False)) as consumer:
        poll = consumer.poll

        def watched_poll(*args: Any, **kwargs: Any) -> dict:  # KafkaConsumer.poll's own arguments
            nonlocal read
            batch = poll(*args, **kwargs)
            for tp, records in batch.items():
                if records and tp.topic == topic:
                    first[tp.partition] = min(first.get(tp.partition, records[0].offset), records[0].offset)
                    read += len(records)
            return batch

        consumer.assign(tps)
        found = consumer.offsets_for_times({tp: since_ms for tp in tps})
        consumer.poll = watched_poll  # also what iterating the consumer calls
        try:
            answer = changes_since(consumer, since_ms)
        except Exception as exc:  # noqa: BLE001 - the learner's code: say what it raised
            return failed(
                f"changes_since raised {type(exc).__name__}: {exc}", "Fix that error, then check again."
            )
        positions = {tp.partition: consumer.position(tp) for tp in tps}
    start = {
        tp.partition: (hit.offset if hit is not None else ends[tp.partition])  # None: nothing since
        for tp, hit in found.items()
    }
    want: dict[str, int] = {}
    for row in lab.read(topic).to_dict("records"):
        if row["offset"] >= start[row["partition"]]:
            want[row["account_id"]] = want.get(row["account_id"], 0) + row["amount_cents"]
    if not isinstance(answer, dict):
        return failed(
            f"changes_since returned {type(answer).__name__}, not a dict.", "Return account_id -> cents."
        )
    got = {str(k): v for k, v in answer.items()}
    seek_hint = (
        "found = consumer.offsets_for_times({tp: since for tp in consumer.assignment()}) gives each "
        "partition's first offset at or after `since`; consumer.seek(tp, found[tp].offset) moves there "
        "before you poll."
    )
    if read == 0:
        if got and got == want:
            return failed(
                "Right numbers, but your consumer read nothing: they did not come from Kafka.",
                "Replay with the consumer you are given: " + seek_hint,
            )
        return failed("Your consumer read nothing yet.", seek_hint)
    early = sorted(p for p in first if first[p] < start[p])
    if early:
        p = early[0]
        return failed(
            f"Your consumer read partition {p} from offset {first[p]}, but the first event at or after "
            f"`since` is at offset {start[p]}: it read events from before the fix"
            + (" (even if you then dropped them in Python)." if got == want else "."),
            seek_hint,
        )
    late = sorted(p for p in first if first[p] > start[p])  # unread partitions: see `behind`
    if late:
        p = late[0]
        return failed(
            f"In partition {p} your consumer started at offset {first[p]}, after {start[p]}: "
            "it missed events.",
            seek_hint,
        )
    behind = sorted(p for p in ends if positions[p] < ends[p])
    if behind:
        p = behind[0]
        return failed(
            f"Your consumer stopped at offset {positions[p]} of partition {p}; the log ends at {ends[p]}.",
            "Poll until consumer.position(tp) reaches the end offset of every partition "
            "(consumer.end_offsets(...), or consume_until_end from labkit.durability).",
        )
    if got == want:
        return passed(
            f"Right: your consumer started at offsets {start} (partition: offset) and read the "
            f"{sum(ends[p] - start[p] for p in ends)} events since then, to the log end."
        )
    if any(isinstance(v, float) for v in got.values()):
        return failed("Some amounts are floats.", "Sum amount_cents as whole numbers (int).")
    if set(got) != set(want) or sum(got.values()) != sum(want.values()):
        return failed(
            "Some events are missing or counted twice.",
            "Add each record's amount_cents once, for every record your consumer polls.",
        )
    return failed("The balances differ.", "Add amount_cents per account_id for the events you replay.")
