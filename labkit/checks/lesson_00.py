"""Lesson 00's exercise (notebooks/00_welcome.ipynb, "Exercise: moving or processing?").

Part 1, `lesson_00_roles` (the cell ``labkit.checks.lesson_00_roles(answer)``): a quiz,
each task sorted to "kafka" or "flink", compared with `LESSON_00_TASKS`.
Part 2, `lesson_00_trip` (the cell ``labkit.checks.lesson_00_trip(lab, my_event,
flinks_answer)``): checked against the real stack - the learner's event must be stored in
Kafka, and their function ``flinks_answer(topic, event_id)`` must return the answer the
running Flink job wrote back to Kafka, both for their own event and for an event the check
sends itself, with a message the learner never sees (the function gets only a topic and an
id, so working the answer out in Python, e.g. ``message.upper()``, cannot pass).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..waiting import wait_for
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab

LESSON_00_TASKS: dict[str, str] = {
    "keep every payment for 7 days so it can be re-read": "kafka",
    "deliver each click to both the analytics team and the billing service": "kafka",
    "count clicks per page every minute": "flink",
    "flag an account that pays 10 times in one minute": "flink",
    "let a new service read last week's events from the start": "kafka",
    "join orders with shipments that arrive up to an hour later": "flink",
}

#: Words for the message of the check's own event (one the learner cannot see in advance).
_WORDS = ["river", "orbit", "maple", "quartz", "lantern", "harbor", "velvet", "comet", "meadow", "signal"]


def lesson_00_roles(answer: Any) -> Result:
    """Sort each task to "kafka" (moving data) or "flink" (processing data)."""
    expected = LESSON_00_TASKS
    if not isinstance(answer, dict):
        return failed("Answer with a dict: task -> 'kafka' or 'flink'.")
    missing = [t for t in expected if t not in answer]
    if missing:
        return failed(f"{len(missing)} task(s) not answered yet.", f"Still to sort: {missing[0]!r}.")
    wrong = [t for t, who in expected.items() if str(answer[t]).strip().lower() != who]
    if wrong:
        return failed(
            f"{len(expected) - len(wrong)} of {len(expected)} right.",
            f"Look again at {wrong[0]!r}: is it moving data, or working something out from it?",
        )
    return passed("All sorted: Kafka moves data, Flink understands it.")


def _flinks_answer(lab: Lab, topic: str, event_id: str, wait: float) -> Any:
    """The ``shout`` the Flink job wrote to ``topic`` for ``event_id`` (waits up to ``wait`` s)."""

    def found() -> Any:
        out = lab.read(topic)
        answers = out[out["id"] == event_id] if "id" in out else out.iloc[0:0]
        return None if answers.empty else answers["shout"].iloc[-1]

    return wait_for(found, f"Flink's answer in {topic!r}", timeout=wait, every=0.5)


def _misses(function: Callable[..., Any], topic: str, event_id: str, expected: Any) -> str:
    """What ``function(topic, event_id)`` did instead of returning ``expected`` ("raised
    ...", "returned ..."); "" if it returned it."""
    try:
        got = function(topic, event_id)
    except Exception as exc:  # noqa: BLE001 - the learner's code: its error becomes the message
        return f"raised {type(exc).__name__}: {exc}"
    return "" if got == expected else f"returned {got!r}"


def lesson_00_trip(
    lab: Lab,
    event: Any,
    flinks_answer: Any,
    *,
    send_topic: str = "l00-hello-in",
    receive_topic: str = "l00-hello-out",
    wait: float = 30.0,
) -> Result:
    """Exercise 00, part 2: ``event`` was sent to ``send_topic`` (Kafka stores it), the
    running Flink job answered in ``receive_topic``, and ``flinks_answer(topic, event_id)``
    reads that answer back from Kafka - for the learner's event, then for one the check
    sends itself.

    Waits up to ``wait`` seconds for each of Flink's answers, so a check run right after
    sending does not fail only because the job has not written it yet.
    """
    send = f"lab.produce({send_topic!r}, [my_event], key='id')"
    if not isinstance(event, dict) or not {"id", "message"} <= set(event):
        return failed("my_event should be a dict with an id and a message.", f"Fill it in, then: {send}.")
    if str(event["id"]) in ("", "?") or str(event["message"]) in ("", "?"):
        return failed("Give my_event an id of your own and a message.", f"Then send it: {send}.")
    stored = lab.read(send_topic)
    mine = stored[stored["id"] == event["id"]] if "id" in stored else stored.iloc[0:0]
    if mine.empty:
        return failed(
            f"Kafka has no event with id {event['id']!r} in {send_topic!r}: it was not sent (yet).",
            f"Moving data is Kafka's job: {send}.",
        )
    if event["message"] not in set(mine["message"]):
        return failed(
            f"Kafka holds an event with id {event['id']!r}, but its message is {mine['message'].iloc[-1]!r}.",
            "Did you change my_event after sending it? Send it again, or use another id.",
        )
    try:
        flink = _flinks_answer(lab, receive_topic, event["id"], wait)
    except LabError:  # no answer within `wait`: the hint below says where to look
        return failed(
            f"Your event is in Kafka, but Flink wrote no answer to {receive_topic!r} within {wait:.0f} s.",
            "Processing is Flink's job: is the job still running? (job.status should say RUNNING.)",
        )
    if not callable(flinks_answer):
        return failed(
            "flinks_answer should be a function of (topic, event_id).",
            "Run the cell that defines it (def flinks_answer...), then pass the function itself.",
        )
    said = _misses(flinks_answer, receive_topic, event["id"], flink)
    if said:
        return failed(
            f"Flink's answer for your event is in {receive_topic!r}, but flinks_answer({receive_topic!r}, "
            f"{event['id']!r}) {said}.",
            f"Read it back from Kafka: lab.read(topic) is the whole topic, one row per event; the answer "
            f"is in the row whose id is event_id (here {event['id']!r}).",
        )
    # An event of the check's own, with a message the learner never saw: only reading Kafka finds it.
    theirs = {"id": f"check-{uuid.uuid4().hex[:6]}", "message": " ".join(random.sample(_WORDS, 3))}
    lab.produce(send_topic, [{**theirs, "sent_ms": 0}], key="id")
    try:
        secret = _flinks_answer(lab, receive_topic, theirs["id"], wait)
    except LabError:
        return failed(
            f"The check sent an event of its own (id {theirs['id']!r}); Flink wrote no answer within "
            f"{wait:.0f} s.",
            "Processing is Flink's job: is the job still running? (job.status should say RUNNING.)",
        )
    said = _misses(flinks_answer, receive_topic, theirs["id"], secret)
    if said:
        return failed(
            f"flinks_answer found the answer for your event, but for an event the check sent "
            f"(id {theirs['id']!r}, a message you have not seen) it {said}.",
            "flinks_answer gets only a topic and an id: everything else it must read from that topic, in "
            "Kafka, where Flink wrote it.",
        )
    offset = int(mine["offset"].iloc[-1])
    return passed(
        f"Kafka stored your event (offset {offset} of {send_topic!r}) and delivered it; Flink worked out "
        f"{flink!r} and wrote it back to Kafka, where your function read it. It also found Flink's "
        f"answer to the check's event {theirs['message']!r}, which you never saw: {secret!r}."
    )
