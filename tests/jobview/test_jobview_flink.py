"""The job view against the suite's real Kafka and Flink: what it shows is what Flink's REST
API says, records flow, watermarks, and the idle-partition trap."""

from __future__ import annotations

import time
import urllib.parse

import pytest
from privatelab import wait_for

from labkit.errors import LabError
from labkit.jobview.bench import six_operator_job
from labkit.jobview.snapshot import NO_WATERMARK, JobGone, snapshot


def send(lab, topic: str, partitions: dict[int, list[int]]) -> None:
    """Events ``{"k", "v", "ts"}`` with the given event times (ms) into each partition."""
    producer = lab.producer()
    for partition, times in partitions.items():
        for i, ts in enumerate(times):
            producer.send(topic, value={"k": f"u{i % 3}", "v": i, "ts": ts}, partition=partition)
    producer.flush(timeout=30)
    producer.close(timeout=5)


def wait_snapshot(lab, job, condition, what: str):
    """The job's snapshot once its source has read partitions 0 and 1 to offset 19 (2 is
    empty) and ``condition(snapshot)`` holds."""
    last = [None]

    def holds() -> bool:
        last[0] = snap = snapshot(lab.flink_rest, job.job_id, last[0])
        offsets = snap.partitions["offset"].tolist() if len(snap.partitions) else []
        return offsets == [19, 19, -1] and condition(snap)

    wait_for(holds, what, timeout=90)
    return last[0]


def by_vertex(reply: dict) -> dict[str, tuple[int, int]]:
    return {v["id"]: (v["metrics"]["read-records"], v["metrics"]["write-records"]) for v in reply["vertices"]}


def test_records_in_and_out_are_the_jobmanagers_and_an_ended_job_stops_the_view(lab, topic):
    name = topic("jv-bounded")
    base = 1_700_000_000_000
    send(lab, name, {0: [base + i * 1000 for i in range(30)]})
    job = six_operator_job(lab, name, **{"scan.bounded.mode": "latest-offset"})
    try:
        view = job.view(every=0.2)
        assert job.job_id in view.header.value
        assert job.wait(120) == "FINISHED"
        wait_for(lambda: not view.running, "the view to stop after the job ended")
        assert view.snapshot.status == "FINISHED" and "ended: no more refreshes" in view.header.value
        snap = snapshot(lab.flink_rest, job.job_id)
        reply = lab.flink_api(f"jobs/{job.job_id}")  # one after the other: a finished job's are final
    finally:
        job.stop()
    shown = {r.vertex_id: (r.records_in, r.records_out) for r in snap.operators.itertuples()}
    assert shown == by_vertex(reply)
    assert len(shown) == 6 and snap.operators["records_in"].iloc[0] == 30  # the source read all 30
    assert snap.operators["records_out"].iloc[1] == 27  # WHERE v > 2
    counts = ["records_in", "records_out"]
    assert view.snapshot.operators[counts].equals(snap.operators[counts])  # its last refresh: the same


def test_the_graph_is_the_plans_and_records_flow_in_a_running_view(lab, topic):
    name = topic("jv-flow")
    job = six_operator_job(lab, name)
    try:
        view = lab.job_view(job, every=0.3)
        plan = lab.flink_api(f"jobs/{job.job_id}/plan")["plan"]
        inputs = {(i["id"], n["id"], i["ship_strategy"]) for n in plan["nodes"] for i in n.get("inputs", [])}
        assert {(e.source, e.target, e.ship_strategy) for e in view.snapshot.edges} == inputs
        assert [e.ship_strategy for e in view.snapshot.edges].count("HASH") == 1
        source = lambda: int(view.snapshot.operators["records_in"].iloc[0])  # noqa: E731
        base = int(time.time() * 1000)
        send(lab, name, {0: [base + i for i in range(20)]})
        wait_for(lambda: source() == 20, "the view to see 20 records read", timeout=90)
        send(lab, name, {0: [base + 100 + i for i in range(15)]})
        wait_for(lambda: source() == 35, "the view to see 15 more", timeout=90)
        assert view.running and view.renders >= 2  # the picture followed the numbers
        href = view.header.value.split("href='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
        link = urllib.parse.urlsplit(href)
        assert link.netloc == (lab.endpoints.web_ui or lab.flink_rest.split("://")[-1])
        if lab.endpoints.web_ui:  # the lab's front door: a login link that opens the job's page
            assert urllib.parse.parse_qs(link.query)["next"] == [f"/#/job/running/{job.job_id}/overview"]
        view.stop()
        assert not view.running
    finally:
        job.stop()


def test_stopping_the_job_shows_it_ended_in_its_views_at_once(lab, topic):
    """Not at the view's next refresh (here a minute away): when job.stop() returns."""
    job = six_operator_job(lab, topic("jv-stop"))
    view = job.view(every=60)
    try:
        lab.wait_until_running(job)
        view.refresh()
        assert view.snapshot.status == "RUNNING"
    finally:
        job.stop()
    assert view.snapshot.status == "CANCELED" and "CANCELED" in view.header.value
    assert view.finished.is_set() and "ended: no more refreshes" in view.header.value
    view.stop()


def test_watermarks_equal_flinks_and_the_empty_partition_holds_them_back(lab, topic):
    name = topic("jv-idle", partitions=3)
    base = 1_700_000_000_000
    times = {0: [base + i * 1000 for i in range(20)], 1: [base + 500 + i * 1000 for i in range(20)]}
    send(lab, name, times)  # partition 2 gets nothing
    job = six_operator_job(lab, name)  # parallelism 1: one reader for the three partitions
    try:
        lab.wait_until_running(job)
        snap = wait_snapshot(
            lab,
            job,
            lambda s: len(s.watermarks) == 6,
            "the source's split metrics",
        )
        parts = snap.partitions.set_index("partition")
        assert parts.loc[0, "watermark_ms"] == times[0][-1] - 1000  # WATERMARK et - INTERVAL '1' SECOND
        assert parts.loc[1, "watermark_ms"] == times[1][-1] - 1000
        assert parts.loc[0, "watermark"] == "2023-11-14 22:13:38.000"
        assert parts.loc[2, "watermark_ms"] == NO_WATERMARK and parts.loc[2, "watermark"] == "none yet"
        assert parts["holds_back"].tolist() == [False, False, True]  # the empty partition
        assert parts["state"].tolist() == ["active"] * 3  # no idle timeout: Flink waits for it
        # ... so no watermark leaves the source, and none reaches any operator
        assert set(snap.watermarks["watermark"]) == {"none yet"}
        for vid, rows in snap.watermarks.groupby("vertex_id"):
            flink = lab.flink_api(f"jobs/{job.job_id}/vertices/{vid}/watermarks")
            if rows["kind"].tolist() == ["source output"]:  # a source task has no input watermark
                assert flink == []
            else:
                want = {(int(m["id"].split(".")[0]), int(m["value"])) for m in flink}
                assert set(zip(rows["subtask"], rows["watermark_ms"].astype(int), strict=True)) == want
    finally:
        job.stop()


def test_with_an_idle_timeout_flink_marks_the_empty_partition_idle(lab, topic):
    name = topic("jv-idle-timeout", partitions=3)
    base = 1_700_000_000_000
    send(lab, name, {0: [base + i * 1000 for i in range(20)], 1: [base + i * 1000 for i in range(20)]})
    job = six_operator_job(lab, name, **{"scan.watermark.idle-timeout": "1 s"})
    try:
        lab.wait_until_running(job)
        snap = wait_snapshot(
            lab,
            job,
            lambda s: s.partitions["state"].iloc[2] == "idle",
            "Flink to mark partition 2 idle",
        )
        parts = snap.partitions.set_index("partition")
        assert parts.loc[2, "watermark"] == "none yet" and parts.loc[2, "idle_ms_per_s"] > 500
        assert not parts.loc[2, "holds_back"]  # an idle split does not hold the watermark back
    finally:
        job.stop()


def test_a_job_id_the_jobmanager_does_not_know_is_a_clear_error(lab):
    with pytest.raises(JobGone, match="knows no such job"):
        lab.job_view("0" * 32)
    with pytest.raises(LabError, match="is not a Flink job id"):
        lab.job_view("0")
