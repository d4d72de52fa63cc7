"""A query's result as Flink means it: a table kept up to date by its changelog.

A continuous query does not return rows, it returns *changes* to its result: ``+I``
(INSERT) adds a row, ``-U`` (UPDATE_BEFORE) and ``-D`` (DELETE) take one away, ``+U``
(UPDATE_AFTER) adds the new version of a row whose old version ``-U`` just took away.
Applying them in order gives the result as of now - a GROUP BY's count for a word is one
row whose value changes, not a pile of rows. (Appending the changes instead is the classic
mistake: every count ever emitted stays on screen.)

A row is identified by its values, as Flink's own SQL client does (a retraction carries
the full old row). An update keeps its row's place: the ``+U`` that follows a ``-U`` goes
where the old row was, so a table of counts updates in place instead of reshuffling.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import islice
from typing import Any

import pandas as pd

#: The row kinds of Flink's changelog, as the SQL Gateway writes them, and their short names.
KINDS = {"INSERT": "+I", "UPDATE_BEFORE": "-U", "UPDATE_AFTER": "+U", "DELETE": "-D"}


class ChangelogError(ValueError):
    """A retraction of a row the table does not hold: the changelog and the table disagree."""


class ChangelogTable:
    """Rows kept current by `apply`; `frame` is the result as of the last change."""

    def __init__(self, columns: list[str] | None = None, types: list[str] | None = None) -> None:
        self.columns = list(columns or [])
        self.types = list(types or [])  # Flink's logical types, to give `frame` pandas types
        self._rows: list[tuple | None] = []  # None: a removed row's place (compacted later)
        self._where: dict[tuple, list[int]] = defaultdict(list)  # row -> its places
        self._freed: int | None = None  # the place the last -U emptied, for the next +U
        self._live = 0
        self.changes = 0  # how many changes were applied
        self.counts = dict.fromkeys(KINDS.values(), 0)

    def __len__(self) -> int:
        return self._live

    def apply(self, kind: str, fields: list[Any]) -> None:
        """Apply one change (``kind`` INSERT/UPDATE_BEFORE/UPDATE_AFTER/DELETE or +I/-U/+U/-D)."""
        short = KINDS.get(kind, kind)
        row = tuple(_hashable(v) for v in fields)
        if short in ("+I", "+U"):
            at = self._freed if short == "+U" and self._freed is not None else None
            if at is None:
                at = len(self._rows)
                self._rows.append(row)
            else:
                self._rows[at] = row
            self._where[row].append(at)
            self._live += 1
            self._freed = None
        elif short in ("-U", "-D"):
            places = self._where.get(row)
            if not places:
                raise ChangelogError(f"{short} of a row the result does not hold: {list(fields)}")
            at = places.pop()
            if not places:
                del self._where[row]
            self._rows[at] = None
            self._live -= 1
            self._freed = at if short == "-U" else None
            if len(self._rows) > 64 and self._live < len(self._rows) // 2 and self._freed is None:
                self._compact()
        else:
            raise ChangelogError(f"unknown row kind {kind!r}")
        self.changes += 1
        self.counts[short] += 1

    def apply_all(self, changes: list[tuple[str, list[Any]]]) -> None:
        for kind, fields in changes:
            self.apply(kind, fields)

    def _compact(self) -> None:
        kept = [r for r in self._rows if r is not None]
        self._rows = list(kept)
        self._where = defaultdict(list)
        for i, row in enumerate(kept):
            self._where[row].append(i)

    def rows(self) -> list[tuple]:
        """The current rows, in place order."""
        return [r for r in self._rows if r is not None]

    def frame(self, first: int | None = None) -> pd.DataFrame:
        """The current result as a DataFrame (only its ``first`` rows if given: what a live
        table shows, without building the whole result at every redraw)."""
        rows = self.rows() if first is None else list(islice((r for r in self._rows if r is not None), first))
        frame = pd.DataFrame(rows, columns=self.columns or None)
        return typed(frame, self.types)


def typed(frame: pd.DataFrame, types: list[str]) -> pd.DataFrame:
    """Columns that JSON carries as text made pandas types again: Flink's TIMESTAMP,
    TIMESTAMP_LTZ and DATE columns as datetimes (the lab's Flink runs in UTC)."""
    for name, kind in zip(frame.columns, types, strict=False):
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            frame[name] = pd.to_datetime(frame[name], format="ISO8601")
    return frame


def _hashable(value: Any) -> Any:
    """A JSON value as a dict key: lists and maps (ARRAY, ROW, MAP columns) become tuples."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
