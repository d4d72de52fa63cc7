"""Reference solution of lesson 04b's exercise (checked by labkit.checks.lesson_04b_durable).

To keep accepting writes with ``may_lose`` brokers down, each partition needs at least
``min_insync_replicas`` copies left then: replication_factor - may_lose >= min_insync_replicas.
For an acknowledged write to outlive those failures, it must have been on more brokers than
can die: min_insync_replicas >= may_lose + 1, with acks='all' so the leader waits for them.
Both hold with 2 * may_lose + 1 copies (the trio's case: 3 copies, 2 in sync)."""


def settings(brokers: int, may_lose: int) -> tuple[int, int, str]:
    return 2 * may_lose + 1, may_lose + 1, "all"


# The lesson's own numbers, copied: right for 3 brokers losing 1, refused writes for 5 losing 2.
def copied(brokers: int, may_lose: int) -> tuple[int, int, str]:
    return 3, 2, "all"


# As many copies as brokers, but acknowledged with as few in sync as can die: lost when they do.
def too_few_in_sync(brokers: int, may_lose: int) -> tuple[int, int, str]:
    return brokers, may_lose, "all"


# Nothing refused, probably nothing lost - but the leader acknowledges alone.
def acks_1(brokers: int, may_lose: int) -> tuple[int, int, int]:
    return 2 * may_lose + 1, may_lose + 1, 1
