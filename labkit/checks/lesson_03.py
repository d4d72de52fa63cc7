"""Lesson 03's exercise (notebooks/03_consumer_groups.ipynb, "Exercise: a real group's lag,
then catch it up"), against the real group's state on the broker.

- `lesson_03_stopped_service` sets the exercise up (the cell ``service_committed =
  checks.lesson_03_stopped_service(lab, EXERCISE, "l03-orders")``): the group commits
  chosen offsets, as a service that stopped part-way would have.
- `lesson_03_lag` checks part 1 (the cell ``checks.lesson_03_lag(lab, my_lag)``): the lag
  per partition, compared with what the broker says now.
- `lesson_03_catch_up` checks part 2 (the cell ``checks.lesson_03_catch_up(lab,
  processed)``): the group's lag is 0 and the learner processed exactly the events left.
"""

from __future__ import annotations

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
        return failed(f"Partition {p}: you said {got[p]!r}, the broker says the lag is {want[p]}.", hint)
    return passed(f"Lag {want}: {sum(want.values())} events the group has not processed, as the broker says.")


def lesson_03_catch_up(
    lab: Lab, processed: Any, *, topic: str = "l03-exercise", group: str = "l03-orders"
) -> Result:
    """Exercise 03, part 2: a consumer of ``group`` processed ``processed`` events, from
    the group's committed offsets to the log end, and committed: lag 0, nothing repeated."""
    ends, committed, starts = _state(lab, topic, group)
    left = _lag(ends, committed, starts)
    expected = _left(ends, starts)
    if not isinstance(processed, int) or isinstance(processed, bool):
        return failed("processed should be a whole number.", "Count the records your polls returned.")
    if sum(left.values()) == expected:
        if processed == 0:
            return failed(
                f"Group {group!r} still has lag {left}.",
                f"Start a consumer in the group: lab.consumer({topic!r}, group_id={group!r}); poll until its "
                "position reaches the log end of every partition; then consumer.commit() and close().",
            )
        return failed(
            f"You processed {processed} events, but group {group!r} committed nothing new (lag {left}).",
            f"Did your consumer use group_id={group!r}, and call consumer.commit() before close()?",
        )
    if sum(left.values()) > 0:
        return failed(
            f"Group {group!r} still has lag {left}.",
            "Keep polling until consumer.position(tp) equals the log end offset of every partition, "
            "then commit: the group's lag is 0 only when every partition is committed at its end.",
        )
    if processed > expected:
        return failed(
            f"You processed {processed} events, but only {expected} were left to do: some were done twice.",
            "A consumer of the group starts at the group's committed offsets: no seek_to_beginning, "
            "no other group_id. Re-run the set-up cell and try again.",
        )
    if processed < expected:
        return failed(
            f"The lag is 0, but you processed {processed} of the {expected} events left: some were skipped.",
            "A partition the group never committed starts where auto_offset_reset says: with 'latest' "
            "(Kafka's default) its events are skipped. Re-run the set-up cell; keep the lab's 'earliest'.",
        )
    return passed(
        f"{processed} events processed, exactly the lag: resumed from the group's commits, nothing "
        "repeated, nothing skipped, and the group's lag is now 0."
    )
