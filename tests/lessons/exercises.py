"""What the lesson exercise tests share (tests/lessons/lesson_NN/test_lesson_NN_exercise.py).

Each lesson's hidden reference solution is ``tests/lessons/lesson_NN/solution.py``, next to
its test (apache/flink-training's habit). The folders are not packages (no ``__init__.py``,
so pytest's default import mode keeps working), hence `load` imports a solution by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from labkit import checks

LESSONS = Path(__file__).resolve().parent

#: Topic settings for tests whose records carry 2026 timestamps (lesson 01's payments,
#: lesson 04's ledger): like the lessons' topics they keep events for ever, or Kafka's
#: time-based retention (7 days by default, judged by the records' timestamps) would
#: delete them within seconds of being written.
KEEP_FOREVER = {"config": {"retention.ms": "-1"}}


def load(lesson: str) -> ModuleType:
    """The reference solution of ``lesson`` (e.g. ``"lesson_01"``): lessons/<lesson>/solution.py,
    imported once per session as the module ``<lesson>_solution``."""
    name = f"{lesson}_solution"
    if name not in sys.modules:
        path = LESSONS / lesson / "solution.py"
        if not path.is_file():
            raise FileNotFoundError(f"no reference solution for {lesson!r} at {path}")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def assert_hint(result: checks.Result) -> None:
    """A wrong answer: not ok, and with at least one hint."""
    assert not result.ok
    assert result.hints, f"a wrong answer must come with a hint: {result}"
