"""Lesson 10's exercises (notebooks/10_kafka_streams_vs_flink.ipynb).

- Exercise 1, `lesson_10_tools` (the cell ``checks.lesson_10_tools(my_tools)``): a quiz,
  each task to "kafka", "kafka streams" or "flink", compared with `LESSON_10_TOOLS`.
- Exercise 2, `lesson_10_late` (the cell ``checks.lesson_10_late(lab, my_answer,
  grace_s=GRACE_S)``): which engine drops each of two stragglers with 2 s of grace, and why,
  then the smallest grace with which both engines count both. The check sends the
  exercise's events (`labkit.streams.EXERCISE_ARRIVALS`, not the lesson's) to a fresh topic
  and runs the real engines on them: the Kafka Streams app twice (2 s of grace, and the
  learner's), and one bounded Flink SQL job with both watermarks. Predictions are judged
  against what those runs did; the grace against what Kafka Streams dropped with it, and
  against the smallest grace the events needed (Kafka Streams' rule, on the events sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import events, streams
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab

LESSON_10_TOOLS: dict[str, str] = {
    "keep every order event for 30 days so that three teams can read them at their own pace": "kafka",
    "count each user's clicks per minute inside an existing Java service, topic in, topic out, no cluster": (
        "kafka streams"
    ),
    "find accounts with three failed logins and then a password change, within 5 minutes": "flink",
    "join a Kafka stream with files in a data lake and write the result to a database": "flink",
    "let a new fraud rule re-read last week's payments": "kafka",
    "keep a running total per customer in a microservice, scaled by starting more copies of it": (
        "kafka streams"
    ),
}

_WHY = {
    "kafka": "Is anything worked out here, or are events only kept and delivered?",
    "kafka streams": "Kafka in, Kafka out, inside an application you run yourself: which tool is a library?",
    "flink": "Does it need a pattern (MATCH_RECOGNIZE) or a source or sink that is not Kafka?",
}


def lesson_10_tools(answer: Any) -> Result:
    """Each task to "kafka" (moving data), "kafka streams" (processing Kafka topics inside
    your own application) or "flink" (the full engine)."""
    expected = LESSON_10_TOOLS
    if not isinstance(answer, dict):
        return failed("Answer with a dict: task -> 'kafka', 'kafka streams' or 'flink'.")
    given = {t: str(v).strip().lower().replace("-", " ").replace("_", " ") for t, v in answer.items() if v}
    missing = [t for t in expected if t not in given]
    if missing:
        return failed(f"{len(missing)} task(s) not answered yet.", f"Still to choose: {missing[0]!r}.")
    unknown = [t for t in expected if given[t] not in ("kafka", "kafka streams", "flink")]
    if unknown:
        return failed(
            f"{given[unknown[0]]!r} is not one of the three tools.",
            "Use 'kafka', 'kafka streams' or 'flink'.",
        )
    wrong = [t for t, tool in expected.items() if given[t] != tool]
    if wrong:
        return failed(
            f"{len(expected) - len(wrong)} of {len(expected)} right.",
            f"Look again at {wrong[0]!r}. {_WHY[expected[wrong[0]]]}",
        )
    return passed(
        "All right: Kafka moves data, Kafka Streams processes it inside your app, Flink is the engine."
    )


#: Exercise 2: the two stragglers (user, event second) the learner predicts about.
LESSON_10_STRAGGLERS = {"a at 8 s": ("a", 8), "b at 4 s": ("b", 4)}
#: ... the four answers for each, and the three reasons to choose from.
LESSON_10_ENGINES = ("kafka streams", "flink", "both", "neither")
LESSON_10_WHY = {
    "A": "An event that arrives after a newer event of the same user is always dropped.",
    "B": "Kafka Streams' clock is the newest event time in the event's own partition; "
    "Flink's watermark is the smallest over all the partitions it reads.",
    "C": "Flink's watermark follows the newest event of all partitions; Kafka Streams waits "
    "for its slowest partition.",
}
_RIGHT_WHY = "B"
_WINDOW_S = 10
_PREDICTED_GRACE_S = 2
_MAX_GRACE_S = 60
_CLOSER_S = 200  # sent after the Flink job: moves Kafka Streams' clock past every window


@dataclass
class LateRun:
    """What the real engines did with the exercise's events, per grace (seconds)."""

    t0: int
    sent: pd.DataFrame  # user, partition, event time (s): in the order sent
    streams: dict[int, pd.DataFrame]  # Kafka Streams' counts (`streams.tidy`)
    streams_dropped: dict[int, pd.DataFrame]  # its "expired window" warnings (`streams.dropped`)
    flink: dict[int, pd.DataFrame]  # Flink's counts

    def dropped_by(self, grace_s: int, user: str, second: int) -> str:
        """"kafka streams", "flink", "both" or "neither": who dropped that event."""
        return streams.dropped_by(
            self.streams_dropped[grace_s], self.flink[grace_s], self.sent, self.t0, user, second, _WINDOW_S
        )


def smallest_grace(sent: pd.DataFrame, window_s: int = _WINDOW_S) -> int:
    """The smallest whole seconds of grace with which Kafka Streams drops none of ``sent``
    (in the order sent): an event is dropped when its window's end is at or before its
    partition's stream time (the newest event time there so far) minus the grace."""
    need = 0
    for _partition, rows in sent.groupby("partition", sort=False):
        stream_time = None
        for second in rows["event time (s)"]:
            end = (second // window_s + 1) * window_s
            if stream_time is not None and end <= stream_time:
                need = max(need, stream_time - end + 1)
            stream_time = second if stream_time is None else max(stream_time, second)
    return need


def run_late(lab: Lab, graces: set[int], *, topic: str = "l10-late-exercise") -> LateRun:
    """Send the exercise's events to a fresh ``topic`` (2 partitions) and run both engines on
    them with each grace: a Kafka Streams app per grace (all at once), and one bounded Flink
    SQL job whose watermarks lag by each grace. Then one later click per partition, so
    Kafka Streams closes every window before it."""
    t0 = events.start_ms(None)
    lab.create_topic(topic, partitions=2, replace=True)
    apps = {}
    for grace in sorted(graces):
        app_id, counts = f"{topic}-grace-{grace}", f"{topic}-counts-{grace}"
        streams.reset(lab, app_id)
        lab.create_topic(counts, replace=True)
        apps[grace] = streams.start(
            lab, app_id, clicks=topic, counts=counts, window_s=_WINDOW_S, grace_s=grace
        )
    try:
        sent = streams.send_arrivals(lab, topic, streams.EXERCISE_ARRIVALS, t0)
        for app in apps.values():
            app.wait_running()
        sql = " UNION ALL ".join(
            f"SELECT {g} AS grace_s, user_id, window_start, window_end, COUNT(*) AS clicks "
            f"FROM TUMBLE(TABLE g{g}, DESCRIPTOR(ev_time), INTERVAL '{_WINDOW_S}' SECOND) "
            "GROUP BY user_id, window_start, window_end"
            for g in sorted(graces)
        )
        schema = "user_id STRING, ev_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', "
        lag = "WATERMARK FOR ev_time AS ev_time - INTERVAL '{}' SECOND"
        tables = {f"g{g}": schema + lag.format(g) for g in graces}
        by_flink = lab.query(sql, tables, topics={f"g{g}": topic for g in graces}, streaming=True)
        # only now (the bounded Flink job has read to its end): a later click in each partition
        later = [("a", 0, _CLOSER_S), ("b", 1, _CLOSER_S)]
        streams.send_arrivals(lab, topic, later, t0)
        windows = len({(u, s // _WINDOW_S) for u, _p, s in streams.EXERCISE_ARRIVALS})  # one row each
        by_streams = {g: streams.counts(lab, f"{topic}-counts-{g}", rows=windows) for g in graces}
        dropped = {g: streams.dropped(app) for g, app in apps.items()}
    finally:
        for grace in apps:
            streams.reset(lab, f"{topic}-grace-{grace}")
    flink = {
        g: streams.tidy(by_flink[by_flink["grace_s"] == g]) if not by_flink.empty else streams.tidy(by_flink)
        for g in graces
    }
    return LateRun(t0, sent, by_streams, dropped, flink)


def _engine(value: Any) -> str:
    return str(value).strip().lower().replace("-", " ").replace("_", " ") if value is not None else ""


def judge_late(answer: Any, grace_s: Any, run: LateRun) -> Result:
    """Judge an answer against a `run_late` that ran with 2 s and with ``grace_s``."""
    for name, (user, second) in LESSON_10_STRAGGLERS.items():
        truth = run.dropped_by(_PREDICTED_GRACE_S, user, second)
        if _engine(answer[name]) != truth:
            return failed(
                f"With {_PREDICTED_GRACE_S} s of grace, the engines did not do what you said for {name}.",
                f"Which partition is {name} in, and how far had that partition's newest event moved when it "
                "arrived? For Flink, which partition holds its watermark back?",
            )
    if str(answer["why"]).strip().upper() != _RIGHT_WHY:
        return failed(
            "Your predictions are right, but not the reason you chose.",
            "Section 2's table says whose clock each engine uses: check each reason against it, and "
            "against b at 4 s (it also arrived after a newer event of its user).",
        )
    lost = run.streams_dropped[grace_s]
    if not lost.empty:
        first = lost.iloc[0]
        when = (int(first["timestamp"]) - run.t0) // 1000
        return failed(
            f"With {grace_s} s of grace, Kafka Streams still dropped the event at {when} s: its log says the "
            f"window ends at {(int(first['window_end']) - run.t0) // 1000} s and the partition's stream time "
            f"was {(int(first['stream_time']) - run.t0) // 1000} s.",
            "A window stays open until its partition's stream time reaches its end plus the grace: "
            "compare those two numbers from the log.",
        )
    for name, (user, second) in LESSON_10_STRAGGLERS.items():
        if run.dropped_by(grace_s, user, second) != "neither":
            return failed(
                f"With {grace_s} s of grace, {name} was still not counted by both engines.",
                "Compare the engines' counts for its window in the output topics of the check.",
            )
    best = smallest_grace(run.sent)
    if grace_s > best:
        return failed(
            f"Both engines count both stragglers with {grace_s} s - but Kafka Streams then emits each window "
            f"only {grace_s} s of event time after it ends, longer than these events need.",
            "The least grace that keeps a at 8 s: compare its partition's stream time when it arrived "
            "with the end of its window.",
        )
    return passed(
        f"{grace_s} s: the least grace with which Kafka Streams keeps a at 8 s - its partition's clock had "
        "run ahead to 31 s. Flink counted both stragglers all along: partition 1 held its watermark back."
    )


def lesson_10_late(lab: Lab, answer: Any, *, grace_s: Any, topic: str = "l10-late-exercise") -> Result:
    """Which engine drops each straggler of `labkit.streams.EXERCISE_ARRIVALS` with 2 s of
    grace ("kafka streams", "flink", "both" or "neither"), why (a key of `LESSON_10_WHY`),
    and the smallest whole seconds of grace with which both engines count both - judged
    against real runs of both engines on those events (`run_late`)."""
    expected_keys = [*LESSON_10_STRAGGLERS, "why"]
    if not isinstance(answer, dict) or all(answer.get(k) is None for k in expected_keys):
        return failed("No prediction yet.", f"Fill in my_answer: {', '.join(map(repr, expected_keys))}.")
    missing = [k for k in expected_keys if answer.get(k) is None]
    if missing:
        return failed(f"{missing[0]!r} is not answered yet.", "Every key of my_answer needs an answer.")
    unknown = [k for k in LESSON_10_STRAGGLERS if _engine(answer[k]) not in LESSON_10_ENGINES]
    if unknown:
        return failed(
            f"{answer[unknown[0]]!r} is not one of the answers.",
            "For each straggler, use one of the four answers the exercise lists (in quotes).",
        )
    if str(answer["why"]).strip().upper() not in LESSON_10_WHY:
        return failed(
            f"{answer['why']!r} is not one of the reasons.", "Use the letter of a reason printed above."
        )
    if isinstance(grace_s, bool) or not isinstance(grace_s, int) or not 0 <= grace_s <= _MAX_GRACE_S:
        return failed(f"GRACE_S is {grace_s!r}.", f"Use a whole number of seconds from 0 to {_MAX_GRACE_S}.")
    run = run_late(lab, {_PREDICTED_GRACE_S, grace_s}, topic=topic)
    return judge_late(answer, grace_s, run)
