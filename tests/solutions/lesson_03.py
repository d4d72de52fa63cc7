"""Reference solution of lesson 03's exercise (checked by labkit.checks.lesson_03_lag)."""


def lag(end_offsets: dict[int, int], committed: dict[int, int | None]) -> dict[int, int]:
    return {p: end - (committed.get(p) or 0) for p, end in end_offsets.items()}


def wrong_none(end_offsets: dict[int, int], committed: dict[int, int | None]) -> dict[int, int]:
    """Forgets that a never-committed partition has committed offset None."""
    return {p: end - committed[p] for p, end in end_offsets.items()}


def wrong_sign(end_offsets: dict[int, int], committed: dict[int, int | None]) -> dict[int, int]:
    return {p: (committed.get(p) or 0) - end for p, end in end_offsets.items()}
