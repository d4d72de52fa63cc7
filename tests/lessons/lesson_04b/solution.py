"""Reference solution of lesson 04b's exercise (checked by labkit.checks.lesson_04b_durable).

Survive one broker loss without losing an acknowledged write, on three brokers: three
copies (two are left when one broker dies), acknowledge only once two are in sync
(min.insync.replicas=2, so a write is never on the leader alone), and make the producer
wait for them (acks='all')."""

ANSWER = {"replication_factor": 3, "min_insync_replicas": 2, "acks": "all"}

# Two copies and min.insync.replicas=2: one broker down leaves one copy - writes refused.
WRONG_TWO_COPIES = {"replication_factor": 2, "min_insync_replicas": 2, "acks": "all"}
# Nothing refused, probably nothing lost - but the leader acknowledges alone.
WRONG_ACKS_1 = {"replication_factor": 3, "min_insync_replicas": 2, "acks": 1}
