"""Reference solutions of lesson 10's exercises (checked by labkit.checks.lesson_10_tools and
labkit.checks.lesson_10_late)."""

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

# Exercise 2. a at 8 s is in partition 0, whose stream time is at 31 s when it arrives:
# Kafka Streams closed [0 s, 10 s) at 10 + 2 = 12 s. b at 4 s is in partition 1, whose stream
# time is 9 s: its window is still open there. Flink's watermark is the minimum over both
# partitions, at most 9 - 2 = 7 s: neither window has closed.
LATE = {"a at 8 s": "kafka streams", "b at 4 s": "neither", "why": "B"}
# Kafka Streams keeps a at 8 s while 10 s (its window's end) > 31 s - grace: grace > 21 s.
GRACE_S = 22

# what a learner who copies the lesson's answer (Kafka Streams drops the late event) gives
WRONG_COPIED = {"a at 8 s": "kafka streams", "b at 4 s": "kafka streams", "why": "B"}
# ... and one who thinks Flink's watermark follows the newest event of all partitions
WRONG_GLOBAL_CLOCK = {"a at 8 s": "both", "b at 4 s": "neither", "why": "C"}
