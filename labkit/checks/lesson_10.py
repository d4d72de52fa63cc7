"""Lesson 10's exercises (notebooks/10_kafka_streams_vs_flink.ipynb).

- Exercise 1, `lesson_10_tools` (the cell ``checks.lesson_10_tools(my_tools)``): a quiz,
  each task to "kafka", "kafka streams" or "flink", compared with `LESSON_10_TOOLS`.
- Exercise 2, `lesson_10_windows` (the cell ``checks.lesson_10_windows(lab, my_prediction,
  window_s=WINDOW_S)``): a predicted row count, compared with the count worked out in
  pandas from the clicks in the lesson's topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def lesson_10_windows(lab: Lab, rows: Any, *, window_s: int, topic: str = "l10-clicks") -> Result:
    """How many (user, window) rows a tumbling count with ``window_s``-second windows
    gives for the clicks in ``topic`` (the closing clicks, ``closer-*``, left out)."""
    if rows is None or isinstance(rows, bool) or not isinstance(rows, (int, float)):
        return failed("No prediction yet.", "Answer with a number of rows, e.g. my_prediction = 120.")
    if not isinstance(window_s, int) or not 1 <= window_s <= 50:
        return failed(f"WINDOW_S is {window_s!r}.", "Pick a whole number of seconds from 1 to 50.")
    clicks = lab.read(topic)
    clicks = clicks[~clicks["event_id"].astype(str).str.startswith("closer-")]
    size = window_s * 1000
    truth = int(clicks.assign(w=clicks["ts"] // size).groupby(["user_id", "w"]).ngroups)
    if rows == truth:
        return passed(
            f"{truth} rows with {window_s} s windows: one per user and window with at least one click."
        )
    if rows == len(clicks):
        return failed(
            f"{rows} is the number of clicks, not of rows.",
            "A row is one user in one window, however many times they clicked in it.",
        )
    return failed(
        f"Not {rows}.",
        "A row is one user in one tumbling window: which window does each click fall in, and how many "
        "(user, window) pairs are there?",
    )
