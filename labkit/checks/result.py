"""What every exercise check returns: a `Result`, a green tick or a red cross with hints.

A hint says what to look at, never the answer. ``result.ok`` (or ``bool(result)``) is
what the tests assert; in a notebook the result shows itself (``_repr_html_``). Checks
build results with `passed` and `failed` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    """The outcome of one check: ``ok``, a ``message`` and, when not ok, ``hints``."""

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
    """A tick: the answer is right; ``message`` says what the learner got right."""
    return Result(True, message)


def failed(message: str, *hints: str) -> Result:
    """A cross: ``message`` says what is wrong, each hint where to look."""
    return Result(False, message, list(hints))
