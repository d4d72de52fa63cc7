"""Lesson 09b's panel and plumbing (`labkit.panels.lesson09b`) and its pandas truth
(`labkit.reference.sales_per_product`): a table watched as it changes (on the lab's real
PostgreSQL and on a scripted one), the lake's files told apart. Flink's sinks themselves run
in the lesson (nbval) and tests/flink/."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

import labkit
from labkit import events
from labkit.errors import LabError
from labkit.panels.lesson09b import TableWatch, changed_cells, fresh_lake, lake_files, table_html
from labkit.reference import sales_per_product


class Scripted:
    """A stand-in for `Postgres` whose query returns the next of ``frames`` (the last one
    again and again)."""

    def __init__(self, *frames: pd.DataFrame) -> None:
        self.frames = list(frames)

    def query(self, sql: str) -> pd.DataFrame:
        return self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]


def frame(**items: int) -> pd.DataFrame:
    return pd.DataFrame({"product": list(items), "items": list(items.values())})


def test_sales_per_product_counts_orders_and_items_per_product():
    orders = [
        {"order_id": "a", "product": "mug", "qty": 2, "ts": 0},
        {"order_id": "b", "product": "lamp", "qty": 1, "ts": 1},
        {"order_id": "c", "product": "mug", "qty": 3, "ts": 2},
    ]
    got = sales_per_product(orders)
    assert got.to_dict("records") == [
        {"product": "lamp", "orders": 1, "items": 1},
        {"product": "mug", "orders": 2, "items": 5},
    ]
    assert sales_per_product(events.orders(720, seed=9))["orders"].sum() == 720


def test_changed_cells_are_those_that_differ_or_are_new():
    before, now = frame(mug=2, lamp=1), frame(mug=2, lamp=4, rug=1)
    assert changed_cells(before, now, "product") == {("lamp", "items"), ("rug", "items")}
    assert changed_cells(None, now, "product") == {("mug", "items"), ("lamp", "items"), ("rug", "items")}
    html = table_html(now, "product", {("lamp", "items")})
    assert html.count("background:") == 1 and "<td style='background:#fff3b0'>4</td>" in html


def test_a_watch_counts_the_looks_that_saw_a_change_and_waits_for_a_condition():
    pg = Scripted(frame(mug=1), frame(mug=1), frame(mug=2), frame(mug=2, lamp=1))
    watch = TableWatch(pg, "SELECT * FROM sales", key="product", live=False)  # type: ignore[arg-type]
    assert (watch.looks, watch.changes) == (1, 1)  # the first look: every cell is new
    assert "1 row; looked 1 time, 1 of them saw a change (1 cell highlighted" in watch.header.value
    assert watch.look() is False  # the same rows
    assert watch.look() is True and watch.changed == {("mug", "items")}
    got = watch.wait_until(lambda t: len(t) == 2, "two rows")
    assert got["product"].tolist() == ["mug", "lamp"]
    assert (watch.looks, watch.changes) == (4, 3)
    assert "4 times, 3 of them saw a change" in watch.header.value
    with pytest.raises(LabError, match="three rows"):
        watch.wait_until(lambda t: len(t) == 3, "three rows", timeout=0.3)


def test_a_live_watch_on_the_labs_postgres_sees_an_update_and_stops(lab: labkit.Lab):
    pg = lab.postgres()
    pg.execute("DROP TABLE IF EXISTS watch_test")
    pg.execute("CREATE TABLE watch_test (product TEXT PRIMARY KEY, items BIGINT)")
    pg.execute("INSERT INTO watch_test VALUES ('mug', 1)")
    watch = TableWatch(pg, "SELECT * FROM watch_test ORDER BY product", key="product", every=0.1)
    try:
        pg.execute("INSERT INTO watch_test VALUES ('mug', 5) ON CONFLICT (product) DO UPDATE SET items = 5")
        seen = watch.wait_until(lambda t: t["items"].tolist() == [5], "the update")
        assert seen["product"].tolist() == ["mug"]  # upserted: still one row
    finally:
        watch.stop()
    assert not any(t.name == "table-watch" and t.is_alive() for t in threading.enumerate())  # it ended


def test_lake_files_tell_committed_from_in_progress(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lake = fresh_lake("orders")
    assert lake == tmp_path / "lake" / "orders" and not any(lake.iterdir())
    (lake / "dt=2026-01-01").mkdir()
    (lake / "dt=2026-01-01" / "part-a-0-0").write_bytes(b"PAR1....PAR1")
    (lake / "dt=2026-01-01" / ".part-a-0-1.inprogress.b").write_bytes(b"PAR1")
    files = lake_files(lake)
    assert files[["file", "state", "bytes"]].to_dict("records") == [
        {"file": ".part-a-0-1.inprogress.b", "state": "in progress", "bytes": 4},
        {"file": "part-a-0-0", "state": "committed", "bytes": 12},
    ]
    assert fresh_lake("orders") == lake and not any(lake.iterdir())  # a second run starts empty
    for bad in ("", "../x", ".hidden"):
        with pytest.raises(LabError, match="plain folder name"):
            fresh_lake(bad)
