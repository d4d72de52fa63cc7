"""Lesson 09b's panel and plumbing ("Out of Kafka: a database and a lake").

* `TableWatch`: a database table as Flink's JDBC sink changes it - its rows, the cells that
  changed since the previous look highlighted - looked at every second while it changes
  (less often while it does not, `Pace`). The learner watches an upsert happen: the same six
  rows, their numbers moving.
* `lake_files`: the files under a lake folder, per partition, committed (``part-...``: what a
  reader reads) or in progress (``.part-...inprogress...``: hidden, not yet committed by a
  checkpoint).
* `fresh_lake`: an empty folder in LABKIT_HOME for the lesson's Parquet files - beside the
  lab's other data, on this machine, where the local TaskManager writes and DuckDB reads.
"""

from __future__ import annotations

import html
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from .. import paths
from ..errors import LabError
from .base import Pace, Panel

if TYPE_CHECKING:
    from ..runtime.postgres_proc import Postgres

CHANGED = "background:#fff3b0"  # a changed cell: pale yellow, readable in light and dark themes


def fresh_lake(name: str) -> Path:
    """An empty folder ``LABKIT_HOME/lake/<name>`` (emptied if a previous run left files):
    the lesson's filesystem sink writes there, DuckDB reads there."""
    if not name or "/" in name or name.startswith("."):
        raise LabError(f"A lake's name is one plain folder name, not {name!r}.")
    folder = paths.home() / "lake" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def lake_files(lake: Path) -> pd.DataFrame:
    """Every file under ``lake``'s partition folders: ``partition``, ``file``, ``state``
    ("committed" for ``part-*``, "in progress" for the hidden ``.part-*.inprogress.*``) and
    ``bytes``. A Parquet file in progress has no footer yet: no reader can read it."""
    rows = []
    for f in sorted(lake.glob("*/*")):
        if f.is_file():
            state = "committed" if f.name.startswith("part-") else "in progress"
            size = f.stat().st_size
            rows.append({"partition": f.parent.name, "file": f.name, "state": state, "bytes": size})
    return pd.DataFrame(rows, columns=["partition", "file", "state", "bytes"])


def changed_cells(before: pd.DataFrame | None, now: pd.DataFrame, key: str) -> set[tuple[Any, str]]:
    """``(key value, column)`` of every cell of ``now`` that differs from ``before`` (a new
    row: all its cells)."""
    if before is None or before.empty:
        return {(k, c) for k in now[key] for c in now.columns if c != key}
    old = before.set_index(key)
    out = set()
    for row in now.itertuples(index=False):
        values = row._asdict()
        k = values[key]
        for column, value in values.items():
            if column != key and (k not in old.index or old.at[k, column] != value):
                out.add((k, column))
    return out


def table_html(df: pd.DataFrame, key: str, changed: set[tuple[Any, str]]) -> str:
    """``df`` as an HTML table, the ``changed`` cells highlighted."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        values = row._asdict()
        cells = []
        for column, value in values.items():
            style = f" style='{CHANGED}'" if (values[key], column) in changed else ""
            cells.append(f"<td{style}>{html.escape(str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class TableWatch(Panel):
    """A PostgreSQL query looked at over and over: the rows, each cell that changed since
    the previous look highlighted, and how many looks saw a change. ``key`` is the column
    that names a row (the table's primary key).

    A background thread looks every ``every`` seconds while the table changes, less often
    while it does not, and at once after each cell the learner runs. ``look()`` looks now
    (what a test calls); ``wait_until(condition, what)`` looks until ``condition(frame)``."""

    def __init__(self, pg: Postgres, sql: str, *, key: str, every: float = 1.0, live: bool = True) -> None:
        self.pg, self.sql, self.key = pg, sql, key
        self.frame: pd.DataFrame | None = None
        self.looks = self.changes = 0  # looks taken; looks that saw a change
        self.changed: set[tuple[Any, str]] = set()
        self.header = widgets.HTML()
        self.table = widgets.HTML()
        self.widget = widgets.VBox([self.header, self.table])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pace = Pace(every, slowest=8 * every)
        self._thread: threading.Thread | None = None
        self.look()
        if live:
            self._thread = threading.Thread(target=self._loop, name="table-watch", daemon=True)
            self._thread.start()
            self.started()

    def look(self) -> bool:
        """Query the table now and redraw; True if something changed since the previous look."""
        with self._lock:
            now = self.pg.query(self.sql)
            same = self.frame is not None and now.equals(self.frame)
            changed = set() if same else changed_cells(self.frame, now, self.key)
            self.looks += 1
            if changed:
                self.changes += 1
            self.frame, self.changed = now, changed
            self.table.value = table_html(now, self.key, changed)
            self.header.value = (
                f"<b>{html.escape(self.sql)}</b><br>{_count(len(now), 'row')}; looked "
                f"{_count(self.looks, 'time')}, {self.changes} of them saw a change "
                f"({_count(len(changed), 'cell')} highlighted: changed since the previous look)"
            )
            return bool(changed)

    def wait_until(
        self, condition: Callable[[pd.DataFrame], Any], what: str, timeout: float = 60.0
    ) -> pd.DataFrame:
        """Look until ``condition(rows)`` holds and return those rows; a `LabError` naming
        ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.look()
            assert self.frame is not None
            if condition(self.frame):
                return self.frame
            if time.monotonic() > deadline:
                raise LabError(
                    f"Timed out after {timeout:.0f} s waiting for {what}; the table now:\n{self.frame}"
                )
            self._stop.wait(0.2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._pace.wait()
            if self._stop.is_set():
                return
            try:
                self._pace.changed(self.look())
            except Exception as e:  # the database stopped (labkit down): say so, stop looking
                stopped = html.escape(str(e))
                self.header.value = f"<b>{html.escape(self.sql)}</b><br>stopped looking: {stopped}"
                return

    def stop(self) -> None:
        """Stop looking (the table stays as it was last seen)."""
        self._stop.set()
        self._pace.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        super().stop()


def _count(n: int, thing: str) -> str:
    """``1 row``, ``2 rows``: the header reads right from its first look."""
    return f"{n} {thing}{'' if n == 1 else 's'}"
