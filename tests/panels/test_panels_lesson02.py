"""Lesson 02's panels (`labkit.panels.lesson02`): lanes per partition and the load per partition,
on the real broker."""

from __future__ import annotations

from labkit.panels.lesson02 import LanesPanel, SkewPanel, read_as_delivered


def test_lanes_panel_keeps_each_key_in_one_lane(lab, topic, shows_picture):
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


def test_skew_panel_measures_partition_load(lab, topic, shows_picture):
    panel = SkewPanel(lab, topic("l02skew"), keys=1, partitions=3, events=300)
    panel.send_button.click()  # recreates the topic with 3 partitions
    assert sorted(panel.loads.values()) == [0, 0, 300]
    assert panel.imbalance == 3.0
    panel.keys.value, panel.skew.value = 100, 0.0
    panel.send_button.click()
    assert sum(panel.loads.values()) == 300 and panel.imbalance < 1.5
    assert shows_picture(panel.plot)


def test_read_as_delivered_keeps_each_partition_in_order(lab, topic):
    name = topic("l02order", partitions=3)
    lab.produce(name, [{"seq": i, "user": f"u{i % 5}"} for i in range(60)], key="user")
    arrived = read_as_delivered(lab, name, 60)
    assert sorted(seq for _, _, seq in arrived) == list(range(60))  # each event once
    for p in {p for p, _, _ in arrived}:
        seqs = [s for q, _, s in arrived if q == p]
        assert seqs == sorted(seqs)  # a partition arrives in the order it was written
