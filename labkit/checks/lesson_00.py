"""Lesson 00's exercise (notebooks/00_welcome.ipynb, "Exercise: moving or processing?").

Part 1, `lesson_00_roles` (the cell ``labkit.checks.lesson_00_roles(answer)``): a quiz,
each task sorted to "kafka" or "flink", compared with `LESSON_00_TASKS`.
Part 2, `lesson_00_trip` (the cell ``labkit.checks.lesson_00_trip(lab, my_event,
my_shout)``): checked against the real stack - the learner's event must be stored in
Kafka, and ``my_shout`` must be the answer the running Flink job wrote back to Kafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

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


def lesson_00_trip(
    lab: Lab,
    event: Any,
    shout: Any,
    *,
    send_topic: str = "l00-hello-in",
    receive_topic: str = "l00-hello-out",
    wait: float = 30.0,
) -> Result:
    """Exercise 00, part 2: ``event`` was sent to ``send_topic`` (Kafka stores it), the
    running Flink job answered in ``receive_topic``, and ``shout`` is that answer.

    Waits up to ``wait`` seconds for Flink's answer, so a check run right after sending
    does not fail only because the job has not written it yet.
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

    def flinks_answer() -> pd.DataFrame | None:
        out = lab.read(receive_topic)
        answers = out[out["id"] == event["id"]] if "id" in out else out.iloc[0:0]
        return None if answers.empty else answers

    try:
        answers = wait_for(flinks_answer, f"Flink's answer in {receive_topic!r}", timeout=wait, every=0.5)
    except LabError:  # no answer within `wait`: the hint below says where to look
        return failed(
            f"Your event is in Kafka, but Flink wrote no answer to {receive_topic!r} within {wait:.0f} s.",
            "Processing is Flink's job: is the job still running? (job.status should say RUNNING.)",
        )
    flink = answers["shout"].iloc[-1]
    if shout != flink:
        return failed(
            f"Flink's answer for your event is in {receive_topic!r}, but my_shout is {shout!r}.",
            f"Read it back from Kafka: lab.read({receive_topic!r}), the row whose id is {event['id']!r}.",
        )
    offset = int(mine["offset"].iloc[-1])
    return passed(
        f"Kafka stored your event (offset {offset} of {send_topic!r}) and delivered it; Flink "
        f"worked out {flink!r} and wrote it back to Kafka, where you read it."
    )
