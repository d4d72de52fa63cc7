"""Reference solutions of lesson 10's exercises (checked by labkit.checks.lesson_10_tools and
labkit.checks.lesson_10_windows)."""

TOOLS = {
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

# what a learner might answer first: everything that processes data is Flink
WRONG_ALL_FLINK = {task: ("kafka" if tool == "kafka" else "flink") for task, tool in TOOLS.items()}


def window_rows(clicks: list[dict], window_s: int) -> int:
    """How many (user, window) rows a tumbling count with ``window_s``-second windows gives:
    one per user and window in which that user clicked at least once."""
    return len({(c["user_id"], c["ts"] // (window_s * 1000)) for c in clicks})
