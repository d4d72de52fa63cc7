"""Lesson 03's group panel (`labkit.panels.lesson03`): consumers added and removed while a
producer writes, on the real broker."""

from __future__ import annotations

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
