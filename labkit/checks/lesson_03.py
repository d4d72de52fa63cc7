"""Lesson 03's exercise (notebooks/03_consumer_groups.ipynb, "Exercise: a real group's lag,
then catch it up"), against the real group's state on the broker.

- `lesson_03_stopped_service` sets the exercise up (the cell ``service_committed =
  checks.lesson_03_stopped_service(lab, EXERCISE, "l03-orders")``): the group commits
  chosen offsets, as a service that stopped part-way would have.
- `lesson_03_lag` checks part 1 (the cell ``checks.lesson_03_lag(lab, my_lag)``): the lag
  per partition, compared with what the broker says now.
- `lesson_03_catch_up` checks part 2 (the cell ``checks.lesson_03_catch_up(lab,
  processed)``): ``processed`` is the list of records the learner's consumer processed,
  checked against Kafka itself (each record as the broker stores it, together exactly the
  events after the group's commits) and the group's committed offsets now at the log end.
  A count typed in does not pass.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ..kafka import closing
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab


def _done(ends: dict[int, int]) -> dict[int, int]:
    """What the stopped service of exercise 03 committed: half of partition 0, a third of
    partition 1, nothing of partition 2 (one formula, used by the set-up and the checks)."""
    return {0: ends[0] // 2, 1: ends[1] // 3}


def lesson_03_stopped_service(lab: Lab, topic: str = "l03-exercise", group: str = "l03-orders") -> dict:
    """Set up exercise 03: group ``group`` committed offsets in ``topic`` as a service that
    processed part of partitions 0 and 1 and stopped before partition 2 would have.

    It commits chosen offsets (``consumer.commit({tp: OffsetAndMetadata(...)})``, the call
    a consumer makes to commit) instead of running a service, so every run starts from
    the same, known state. Returns the committed offsets.
    """
    ends = lab.end_offsets(topic)
    if sorted(ends) != [0, 1, 2] or min(ends.values()) < 3:
        raise ValueError(f"{topic!r} needs 3 partitions with a few events in each, not {ends}")
    done = _done(ends)
    lab.delete_groups(group)  # a re-run starts from the same state
    service = lab.consumer(group_id=group, enable_auto_commit=False)  # commits, never joins
    try:
        service.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in done.items()})
    except KafkaError as exc:  # the group still has a member: the broker refuses an outsider's commit
        raise ValueError(
            f"Group {group!r} cannot be reset while one of its consumers is still open ({exc}): "
            "close() it (or restart the kernel), then run this cell again."
        ) from None
    finally:
        service.close()
    return done


def _state(lab: Lab, topic: str, group: str) -> tuple[dict, dict, dict]:
    """(log end, committed (None: never), log start) per partition, asked of the broker."""
    ends = lab.end_offsets(topic)
    tps = [TopicPartition(topic, p) for p in ends]
    with closing(lab.consumer(group_id=group, enable_auto_commit=False)) as reader:  # asks, never joins
        committed = {tp.partition: reader.committed(tp) for tp in tps}
        starts = {tp.partition: o for tp, o in reader.beginning_offsets(tps).items()}
    return ends, committed, starts


def _left(ends: dict[int, int], starts: dict[int, int]) -> int:
    """The stopped service's total lag: the events a restarted one has to process."""
    done = _done(ends)
    return sum(ends[p] - done.get(p, starts[p]) for p in ends)


def _lag(ends: dict, committed: dict, starts: dict) -> dict[int, int]:
    """Lag as this lab's groups see it: never committed = read from the log start
    (``auto_offset_reset="earliest"``), so every event still in the partition counts."""
    return {p: end - (starts[p] if committed[p] is None else committed[p]) for p, end in ends.items()}


def lesson_03_lag(lab: Lab, answer: Any, *, topic: str = "l03-exercise", group: str = "l03-orders") -> Result:
    """Exercise 03, part 1: ``answer`` = the group's lag per partition, as the broker has it now."""
    ends, committed, starts = _state(lab, topic, group)
    want = _lag(ends, committed, starts)
    ask = (
        f"With a consumer of group_id={group!r} (it need not subscribe): "
        f"consumer.end_offsets([TopicPartition({topic!r}, p) for p in (0, 1, 2)]) and "
        "consumer.committed(tp) for each partition."
    )
    if not isinstance(answer, dict) or not answer:
        return failed("Answer with a dict: partition -> lag.", ask)
    got = {getattr(p, "partition", p): lag for p, lag in answer.items()}  # TopicPartition keys are fine
    if set(got) != set(want):
        answered = sorted(got, key=str)
        return failed(f"You answered for partitions {answered}.", f"One entry per partition: {sorted(want)}.")
    if sum(want.values()) == 0 and _left(ends, starts):
        return failed(
            f"Group {group!r} has no lag any more: it has caught up (part 2?).",
            "Re-run the set-up cell to put the stopped service back, then measure its lag.",
        )
    for p in sorted(want):
        if got[p] == want[p]:
            continue
        if committed[p] is None and got[p] == 0:
            hint = (
                "committed() is None: the group never committed here. This lab's consumers then start at "
                "the first event (auto_offset_reset='earliest'), so every event in it is lag."
            )
        elif got[p] == -want[p]:
            hint = "Lag is how far the group is *behind*: log end offset minus committed offset."
        elif got[p] == ends[p]:
            hint = "That is the log end offset: subtract what the group committed."
        elif got[p] == committed[p]:
            hint = "That is the committed offset: lag = log end offset - committed offset."
        else:
            hint = "Lag = log end offset - committed offset, asked of the broker now. " + ask
        return failed(f"Partition {p}: you said {got[p]!r}; that is not the lag the broker has now.", hint)
    return passed(f"Lag {want}: {sum(want.values())} events the group has not processed, as the broker says.")


def _stored(lab: Lab, topic: str, ends: dict[int, int]) -> dict[tuple[int, int], tuple[Any, Any]]:
    """What Kafka stores in ``topic`` up to ``ends``: (partition, offset) -> (key, value),
    decoded as the learner's `lab.consumer` decodes them (read by a consumer in no group)."""
    stored: dict[tuple[int, int], tuple[Any, Any]] = {}
    with closing(lab.reader(topic)) as reader:  # no group: it changes nobody's position
        deadline = time.monotonic() + 30
        while any(reader.position(tp) < ends[tp.partition] for tp in reader.assignment()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r} to check the records took more than 30 s")
            for records in reader.poll(timeout_ms=200).values():
                stored.update({(r.partition, r.offset): (r.key, r.value) for r in records})
    return stored


def _is_record(item: Any) -> bool:
    return all(hasattr(item, a) for a in ("topic", "partition", "offset", "key", "value"))


def lesson_03_catch_up(
    lab: Lab, processed: Any, *, topic: str = "l03-exercise", group: str = "l03-orders"
) -> Result:
    """Exercise 03, part 2: ``processed`` = the records a consumer of ``group`` processed
    (what its polls returned), from the group's committed offsets to the log end, then
    committed.

    Checked against Kafka, not against a count: every record must be what the broker
    stores at its partition and offset, together exactly the events the stopped service
    had left (none it had done, none twice, none skipped), and the group's committed
    offsets, asked of the broker, must now be at the log end (lag 0).
    """
    ends, committed, starts = _state(lab, topic, group)
    left = _lag(ends, committed, starts)
    done = _done(ends)
    todo = {(p, o) for p in ends for o in range(done.get(p, starts[p]), ends[p])}
    untouched = sum(left.values()) == len(todo)  # the group committed nothing since the set-up
    keep = (
        "Keep every record your consumer's polls return, in a list (consumer.poll() gives "
        "{partition: [records]}; section 1's function returns them): the check compares them with Kafka."
    )
    start = (
        f"Start a consumer in the group: lab.consumer({topic!r}, group_id={group!r}); poll until its "
        "position reaches the log end of every partition; then consumer.commit() and close()."
    )
    if isinstance(processed, (str, bytes, dict)) or not isinstance(processed, (list, tuple)):
        return failed(
            "processed should be the list of records your consumer processed, not "
            f"{type(processed).__name__}: a number you type proves nothing, the records do.",
            keep,
        )
    if not all(_is_record(r) for r in processed):
        return failed("processed holds things that are not Kafka records.", keep)
    if not processed:
        if untouched:
            return failed(f"Nothing processed yet: group {group!r} still lags behind.", start)
        return failed(f"Group {group!r} has moved on, but processed is empty.", keep)
    if untouched:
        return failed(
            f"You hand over {len(processed)} records, but group {group!r} committed nothing new.",
            f"Did your consumer use group_id={group!r}, and call consumer.commit() before close()?",
        )
    others = sorted({r.topic for r in processed if r.topic != topic})
    if others:
        return failed(f"Some records come from {others}, not from {topic!r}.", start)
    stored = _stored(lab, topic, ends)
    for r in processed:
        if stored.get((r.partition, r.offset)) != (r.key, r.value):
            return failed(
                f"Partition {r.partition}, offset {r.offset}: that record is not what Kafka stores there.",
                "Hand over the records exactly as consumer.poll() returned them, not records made by hand.",
            )
    seen = [(r.partition, r.offset) for r in processed]
    if len(set(seen)) < len(seen):
        return failed(
            f"{len(seen) - len(set(seen))} of your records are the same event processed twice.",
            "Poll each event once: one consumer, one pass from the group's commits to the log end.",
        )
    again = sorted(set(seen) - todo)
    if again:
        p, o = again[0]
        return failed(
            f"{len(again)} of your records (the first: partition {p}, offset {o}) come before the group's "
            "committed offsets: events the stopped service had already processed, done again.",
            f"A consumer of group_id={group!r} starts at the group's committed offsets: no "
            "seek_to_beginning, no other group. Re-run the set-up cell and try again.",
        )
    missing = todo - set(seen)
    if missing and sum(left.values()) == 0:
        return failed(
            f"The lag is 0, but {len(missing)} of the events the service had left were never processed: "
            "they were skipped.",
            "A partition the group never committed starts where auto_offset_reset says: with 'latest' "
            "(Kafka's default) its events are skipped. Re-run the set-up cell; keep the lab's 'earliest'.",
        )
    if missing:
        return failed(
            f"Group {group!r} still lags behind: {len(missing)} events not processed yet.",
            "Keep polling until consumer.position(tp) equals the log end offset of every partition, "
            "then commit: the group's lag is 0 only when every partition is committed at its end.",
        )
    if sum(left.values()):
        return failed(
            "You processed every event that was left, but the group's commits are not at the log end.",
            f"Commit after processing (consumer.commit(), with group_id={group!r}) before close().",
        )
    return passed(
        f"{len(processed)} records, each as Kafka stores it, exactly those after the group's commits: "
        "resumed where the group left off, nothing repeated, nothing skipped, and its lag is now 0."
    )
