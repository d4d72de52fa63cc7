"""Lesson 10's exercises: the tools table, and the window prediction read from a topic of
clicks (closing clicks left out, as in the lesson)."""

from __future__ import annotations

from labkit import checks, events


def test_lesson_10_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    assert checks.lesson_10_tools(solution.TOOLS).ok
    wrong = checks.lesson_10_tools(solution.WRONG_ALL_FLINK)
    assert not wrong.ok and "library" in wrong.hints[0]
    empty = checks.lesson_10_tools({})
    assert not empty.ok and "not answered" in empty.message
    name = topic("l10-clicks", partitions=3)
    clicks = list(events.clicks(120, seed=31, rate=3, users=7))
    closer = {**clicks[-1], "event_id": "closer-0", "ts": clicks[-1]["ts"] + 60_000}
    lab.produce(name, [*clicks, closer], key="user_id", timestamp="ts")
    for window_s in (5, 13):
        right = solution.window_rows(clicks, window_s)
        assert checks.lesson_10_windows(lab, right, window_s=window_s, topic=name).ok
    as_clicks = checks.lesson_10_windows(lab, len(clicks), window_s=5, topic=name)
    assert not as_clicks.ok and "number of clicks" in as_clicks.message
    placeholder = checks.lesson_10_windows(lab, None, window_s=5, topic=name)
    assert not placeholder.ok and placeholder.message == "No prediction yet."
