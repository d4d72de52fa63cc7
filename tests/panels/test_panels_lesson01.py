"""Lesson 01's panels (`labkit.panels.lesson01`), driven from code the way a learner drives
them with the mouse: set widget values, click buttons, check what happened on the real broker."""

from __future__ import annotations

from labkit.panels.base import stop_all
from labkit.panels.lesson01 import AcksPanel, StreamPanel
from labkit.waiting import wait_for


def test_stream_panel_start_stop_and_rate(lab, topic, shows_picture):
    name = topic("l01stream", partitions=2)
    panel = StreamPanel(lab, name, rate=100)
    try:
        panel.rate.value = 300
        panel.start_button.click()
        assert panel.running and panel.stop_button.disabled is False
        wait_for(lambda: panel.received >= 150, "150 events to come back", timeout=60)
        panel.stop_button.click()
        assert not panel.running and panel.start_button.disabled is False
        assert panel.error is None
        assert panel.received == panel.sent
        assert sum(lab.end_offsets(name).values()) == panel.sent
        assert shows_picture(panel.plot) and panel.table.outputs
        panel.kind.value = "payments"
        panel.start()
        wait_for(lambda: "account_id" in panel.latest[-1], "a payment to come back", timeout=60)
        panel.stop()
        assert panel.error is None and panel.received == panel.sent
    finally:
        panel.stop()  # never leave its producer thread running, whatever failed


def test_acks_panel_measures_each_setting(lab, topic, shows_picture):
    name = topic("l01acks")
    panel = AcksPanel(lab, name, n=50)
    for choice in ("all", "0"):
        panel.acks.value = choice
        panel.measure_button.click()
    table = panel.table.set_index("acks")
    assert list(table.index) == ["0", "all"]  # shown in a fixed order
    assert table.loc["0", "distinct_offsets_reported"] == 1
    assert table.loc["all", "distinct_offsets_reported"] == 50
    assert (table["stored"] == table["sent"]).all()  # acks=0 included: nothing goes wrong here
    assert (table["events_per_request"] > 1).all()  # the pipelined sends are batched
    assert shows_picture(panel.plot)


def test_stop_all_stops_panels_left_running(lab, topic):
    panel = StreamPanel(lab, topic("l01again"), rate=20)
    panel.start()
    assert panel.running
    stop_all()  # what a lesson's set-up cell does when the notebook is run again
    assert not panel.running
