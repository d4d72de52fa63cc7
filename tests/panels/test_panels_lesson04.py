"""Lesson 04's replay panel on the real broker, and its retention and compaction pictures
(`labkit.panels.lesson04`)."""

from __future__ import annotations

import time

import pandas as pd

from labkit import events
from labkit.panels.lesson04 import ReplayPanel, compaction_picture, retention_picture
from labkit.reference import apply_transaction

DAY = 24 * 3600 * 1000


def test_replay_panel_three_ways(lab, topic, shows_picture):
    name = topic("l04replay", partitions=2)
    txs = list(events.ledger(60, seed=5))
    marks = {}
    for n in range(2):
        marks[f"before {n}"] = int(time.time() * 1000)
        time.sleep(0.2)
        lab.produce(name, txs[n * 30 : (n + 1) * 30], key="account_id")
        time.sleep(0.2)
    truth: dict = {}
    second: dict = {}
    for i, tx in enumerate(txs):
        apply_transaction(truth, tx)
        if i >= 30:
            apply_transaction(second, tx)
    panel = ReplayPanel(lab, name, marks)
    panel.replay_button.click()
    assert panel.balances == truth and panel.replayed == 60
    panel.mode.value, panel.when.value = "time", marks["before 1"]
    panel.replay_button.click()
    assert panel.balances == second and panel.replayed == 30
    panel.mode.value, panel.offset.value = "offset", 10
    panel.replay_button.click()
    ends = lab.end_offsets(name)
    assert panel.replayed == sum(max(0, e - 10) for e in ends.values())
    assert shows_picture(panel.plot)


def test_pictures_draw_and_summarise():
    ts = pd.Timestamp("2026-01-01", tz="UTC")
    sent = pd.DataFrame({"offset": range(10), "timestamp": [ts + pd.Timedelta(days=i) for i in range(10)]})
    now = int((ts + pd.Timedelta(days=10)).timestamp() * 1000)
    pic = retention_picture(sent, 4, 6 * DAY, now, bounds=[0, 4, 8])
    assert pic._repr_png_().startswith(b"\x89PNG") and repr(pic) == "deleted offsets 0-3, kept 4-9"
    before = pd.DataFrame({"offset": range(6), "key": list("abcabc"), "v": range(6)})
    pic = compaction_picture(before, before.iloc[3:], "v")
    assert pic._repr_png_().startswith(b"\x89PNG") and repr(pic) == "6 events before compaction, 3 after"
