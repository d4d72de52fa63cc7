"""Lesson 04b's exercise (notebooks/04b_failure_and_replication.ipynb, "Exercise": the cell
``checks.lesson_04b_durable(trio, settings)``).

The learner writes the *rule*, not three numbers: ``settings(brokers, may_lose)`` returns
``(replication_factor, min_insync_replicas, acks)`` for a topic on ``brokers`` brokers that
keeps accepting writes while ``may_lose`` of them are down and never loses an acknowledged
write when that many die. The lesson's own cells use one case of it (3 brokers, 1 lost), so
copying their numbers does not pass: the check asks the rule for several clusters first
(each broken promise gets its hint), then runs the 3-broker case live on the trio with
`labkit.replication.drill` - a leader killed while producing, every acknowledged event
counted back (about 30 s).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..replication import Trio, drill
from .result import Result, failed, passed

#: (brokers, may_lose) the rule is asked about before the live drill; the drill is (3, 1).
LESSON_04B_CASES = ((3, 1), (5, 1), (5, 2), (7, 3), (4, 1))


def _judge(brokers: int, may_lose: int, got: Any) -> Result | None:
    """What is wrong with the rule's answer for one cluster (None: nothing)."""
    asked = f"settings({brokers}, {may_lose}) = {got!r}"
    if not (isinstance(got, tuple | list) and len(got) == 3):
        return failed(f"{asked}?", "Return three values: (replication_factor, min_insync_replicas, acks).")
    rf, mi, acks = got
    if not isinstance(rf, int) or not isinstance(mi, int) or not 1 <= mi <= rf:
        return failed(
            f"{asked}?",
            "Both counts are whole numbers, and min.insync.replicas counts copies in sync (the leader "
            "included): from 1 up to the replication factor.",
        )
    if rf > brokers:
        return failed(
            f"{asked}: {rf} copies on {brokers} brokers?", "A broker holds at most one copy of a partition."
        )
    if acks not in ("all", -1):
        return failed(
            f"{asked}: with acks={acks!r} the leader can answer before any follower has the write.",
            "Which acks makes the leader wait for the in-sync replicas?",
        )
    if rf - may_lose < mi:
        return failed(
            f"{asked}: with {may_lose} broker(s) down, a partition can be left with {rf - may_lose} "
            f"cop{'y' if rf - may_lose == 1 else 'ies'} - fewer than min.insync.replicas: writes refused.",
            "Count the copies left after the failures, and compare them with min.insync.replicas.",
        )
    if mi <= may_lose:
        return failed(
            f"{asked}: a write acknowledged with only {mi} cop{'y' if mi == 1 else 'ies'} in sync is gone "
            f"if those {mi} broker(s) are among the {may_lose} that die.",
            "An acknowledged write must outlive the failures: on how many brokers must it be by then?",
        )
    return None


def lesson_04b_durable(
    trio: Trio, settings: Callable[[int, int], Any] | None, *, topic: str = "l04b-exercise"
) -> Result:
    """``settings(brokers, may_lose) -> (replication_factor, min_insync_replicas, acks)``: a
    topic that keeps accepting writes while ``may_lose`` brokers are down and acknowledges
    a write only once it survives losing that many. Asked for several clusters, then
    checked live for 3 brokers and 1 lost (see `labkit.replication.drill`)."""
    if settings is None:
        return failed(
            "Write the function settings(brokers, may_lose) first.",
            "It returns (replication_factor, min_insync_replicas, acks); acks is 0, 1 or 'all'.",
        )
    if not callable(settings):
        return failed(
            f"settings is {settings!r}, not a function.",
            "Write def settings(brokers, may_lose): ... returning three values - a rule for any cluster.",
        )
    for brokers, may_lose in LESSON_04B_CASES:
        try:
            got = settings(brokers, may_lose)
        except Exception as exc:  # noqa: BLE001 - the learner's code: its error is the message
            return failed(
                f"settings({brokers}, {may_lose}) raised {type(exc).__name__}: {exc}", "Run it by hand first."
            )
        wrong = _judge(brokers, may_lose, got)
        if wrong is not None:
            return wrong
    replication_factor, min_insync_replicas, acks = settings(3, 1)
    print(
        f"creating {topic} (replication factor {replication_factor}, min.insync.replicas "
        f"{min_insync_replicas}), producing with acks={acks!r} and killing a leader (about 30 s)..."
    )
    got = drill(
        trio, topic, replication_factor=replication_factor, min_insync_replicas=min_insync_replicas, acks=acks
    )
    seen = (
        f"Broker {got['killed']} killed mid-produce: {got['acknowledged']} of {got['sent']} acknowledged, "
        f"{len(got['missing'])} acknowledged ones missing, {len(got['duplicates'])} duplicated."
    )
    if got["missing"]:
        return failed(seen, "Acknowledged writes were lost: who acknowledged them, with how many copies?")
    refused = got["sent"] - got["acknowledged"]
    if refused:
        errors = ", ".join(f"{n} x {e}" for e, n in got["errors"].items())
        return failed(
            f"{seen} {refused} writes failed ({errors}).", "Count the copies left after the failure."
        )
    cases = ", ".join(f"{b} brokers losing {k}" for b, k in LESSON_04B_CASES)
    return passed(f"Your rule holds for {cases}; live on the trio: {seen} None lost, none refused.")
