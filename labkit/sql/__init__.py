"""Flink SQL as SQL: the ``%%flink_sql`` cell on Flink's SQL Gateway.

``gateway`` is the REST client (a session, statements, pages of results), ``changelog``
applies a query's changes to its result, ``statements`` splits a cell, ``live`` shows a
continuous query and wraps a statement's job, ``magic`` is the cell itself. Loaded in a
notebook by ``labkit.connect()`` or ``%load_ext labkit``.

The cell's names load on first use (PEP 562): ``labkit.sql.statements`` is imported by
code that Flink's TaskManager runs too (a Python function's module pulls in labkit), and
there the cell's widgets and matplotlib must not come along - three operators importing
them at once in the TaskManager's embedded Python hung lesson 09's jobs at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .changelog import ChangelogTable
    from .magic import FlinkSql, load_ipython_extension, session

__all__ = ["ChangelogTable", "FlinkSql", "load_ipython_extension", "session"]
_HOME = {
    "ChangelogTable": "changelog",
    "FlinkSql": "magic",
    "load_ipython_extension": "magic",
    "session": "magic",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'labkit.sql' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value
