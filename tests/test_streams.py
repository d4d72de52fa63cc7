"""Kafka Streams (lesson 10): the app labkit compiles and runs, on the real Kafka and Flink.

The lesson compares Kafka Streams and Flink on its own clicks; here the comparison runs on
another data set (other users, seed, partitions, window and grace) and both engines must
still agree with each other and with pandas. The app is a tracked process: stopping it,
and `labkit down`, leave nothing running.
"""

from __future__ import annotations

import uuid

import pandas as pd
from privatelab import gone

from labkit import events, streams
from labkit.runtime import streams_proc
from labkit.runtime.state import State


def test_kafka_streams_and_flink_agree_on_another_data_set(lab, topic):
    app_id = f"test-ks-{uuid.uuid4().hex[:8]}"
    clicks_topic, counts_topic = topic("ks-clicks", 2), topic("ks-counts", 1)
    window_s, grace_s = 7, 1
    app = streams_proc.start(
        lab, app_id, clicks=clicks_topic, counts=counts_topic, window_s=window_s, grace_s=grace_s
    )
    try:
        assert app.wait_running() > 0 and sorted(app.tasks) == ["0_0", "0_1"]
        clicks = list(events.clicks(250, seed=77, rate=6, users=5))
        lab.produce(clicks_topic, clicks, key="user_id", timestamp="ts")
        later = clicks[-1]["ts"] + 60_000  # one more click per partition closes every window before it
        users = lab.read(clicks_topic).groupby("partition")["key"].first()
        assert len(users) == 2
        closers = [{"event_id": f"closer-{p}", "user_id": u, "ts": later} for p, u in users.items()]
        lab.produce(clicks_topic, closers, key="user_id", timestamp="ts")

        truth = streams.expected_counts(clicks, window_s)  # pandas
        flink = streams.tidy(
            lab.query(
                f"""SELECT user_id, window_start, window_end, COUNT(*) AS clicks
                FROM TUMBLE(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '{window_s}' SECOND)
                GROUP BY user_id, window_start, window_end""",
                {
                    "clicks": "user_id STRING, ev_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', "
                    f"WATERMARK FOR ev_time AS ev_time - INTERVAL '{grace_s}' SECOND"
                },
                topics={"clicks": clicks_topic},
                streaming=True,
            )
        )
        # the bounded read closes the closing clicks' own windows too; Kafka Streams never does
        flink = flink[flink["window_end"] <= pd.Timestamp(later, unit="ms", tz="UTC")].reset_index(drop=True)
        by_streams = streams.counts(lab, counts_topic, rows=len(truth))
        key = ["user_id", "window_start", "clicks"]
        assert by_streams[key].equals(truth[key])
        assert flink[key].equals(truth[key])
        assert len(lab.read(counts_topic)) == len(truth)  # one final result per window, no updates
        internal = streams.internal_topics(lab, app_id)
        stores = {f"{app_id}-click-counts-changelog", f"{app_id}-final-counts-store-changelog"}
        assert set(internal["topic"]) == stores
    finally:
        pid = app.info["pid"]
        assert app.stop()
        streams.reset(lab, app_id)
    assert gone(pid)
    assert app.name not in State.load().processes and not streams_proc.running(app_id)


def test_a_second_instance_splits_the_partitions_and_gives_them_back(lab, topic):
    app_id = f"test-ks2-{uuid.uuid4().hex[:8]}"
    src, dst = topic("ks2-in", 3), topic("ks2-out", 1)
    one = streams_proc.start(lab, app_id, clicks=src, counts=dst)
    two = None
    try:
        one.wait_running()
        two = streams_proc.start(lab, app_id, clicks=src, counts=dst, instance=2)
        split = streams.wait_balanced(lab, [one, two], src)
        assert len(split) == 2 and sorted(one.tasks + two.tasks) == ["0_0", "0_1", "0_2"]
        assert one.tasks and two.tasks
        owners = streams.owners(split)  # what lesson 10's picture draws: {partition: instance}
        assert sorted(owners) == [0, 1, 2] and set(owners.values()) == {1, 2}
        assert sorted(p for p, i in owners.items() if i == 2) == sorted(int(t[2:]) for t in two.tasks)
        two.stop()
        back = streams.wait_balanced(lab, [one], src)
        assert sorted(one.tasks) == ["0_0", "0_1", "0_2"] and streams.owners(back) == {0: 1, 1: 1, 2: 1}
        assert one.rss_mb() > 0 and one.startup_s() > 0
    finally:
        streams.reset(lab, app_id)
    assert not streams_proc.running(app_id)


class _Logged:
    """A stand-in for a `StreamsApp`: only its log lines."""

    name = "streams-fake-1"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def log_lines(self, containing: str) -> list[str]:
        return [line for line in self.lines if containing in line]


def test_dropped_reads_the_expired_window_warnings_and_dropped_by_says_who():
    t0 = 1_767_225_600_000
    warning = (
        "12:00:01 WARN KStreamWindowAggregate - Skipping record for expired window. topic=[l10-late] "
        f"partition=[0] offset=[3] timestamp=[{t0 + 5000}] window=[{t0},{t0 + 10000}) "
        f"expiration=[{t0 + 23000}] streamTime=[{t0 + 25000}]"
    )
    app = _Logged(["STATE RUNNING 1 0_0 0_1", warning])
    table = streams.dropped(app)  # type: ignore[arg-type]
    assert table.to_dict("records") == [
        {
            "partition": 0,
            "offset": 3,
            "timestamp": t0 + 5000,
            "window_start": t0,
            "window_end": t0 + 10000,
            "expiration": t0 + 23000,
            "stream_time": t0 + 25000,
        }
    ]
    assert streams.dropped(_Logged([])).empty  # type: ignore[arg-type]
    sent = streams.arrivals(streams.LATE_ARRIVALS)
    flink = streams.tidy(
        pd.DataFrame(
            {"user_id": ["a", "a"], "window_start": [t0, t0 + 10000], "window_end": [t0 + 10000, t0 + 20000],
             "clicks": [2, 1]}
        )
    )
    assert streams.dropped_by(table, flink, sent, t0, "a", 5) == "kafka streams"  # Flink has both of [0, 10)
    assert streams.dropped_by(table.iloc[:0], flink.assign(clicks=1), sent, t0, "a", 5) == "flink"
    assert streams.dropped_by(table.iloc[:0], flink, sent, t0, "a", 12) == "neither"


def test_expected_counts_are_clicks_per_user_and_window():
    clicks = [{"user_id": "u", "ts": 1000}, {"user_id": "u", "ts": 9999}, {"user_id": "u", "ts": 10000},
              {"user_id": "v", "ts": 500}]
    got = streams.expected_counts(clicks, window_s=10)
    assert got[["user_id", "clicks"]].values.tolist() == [["u", 2], ["u", 1], ["v", 1]]
    starts = [pd.Timestamp(0, tz="UTC"), pd.Timestamp(10_000, unit="ms", tz="UTC")]
    assert got["window_start"].tolist()[:2] == starts
