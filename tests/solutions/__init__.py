"""The hidden reference solutions of the lessons' exercises, one module per lesson."""

from __future__ import annotations

import importlib
from types import ModuleType


def load(lesson: str) -> ModuleType:
    """The reference solution of ``lesson`` (e.g. ``"lesson_01"``)."""
    return importlib.import_module(f"{__name__}.{lesson}")
