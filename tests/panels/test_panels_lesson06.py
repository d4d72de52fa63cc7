"""Lesson 06's window explorer and window SQL (`labkit.panels.lesson06`), driven from code;
Flink is stood in for by the pandas reference."""

from __future__ import annotations

from labkit import events
from labkit.panels.lesson06 import WindowExplorer, window_sql
from labkit.reference import windows_pandas


def test_window_sql_names_each_table_function():
    assert "TUMBLE(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '10' SECOND)" in window_sql("tumble", 10)
    hop = window_sql("hop", 10, 5)
    assert "HOP(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '5' SECOND, INTERVAL '10' SECOND)" in hop
    assert "PARTITION BY user_id" in window_sql("session", 10, gap=2)


def test_window_explorer_recomputes_when_its_controls_move():
    data = list(events.clicks(120, seed=2, rate=4, users=5))
    asked = []

    def fake_flink(sql, kind):
        asked.append((kind, sql))
        return windows_pandas(data, "tumble", 10)

    ex = WindowExplorer(data, run_flink=fake_flink)
    assert ex.windows["n"].sum() == len(data)
    ex.kind.value = "hop"
    ex.size.value = 20
    ex.slide.value = 5
    assert ex.windows["n"].sum() == 4 * len(data)
    assert "HOP(" in ex.sql.value
    ex.slide.value = 7  # not a divisor of 20: refused with a message, windows unchanged
    assert "multiple" in ex.info.value and ex.windows["n"].sum() == 4 * len(data)
    ex.kind.value = "tumble"
    ex.size.value = 10
    ex.flink_button.click()
    assert asked and asked[-1][0] == "tumble" and ex.agrees is True
    ex.kind.value = "session"
    assert ex.agrees is None  # a new setting forgets the old verdict
    ex.flink_button.click()
    assert ex.agrees is False and "DIFFER" in ex.info.value
