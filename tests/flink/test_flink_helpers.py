"""Flink helpers (labkit.flink: `FlinkHelpers`, `Job`) against the real engine and the real broker."""

from __future__ import annotations

import time

import pytest

from labkit import events


def test_bounded_query_reads_exactly_what_is_in_the_topic(lab, topic):
    name = topic("q", partitions=3)
    sent = list(events.clicks(200, seed=3))
    lab.produce(name, sent, key="user_id")
    df = lab.query(
        "SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id",
        {"clicks": "user_id STRING, page STRING, ts BIGINT"},
        topics={"clicks": name},
    )
    expected = {}
    for e in sent:
        expected[e["user_id"]] = expected.get(e["user_id"], 0) + 1
    assert dict(zip(df["user_id"], df["n"], strict=True)) == expected


def test_bounded_query_on_an_empty_topic_returns_no_rows(lab, topic):
    name = topic("empty", partitions=2)
    df = lab.query("SELECT * FROM t", {"t": "a INT"}, topics={"t": name})
    assert df.empty


def test_streaming_sql_job_reads_one_topic_and_writes_another(lab, topic):
    src, dst = topic("src", partitions=2), topic("dst")
    t_env = lab.table_env()
    lab.kafka_table(t_env, "src", "user_id STRING, page STRING, ts BIGINT", topic=src)
    lab.kafka_table(t_env, "dst", "user_id STRING, page STRING", topic=dst)
    job = lab.start(
        t_env.execute_sql("INSERT INTO dst SELECT user_id, page FROM src WHERE page = '/cart'"), "filter"
    )
    try:
        sent = list(events.clicks(100, seed=5))
        lab.produce(src, sent, key="user_id")
        want = sum(1 for e in sent if e["page"] == "/cart")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(lab.read(dst)) < want:
            time.sleep(0.5)
        out = lab.read(dst)
        running = job.status  # an unbounded job: still running after it wrote everything
    finally:
        job.stop()
    assert running == "RUNNING"
    assert len(out) == want and set(out["page"]) == {"/cart"}
    deadline = time.monotonic() + 30
    while job.status != "CANCELED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status == "CANCELED"  # the JobManager knows how it ended


def test_a_query_that_never_ends_is_cancelled_at_its_deadline(lab, topic):
    from labkit.errors import LabError

    name = topic("forever")
    lab.produce(name, [{"a": 1}])
    with pytest.raises(LabError, match="did not finish within 10 s and was cancelled"):
        lab.query(
            "SELECT a FROM t",
            {"t": "a INT"},
            topics={"t": name},
            streaming=True,
            options={"scan.bounded.mode": "unbounded"},  # reads forever
            timeout=10,
        )

    def still_running():
        jobs = lab.flink_api("jobs/overview", timeout=5)["jobs"]
        return [j for j in jobs if j["name"].startswith("labkit-query-") and j["state"] == "RUNNING"]

    deadline = time.monotonic() + 30
    while still_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not still_running()
