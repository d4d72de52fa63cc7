"""Lesson 07's disorder panel and watermark pictures (`labkit.panels.lesson07`), driven from
code: no broker, no Flink."""

from __future__ import annotations

from test_reference import seen_rows, window_rows

from labkit import events
from labkit.panels.lesson07 import DisorderPanel, plot_watermark_timeline


def test_disorder_panel_counts_late_events_as_the_sliders_move():
    panel = DisorderPanel(list(events.clicks(200, seed=4, rate=10)), size=5)
    panel.disorder.value = 0
    panel.bound.value = 0
    assert panel.late == 0  # in order: nothing is late even with no slack
    panel.disorder.value = 4
    late_tight = panel.late
    panel.bound.value = 4
    assert late_tight > 0 and panel.late == 0
    assert "late" in panel.info.value


def test_watermark_timeline_picture_draws_fired_and_open_windows():
    # the inputs of test_reference's watermark timeline test: [0,5) fired, [5,10) open, then fired
    seen = seen_rows([1, 6, 2, 7, 9], [None, 0, 5, 5, 6])
    later = seen_rows([1, 6, 2, 7, 9, 11], [None, 0, 5, 5, 6, 8])
    both = window_rows((0, 5, 1), (5, 10, 3))
    plot_watermark_timeline(seen, window_rows((0, 5, 1)), bound=1, size=5, late=["e2"])  # [5,10) open
    plot_watermark_timeline(later, both, bound=1, size=5, late=["e2"], later=["e5"])


def test_the_lessons_plumbing_helpers():
    """`per_5s` counts timestamps and epoch milliseconds alike; `at` shows a clock time;
    `clicks_schema` writes the watermark bound asked for."""
    import pandas as pd

    from labkit.panels.lesson07 import at, clicks_schema, per_5s

    clicks = list(events.clicks(100, seed=7, rate=10))
    ms = [c["ts"] for c in clicks]
    assert per_5s(ms) == per_5s(pd.to_datetime(ms, unit="ms", utc=True))
    assert sum(per_5s(ms)) == 100
    assert at(1767225600000 + 1500) == "00:00:01.500"
    assert "INTERVAL '4' SECOND" in clicks_schema(4) and "INTERVAL '1' SECOND" in clicks_schema()
