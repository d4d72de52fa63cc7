"""A fix for kafka-python 3.0.12: a consumer whose poll gives up during a rebalance can
be left holding no partitions.

kafka-python keeps a group join (JoinGroup, then SyncGroup) that a short
``consumer.poll(timeout_ms=...)`` gave up on as a task in flight, for the next poll to
await again (``BaseCoordinator.join_group_async``). Two gaps:

- The next poll only enters that loop while ``need_rejoin()`` is true. For a rejoin that a
  metadata change started (a new consumer always joins once before it knows its topic's
  partitions, gets nothing, and joins again when it learns them) the leader has by then
  recorded the new assignment's snapshot, so ``need_rejoin()`` says False: the join
  finishes on the broker, nobody takes its result, and the consumer owns no partition
  until some later rebalance - 20-60 s in lesson 03 with two learners on one Kafka (a
  loaded machine, where a join takes longer than the lesson's 200 ms polls).
- A join that finished between two polls is thrown away and a new one sent, so a consumer
  polling with ``timeout_ms=0`` may rejoin for ever.

Apache Kafka's Java consumer does neither (``rejoinNeededOrPending()`` is true while a join
future is pending; ``joinGroupIfNeeded`` sends a new JoinGroup only when there is none).
The fix makes kafka-python do the same: ``need_rejoin()`` is true while a join is pending,
and ``join_group_async`` (kafka-python's own code, Apache License 2.0, with the two changes
marked) takes a finished join's result. `install` runs when labkit's Kafka helpers are
imported, before a lab's first consumer. On another kafka-python version it does nothing,
and tests/test_kafka_python_fix.py fails until someone has read that version's
``join_group_async`` (fixed: delete this module; not: add the version here).
"""

from __future__ import annotations

import logging
from typing import Any

import kafka.version
from kafka import errors as Errors  # noqa: N812 - as kafka-python's own code names it
from kafka.coordinator.base import BaseCoordinator
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.structs import MemberState
from kafka.util import Timer

log = logging.getLogger("kafka.coordinator")

#: The kafka-python versions this fix was written against (pyproject pins one of them).
FOR_VERSIONS = ("3.0.12",)

_need_rejoin = ConsumerCoordinator.need_rejoin


def need_rejoin(self: Any) -> bool:
    """kafka-python's answer, or True while a join is pending (the Java client's
    ``rejoinNeededOrPending``)."""
    return self._join_task is not None or bool(_need_rejoin(self))  # noqa: SLF001


async def join_group_async(self: Any, timeout_ms: float | None = None) -> bool:  # noqa: C901, SLF001
    """kafka-python 3.0.12's ``BaseCoordinator.join_group_async``; changed: a pending join,
    finished or not, is awaited - a new JoinGroup is sent only when there is none."""
    # ruff: noqa: SLF001 - the coordinator's own state, as in kafka-python
    if not self._use_group_apis:
        raise Errors.UnsupportedVersionError("Group Coordinator APIs require 0.9+ broker")
    timer = Timer(timeout_ms)
    while self.need_rejoin():
        if not await self.ensure_coordinator_ready_async(timeout_ms=timer.timeout_ms):
            return False
        if self._join_task is None:  # changed: kafka-python also replaced a finished one
            if not self.rejoining:
                await self._on_join_prepare_async(
                    self._generation.generation_id, self._generation.member_id, timeout_ms=timer.timeout_ms
                )
                self.rejoining = True
                log.debug("Disabling heartbeat during join-group")
                self._disable_heartbeat()
            self._join_task = self._manager.call_soon(self._do_join_and_sync_async)
        try:
            assignment_bytes = await self._manager.wait_for(self._join_task, timer.timeout_ms)
        except Errors.KafkaTimeoutError:
            return False  # the join stays pending: the next poll awaits it
        except (
            Errors.UnknownMemberIdError,
            Errors.RebalanceInProgressError,
            Errors.IllegalGenerationError,
            Errors.MemberIdRequiredError,
        ):
            self._join_task = None
            continue
        except Errors.RetriableError:
            self._join_task = None
            if timer.expired:
                return False
            backoff_ms = self.config["retry_backoff_ms"]
            if timer.timeout_ms is not None:
                backoff_ms = min(backoff_ms, timer.timeout_ms)
            if backoff_ms > 0:
                await self._manager._net.sleep(backoff_ms / 1000)
            continue
        except Errors.KafkaError:
            self._join_task = None
            raise
        self._join_task = None
        with self._lock:
            self.rejoining = False
            self.rejoin_needed = False
            self.state = MemberState.STABLE
            self._enable_heartbeat()
        await self._on_join_complete_async(
            self._generation.generation_id,
            self._generation.member_id,
            self._generation.protocol,
            assignment_bytes,
        )
        return True
    return True


def install() -> bool:
    """Patch kafka-python's consumer coordinator (once); False on a kafka-python version
    this fix was not written for (nothing patched)."""
    if kafka.version.__version__ not in FOR_VERSIONS:
        return False
    patched: Any = need_rejoin
    ConsumerCoordinator.need_rejoin = patched
    joining: Any = join_group_async
    BaseCoordinator.join_group_async = joining
    return True


def installed() -> bool:
    """True when kafka-python's coordinator runs this module's code."""
    return (
        getattr(ConsumerCoordinator, "need_rejoin", None) is need_rejoin
        and getattr(BaseCoordinator, "join_group_async", None) is join_group_async
    )
