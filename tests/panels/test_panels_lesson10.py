"""Lesson 10's pictures (`labkit.panels.lesson10`) on made-up data: no broker, no Flink, no
Kafka Streams. What is asserted is what a learner reads off them: titles, bars, labels."""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd

from labkit import streams
from labkit.panels.lesson10 import ENGINE_COLOURS, plot_partitions, plot_windows

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC


def at(second: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + second * 1000, unit="ms", tz="UTC")


def counts(*rows: tuple[str, int, int]) -> pd.DataFrame:
    """Tidy counts from (user, window start second, clicks), 10 s windows."""
    return pd.DataFrame(
        [(u, at(s), at(s + 10), n) for u, s, n in rows],
        columns=["user_id", "window_start", "window_end", "clicks"],
    )


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # (an arrow is an empty text)


def test_owners_reads_the_instance_from_each_members_client_id():
    group = pd.DataFrame(
        {
            "client_id": ["app-instance-1-StreamThread-1-consumer", "app-instance-2-StreamThread-1-consumer"],
            "partitions": [["clicks[0]", "clicks[2]"], ["clicks[1]"]],
        }
    )
    assert streams.owners(group) == {0: 1, 1: 2, 2: 1}
    assert streams.owners(group.iloc[:0]) == {}


def test_partitions_picture_shows_who_owns_what_and_what_moved(shows_picture):
    out = widgets.Output()
    moments = [("instance 1 alone", {0: 1, 1: 1, 2: 1}), ("instance 2 joined", {0: 1, 1: 2, 2: 1})]
    picture = plot_partitions(moments, topic="l10-clicks", out=out)
    ax = picture.figure.axes[0]
    assert "l10-clicks" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["instance 1 alone", "instance 2 joined"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["partition 0", "partition 1", "partition 2"]
    assert texts(picture.figure) == ["instance 1"] * 3 + ["instance 1", "instance 2", "instance 1"]
    assert len(ax.patches) == 6  # one box per partition and moment
    arrows = [c for c in ax.texts if getattr(c, "arrow_patch", None) is not None]
    assert len(arrows) == 1  # partition 1 changed hands, nothing else did
    assert "1 change(s) of owner" in picture.summary and "p1->2" in picture.summary
    assert shows_picture(out)


def test_partitions_picture_says_nobody_for_an_unowned_partition():
    picture = plot_partitions([("mid-rebalance", {0: 1}), ("after", {0: 1, 1: 1})])
    assert texts(picture.figure).count("nobody") == 1


def test_windows_picture_puts_the_engines_side_by_side_and_marks_the_late_event():
    by_streams = counts(("a", 0, 1), ("a", 10, 1))  # Kafka Streams dropped a at 5 s; b's window still open
    by_flink = counts(("a", 0, 2), ("a", 10, 1), ("b", 0, 2))
    late = [{"user_id": "a", "ts": T0 + 5_000, "dropped_by": {"Kafka Streams"}}]
    picture = plot_windows(by_streams, by_flink, late=late, title="a at 5 s, 2 s of grace")
    ax = picture.figure.axes[0]
    assert ax.get_title() == "a at 5 s, 2 s of grace"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\n[0, 10) s", "a\n[10, 20) s", "b\n[0, 10) s"]
    filled = [p for p in ax.patches if p.get_fill()]
    heights = {
        engine: [p.get_height() for p in filled if p.get_facecolor()[:3] == _rgb(colour)]
        for engine, colour in ENGINE_COLOURS.items()
    }
    assert heights == {"Kafka Streams": [1, 1], "Flink": [2, 1, 2]}
    assert sum(1 for p in ax.patches if not p.get_fill()) == 1  # b's window: open in Kafka Streams
    written = texts(picture.figure)
    assert "still\nopen" in written
    assert "a at 5 s\ndropped" in written and "a at 5 s\ncounted" in written
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Kafka Streams", "Flink"]
    assert picture.summary == (
        "Kafka Streams 2 of 3 windows, Flink 3 of 3 windows emitted; a at 5 s dropped by Kafka Streams"
    )


def test_windows_picture_adds_users_up_per_window_when_asked():
    same = counts(("a", 0, 3), ("b", 0, 4), ("a", 10, 1))
    picture = plot_windows(same, same, per_user=False)
    ax = picture.figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[0, 10) s", "[10, 20) s"]
    assert sorted(p.get_height() for p in ax.patches) == [1, 1, 7, 7]
    assert "still\nopen" not in texts(picture.figure)
    assert picture.summary == "Kafka Streams 2 of 2 windows, Flink 2 of 2 windows emitted"


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def test_windows_picture_takes_who_dropped_it_as_labkit_streams_says_it():
    by_flink = counts(("a", 0, 2))
    for said, crosses in [("kafka streams", 1), ("flink", 1), ("both", 2), ("neither", 0)]:
        late = [{"user_id": "a", "ts": T0 + 5_000, "dropped_by": said}]
        picture = plot_windows(by_flink, by_flink, late=late)
        written = texts(picture.figure)
        assert (
            written.count("a at 5 s\ndropped") == crosses
            and written.count("a at 5 s\ncounted") == 2 - crosses
        )
