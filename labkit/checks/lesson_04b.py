"""Lesson 04b's exercise (notebooks/04b_failure_and_replication.ipynb, "Exercise": the cell
``checks.lesson_04b_durable(trio, replication_factor, min_insync_replicas, acks)``).

Checked live on the replication trio: what the settings show wrong gets its hint first;
then `labkit.replication.drill` creates the topic with them, kills a leader while
producing and counts every acknowledged event back (about 30 s).
"""

from __future__ import annotations

from typing import Any

from ..replication import Trio, drill
from .result import Result, failed, passed


def lesson_04b_durable(
    trio: Trio, replication_factor: Any, min_insync_replicas: Any, acks: Any, *, topic: str = "l04b-exercise"
) -> Result:
    """A topic on the trio that keeps accepting writes while any one broker is down, and
    acknowledges a write only once it is on at least two brokers. Checked live: the topic
    is created with these settings, a leader is killed while producing, and every
    acknowledged event is counted back (see `labkit.replication.drill`)."""
    if replication_factor is None or min_insync_replicas is None or acks is None:
        return failed(
            "Fill in the three settings first.",
            "replication_factor and min_insync_replicas are whole numbers; acks is 0, 1 or 'all'.",
        )
    if not isinstance(replication_factor, int) or not 1 <= replication_factor <= 3:
        return failed(f"replication_factor={replication_factor!r}?", "The trio has 3 brokers: 1 to 3 copies.")
    if not isinstance(min_insync_replicas, int) or not 1 <= min_insync_replicas <= replication_factor:
        return failed(
            f"min_insync_replicas={min_insync_replicas!r}?",
            "It counts copies in sync, the leader included: from 1 up to the replication factor.",
        )
    if acks not in (0, 1, "all", -1):
        return failed(f"acks={acks!r}?", "kafka-python takes acks=0, 1 or 'all'.")
    if acks == 0:
        return failed(
            "With acks=0 the producer never hears back, so nothing is ever acknowledged - or known lost.",
            "Which acks makes the leader wait for the in-sync replicas?",
        )
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
        if replication_factor == 1:
            hint = "With one copy, the partitions on the dead broker had no leader at all: more copies."
        else:
            left = replication_factor - 1
            hint = (
                f"With one broker down, {left} cop{'y is' if left == 1 else 'ies are'} left: fewer than "
                f"min.insync.replicas={min_insync_replicas}, so acks=all writes are refused."
            )
        return failed(f"{seen} {refused} writes failed ({errors}).", hint)
    if acks not in ("all", -1):
        return failed(
            f"{seen} Nothing lost this time - by luck.",
            "acks=1: the leader acknowledges before any follower has the event. Which acks waits for them?",
        )
    if min_insync_replicas < 2:
        return failed(
            f"{seen} Nothing lost this time.",
            "min.insync.replicas=1 lets the leader acknowledge alone once its followers fall out of the ISR.",
        )
    return passed(f"{seen} Every write kept going through the failure, and none was lost.")
