"""Lesson 04b's picture (`labkit.panels.lesson04b.plot_timeline`) from a recorded drill, and
the recording itself (`labkit.replication.Timeline`), on a stand-in for the trio: no
brokers needed to draw what they did."""

from __future__ import annotations

import threading
import time

import pandas as pd
from privatelab import wait_for

from labkit.panels.lesson04b import plot_timeline
from labkit.replication import Timeline
from labkit.runtime.trio import Mark


class FakeTrio:
    """Answers `leaders` as a trio would: broker 2 leads p0 until it is "killed", then 3."""

    def __init__(self) -> None:
        self.marks: list[Mark] = []
        self.killed = threading.Event()

    def leaders(self, *topics: str) -> pd.DataFrame:
        leader, isr = (3, [1, 3]) if self.killed.is_set() else (2, [1, 2, 3])
        return pd.DataFrame(
            [
                {"topic": topics[0], "partition": 0, "leader": leader, "replicas": [1, 2, 3], "isr": isr},
                {"topic": topics[0], "partition": 1, "leader": None, "replicas": [2], "isr": []},
            ]
        )


class FakeSent:
    topic = "orders"

    def acks_frame(self, t0: float) -> pd.DataFrame:
        return pd.DataFrame({"seq": [0, 1, 2], "t": [0.1, 0.2, 1.3], "partition": [0, 0, 1]})


def test_a_recorded_drill_is_drawn_with_its_leaders_isrs_and_kills():
    trio = FakeTrio()
    timeline = Timeline(trio, ["orders"], every=0.05)
    wait_for(lambda: len(timeline.rows) >= 4, "two polls before the kill", 10)
    trio.marks.append(Mark(time.monotonic(), "SIGKILL broker 2"))
    trio.killed.set()
    wait_for(lambda: any(r["leader"] == 3 for r in list(timeline.rows)), "a poll after the kill", 10)
    seen = timeline.stop()
    p0 = seen[seen.partition == 0]
    assert list(p0.leader.iloc[[0, -1]]) == [2, 3] and seen[seen.partition == 1].leader.isna().all()

    picture = plot_timeline(timeline, FakeSent())
    assert picture.png.startswith(b"\x89PNG")
    assert "2 partition(s)" in repr(picture) and "1 kill(s)/restart(s)" in repr(picture)
    assert len(picture.figure.axes) == 2  # the bars, and the acknowledgements per second
    labels = [t.get_text() for t in picture.figure.axes[0].get_legend().get_texts()]
    assert any(label.startswith("1: SIGKILL broker 2") for label in labels)
    assert len(plot_timeline(timeline).figure.axes) == 1  # without a sender: the bars only
