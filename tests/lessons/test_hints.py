"""A hint says where to look, never the answer (labkit/checks/result.py's rule): no hint
string of any check contains a piece of an exercise's answer. Read from the checks' source
(every ``failed(message, *hints)`` call), so a hint added later is held to it too."""

from __future__ import annotations

import ast
from pathlib import Path

import labkit.checks

CHECKS = Path(labkit.checks.__file__).parent

#: Pieces of the reference answers (tests/lessons/lesson_NN/solution.py) a hint must not spell out.
ANSWERS = {
    "lesson_01.py": ["timestamp_ms=r.timestamp", "headers=r.headers", "key=r.key"],
    "lesson_04b.py": ["2 * may_lose", "may_lose + 1"],
    "lesson_05.py": ["LIKE '/product/%'", "device = 'mobile'"],
    "lesson_08.py": ["900000", "900 000", "15 min"],
    "lesson_08b.py": ["AS OF s.ship_time", "'12' HOUR", "12 HOUR", "ship_time"],
    "lesson_09.py": [
        "PATTERN (T1 T2 L)",
        "WITHIN INTERVAL",
        "ONE ROW PER MATCH",
        "SKIP PAST LAST ROW",
        "> 500.00",
        "velocity_n=3",
        "iloc[1000:2000]",
        "day[1000:2000]",
    ],
    "lesson_09b.py": ["PRIMARY KEY (order_id)", "order_id TEXT PRIMARY KEY", "order_id STRING PRIMARY KEY"],
    "lesson_10.py": ["22 s", "GRACE_S = 22", "grace=22"],
    "lesson_12.py": ["'exactly-once'", "group-offsets", "'earliest'", "600000"],
}


def hint_texts(path: Path) -> list[str]:
    """The literal text of every hint argument of every ``failed(...)`` call in ``path``,
    and of module-level dicts of hints (``_WRONG_ALERT_HINTS``, ``_WHY``)."""
    tree = ast.parse(path.read_text())
    texts = []

    def text(node: ast.AST) -> str:
        return "".join(
            n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "failed":
            texts += [text(arg) for arg in node.args[1:]]
        if isinstance(node, ast.Assign) and any(
            "HINT" in getattr(t, "id", "") or getattr(t, "id", "") == "_WHY" for t in node.targets
        ):
            texts += [text(v) for v in getattr(node.value, "values", [])]
    return texts


def test_the_hint_reader_finds_hints():
    assert len(hint_texts(CHECKS / "lesson_09.py")) >= 8  # the reader is not vacuous


def test_no_hint_gives_the_answer():
    for name, pieces in ANSWERS.items():
        for hint in hint_texts(CHECKS / name):
            given = [p for p in pieces if p in hint]
            assert not given, f"{name}: the hint {hint!r} gives the answer ({given})"
