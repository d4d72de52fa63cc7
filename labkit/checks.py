"""Exercise checks: each lesson ends with an exercise whose answer is checked here.

A check returns a `Result` that shows as a green tick or a red cross with a *hint*
(what to look at, never the answer). ``result.ok`` is what the tests assert; the hidden
reference solutions live in ``tests/solutions/`` and must pass every check.

Each lesson adds its checks below under a heading comment, as functions named
``lesson_NN_<what>(lab, answer) -> Result``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    ok: bool
    message: str
    hints: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "\u2705" if self.ok else "\u274c"
        lines = [f"{mark} {self.message}", *(f"   hint: {h}" for h in self.hints)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#cf222e"
        hints = "".join(f"<li>{h}</li>" for h in self.hints)
        return (
            f"<div style='border-left:4px solid {color};padding:4px 10px'>"
            f"<b style='color:{color}'>{'Correct' if self.ok else 'Not yet'}</b>: {self.message}"
            f"{f'<ul>{hints}</ul>' if hints else ''}</div>"
        )

    def __repr__(self) -> str:
        return str(self)


def passed(message: str) -> Result:
    return Result(True, message)


def failed(message: str, *hints: str) -> Result:
    return Result(False, message, list(hints))


# --- lesson 00 ---------------------------------------------------------------------


def lesson_00_roles(answer: dict[str, str]) -> Result:
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


LESSON_00_TASKS: dict[str, str] = {
    "keep every payment for 7 days so it can be re-read": "kafka",
    "deliver each click to both the analytics team and the billing service": "kafka",
    "count clicks per page every minute": "flink",
    "flag an account that pays 10 times in one minute": "flink",
    "let a new service read last week's events from the start": "kafka",
    "join orders with shipments that arrive up to an hour later": "flink",
}
