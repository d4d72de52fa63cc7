"""Lesson 03's group panel (`labkit.panels.lesson03`): consumers added and removed while a
producer writes, on the real broker."""

from __future__ import annotations

import pytest

from labkit.panels.lesson03 import GroupPanel


def test_group_panel_add_remove_and_lag(lab, topic, shows_picture):
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


def test_the_first_lag_sample_is_drawn_not_an_empty_frame(lab, topic, monkeypatch):
    from labkit.panels import lesson03

    drawn = []
    monkeypatch.setattr(lesson03, "render", lambda fig, out, summary="": drawn.append(fig))
    panel = GroupPanel(lab, topic("l03first", partitions=2), "l03first-g", rate=0)
    panel.lag_history.append((0.55, {0: 9, 1: 21}))  # the monitor's first sample
    panel.draw()
    lines = drawn[-1].axes[0].lines
    assert [line.get_ydata().tolist() for line in lines] == [[9], [21]]
    assert all(line.get_marker() == "o" for line in lines)  # one point: a dot, not nothing


def test_poll_until_stops_at_most_or_at_the_log_end_and_join_waits_for_partitions(lab, topic):
    """The lesson's poll loops: never more than ``most`` records (so a commit after it
    commits exactly those), else up to the log end; `join` returns what the joining polls
    got (nothing, for a group starting at the log end)."""
    from labkit.errors import LabError
    from labkit.panels.lesson03 import join, poll_until

    name = topic("l03poll", partitions=2)
    lab.produce(name, [{"n": i} for i in range(50)], key="n")
    group = f"{name}-g"
    first = lab.consumer(name, group_id=group, enable_auto_commit=False)
    try:
        got = poll_until(first, 20)
        assert len(got) == 20
        first.commit()
    finally:
        first.close()
    again = lab.consumer(name, group_id=group, enable_auto_commit=False)
    try:
        rest = poll_until(again)  # to the log end: the 30 the first run left
        assert len(rest) == 30
        assert {(r.partition, r.offset) for r in got}.isdisjoint((r.partition, r.offset) for r in rest)
    finally:
        again.close()
    latest = lab.consumer(name, group_id=f"{name}-latest", auto_offset_reset="latest")
    try:
        assert join(latest) == [] and latest.assignment()
        lab.produce(name, [{"n": 50}], key="n")
        assert [r.value for r in poll_until(latest, 1)] == [{"n": 50}]
        assert poll_until(latest, 5) == []  # at the log end: nothing left to wait for
    finally:
        latest.close()
    fresh = lab.consumer(name, group_id=f"{name}-fresh")
    try:
        with pytest.raises(LabError, match="got 0 records of 5"):
            poll_until(fresh, 5, timeout=0)  # no time to join, let alone poll
    finally:
        fresh.close()
    lab.delete_groups(group, f"{name}-latest", f"{name}-fresh")
