"""The lesson 01-04 panels, driven from code the way a learner drives them with the mouse:
set widget values, click buttons, and check what happened on the real broker."""

from __future__ import annotations

import time

from labkit import events
from labkit.kafka_panels import (
    AcksPanel,
    GroupPanel,
    LanesPanel,
    ReplayPanel,
    SkewPanel,
    StreamPanel,
    apply_transaction,
    wait_until,
)


def shows_picture(out) -> bool:
    return bool(out.outputs) and "image/png" in out.outputs[0]["data"]


def test_stream_panel_start_stop_and_rate(lab, topic):
    name = topic("l01stream", partitions=2)
    panel = StreamPanel(lab, name, rate=100)
    try:
        panel.rate.value = 300
        panel.start_button.click()
        assert panel.running and panel.stop_button.disabled is False
        wait_until(lambda: panel.received >= 150, 60, "150 events to come back")
        panel.stop_button.click()
        assert not panel.running and panel.start_button.disabled is False
        assert panel.error is None
        assert panel.received == panel.sent
        assert sum(lab.end_offsets(name).values()) == panel.sent
        assert shows_picture(panel.plot) and panel.table.outputs
        panel.kind.value = "payments"
        panel.start()
        wait_until(lambda: "account_id" in panel.latest[-1], 60, "a payment to come back")
        panel.stop()
        assert panel.error is None and panel.received == panel.sent
    finally:
        panel.stop()  # never leave its producer thread running, whatever failed


def test_acks_panel_measures_each_setting(lab, topic):
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


def test_lanes_panel_keeps_each_key_in_one_lane(lab, topic):
    panel = LanesPanel(lab, topic("l02lanes"), partitions=3, keys=4, events=12, seconds=0.3)
    panel.partitions.value = 2
    panel.send_button.click()  # recreates the topic with 2 partitions
    assert set(panel.lanes) == {0, 1}
    assert sum(len(r) for r in panel.lanes.values()) == 12
    owner: dict = {}
    for p, records in panel.lanes.items():
        assert [r["offset"] for r in records] == list(range(len(records)))  # log order
        for r in records:
            owner.setdefault(r["key"], set()).add(p)
    assert all(len(ps) == 1 for ps in owner.values())
    assert shows_picture(panel.plot)
    panel.keys.value = 0
    panel.send_button.click()
    assert all(r["key"] is None for rs in panel.lanes.values() for r in rs)


def test_skew_panel_measures_partition_load(lab, topic):
    panel = SkewPanel(lab, topic("l02skew"), keys=1, partitions=3, events=300)
    panel.send_button.click()  # recreates the topic with 3 partitions
    assert sorted(panel.loads.values()) == [0, 0, 300]
    assert panel.imbalance == 3.0
    panel.keys.value, panel.skew.value = 100, 0.0
    panel.send_button.click()
    assert sum(panel.loads.values()) == 300 and panel.imbalance < 1.5
    assert shows_picture(panel.plot)


def test_group_panel_add_remove_and_lag(lab, topic):
    name = topic("l03group", partitions=2)
    group = f"{name}-g"
    panel = GroupPanel(lab, name, group, rate=50, work_ms=0)
    try:
        panel.add_button.click()
        panel.wait_for(lambda g: g.assignment.get("consumer-1") == [0, 1], 20, "an assignment")
        panel.wait_for(lambda g: len(g.processed_offsets) >= 20, 30, "events to be processed")
        panel.rate.value = 0
        panel.wait_for(lambda g: g.produced > 0 and g.caught_up, 20, "lag 0")
        panel.remove_button.click()
        assert panel.members == []
    finally:
        panel.stop_button.click()
        lab.delete_groups(group)
    assert len(panel.processed_offsets) == panel.produced == sum(lab.end_offsets(name).values())
    assert panel.assignment_history and shows_picture(panel.plot)


def test_replay_panel_three_ways(lab, topic):
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


def test_group_panel_starts_again_after_stop(lab, topic):
    name = topic("l03again", partitions=1)
    group = f"{name}-g"
    panel = GroupPanel(lab, name, group, rate=20)
    try:
        panel.stop_button.click()  # stopping before starting is harmless
        panel.add_button.click()
        panel.wait_for(lambda g: g.assignment.get("consumer-1") == [0], 20, "an assignment")
        panel.stop_button.click()
        produced = panel.produced
        panel.add_button.click()  # a stopped panel comes back to life
        panel.wait_for(lambda g: g.produced > produced and g.lag_history, 20, "production to resume")
        assert "1 consumer(s)" in panel.status.value
    finally:
        panel.stop()
        lab.delete_groups(group)


def test_stop_all_stops_panels_left_running(lab, topic):
    from labkit.kafka_panels import stop_all

    panel = StreamPanel(lab, topic("l01again"), rate=20)
    panel.start()
    assert panel.running
    stop_all()  # what a lesson's set-up cell does when the notebook is run again
    assert not panel.running
