"""Flink SQL as SQL: the ``%%flink_sql`` cell on Flink's SQL Gateway.

``gateway`` is the REST client (a session, statements, pages of results), ``changelog``
applies a query's changes to its result, ``statements`` splits a cell, ``live`` shows a
continuous query and wraps a statement's job, ``magic`` is the cell itself. Loaded in a
notebook by ``labkit.connect()`` or ``%load_ext labkit``.
"""

from __future__ import annotations

from .changelog import ChangelogTable
from .magic import FlinkSql, load_ipython_extension, session

__all__ = ["ChangelogTable", "FlinkSql", "load_ipython_extension", "session"]
