"""The job view's panel and picture against a stand-in JobManager: exact counts of refreshes
and redraws, the Pause toggle, the JobManager going away (see conftest.py)."""

from __future__ import annotations

import html
import re

import pytest
from fake_flink_job import JOB_ID, SINK, SOURCE
from privatelab import wait_for

from labkit.errors import LabError
from labkit.jobview import graph
from labkit.jobview.panel import JobView
from labkit.jobview.snapshot import Edge, long_value, short_name, snapshot, watermark_text


def test_the_png_is_drawn_again_only_when_what_it_shows_changed(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, start=False)
    assert (view.refreshes, view.renders) == (1, 1)
    view.refresh()
    view.refresh()
    assert (view.refreshes, view.renders) == (3, 1)  # the same numbers: the same picture
    fake_flink.records = 11
    view.refresh()
    assert (view.refreshes, view.renders) == (4, 2)
    assert view.picture.outputs[0]["data"]["image/png"]  # a PNG, through panels.base.render
    assert "records in" in view.operators.value and "11" in view.operators.value
    assert "2 completed" in view.checkpoints.value
    view.stop()


def test_the_graph_is_the_plans_edges_left_to_right(fake_flink):
    snap = snapshot(fake_flink.address, JOB_ID)
    assert snap.edges == [Edge(SOURCE, SINK, "REBALANCE")]
    assert graph.columns([SINK, SOURCE], snap.edges) == {SOURCE: 0, SINK: 1}
    assert snap.operators["operator"].tolist() == ["Source: src -> Calc", "sink: Writer"]
    assert snap.operators["busy_pct"].tolist() == [25.0, 25.0]  # 250 ms per second
    fig = graph.draw(snap)
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert "REBALANCE" in shown and any("busy 25%" in t for t in shown)


def test_a_failed_checkpoint_is_shown_with_flinks_reason_in_one_line(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, start=False)
    assert "2 completed, 0 failed, 0 in progress" in view.checkpoints.value
    message = "Checkpoint Coordinator is suspending <now>.\n\tat org.apache.flink..."  # one line shown
    fake_flink.failed = {"id": 3, "failure_message": message}
    view.refresh()
    shown = "1 failed (the last, #3: Checkpoint Coordinator is suspending &lt;now&gt;.), 0 in progress"
    assert shown in view.checkpoints.value
    view.stop()


def test_each_operators_state_is_its_share_of_the_last_checkpoint_asked_once_per_checkpoint(fake_flink):
    details = lambda: sum("/checkpoints/details/" in r for r in fake_flink.requests)  # noqa: E731
    view = JobView(fake_flink.address, JOB_ID, start=False)
    assert view.snapshot.operators["state_bytes"].tolist() == [120, 3000]
    assert "3.0 kB" in view.operators.value and "120 B" in view.operators.value
    view.refresh()
    assert details() == 1  # a completed checkpoint's figures never change: asked once
    fake_flink.checkpoint, fake_flink.foreign = 3, True  # another job's checkpoint 3 first
    view.refresh()
    assert view.snapshot.operators["state_bytes"].tolist() == [120, 3000]  # not taken for this job's
    fake_flink.foreign = False
    view.refresh()
    assert details() == 3 and view.snapshot.operators["state_bytes"].tolist() == [120, 4500]
    shown = [t.get_text() for t in graph.draw(view.snapshot).axes[0].texts]
    assert any("state 4.5 kB" in t for t in shown)
    view.stop()


def test_pause_stops_refreshing_and_stop_ends_the_thread(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, every=0.05)
    wait_for(lambda: view.refreshes >= 3, "the thread to refresh")
    view.pause.value = True  # as the learner clicks it
    assert "paused" in view.header.value
    refreshed, skipped = view.refreshes, view.skipped
    wait_for(lambda: view.skipped >= skipped + 3, "three ticks while paused")
    assert view.refreshes in (refreshed, refreshed + 1)  # at most the one under way when clicked
    refreshed = view.refreshes
    wait_for(lambda: view.skipped >= skipped + 6, "three more ticks while paused")
    assert view.refreshes == refreshed
    view.pause.value = False
    wait_for(lambda: view.refreshes > refreshed, "refreshing again")
    view.stop()
    assert not view.running and "stopped" in view.header.value


def test_the_jobmanager_going_away_is_one_line_in_the_header_and_the_thread_goes_on(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, every=0.05)
    fake_flink.down()
    wait_for(lambda: view.error, "the view to notice")
    assert view.error.startswith(f"The JobManager at {fake_flink.address} does not answer (")
    assert "\n" not in view.error and "Traceback" not in view.header.value
    assert html.escape(view.error) in view.header.value
    assert view.running  # it may come back
    view.stop()
    assert not view.running


def test_a_job_the_jobmanager_forgets_stops_the_view(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, every=0.05)
    fake_flink.answer = lambda path, query: None  # every answer a 404 from now on
    wait_for(lambda: not view.running, "the view to stop")
    assert "knows no such job" in view.header.value and view.finished.is_set()


def test_an_ended_job_is_refreshed_once_more_then_the_thread_stops(fake_flink):
    view = JobView(fake_flink.address, JOB_ID, every=0.05)
    wait_for(lambda: view.refreshes >= 2, "the thread to refresh")
    fake_flink.status = "FINISHED"
    wait_for(lambda: not view.running, "the thread to end")
    assert view.snapshot.status == "FINISHED" and view.finished.is_set()
    refreshes = view.refreshes
    asked = len(fake_flink.requests)
    assert "FINISHED" in view.header.value and "ended: no more refreshes" in view.header.value
    assert view.pause.disabled
    view.stop()
    assert view.refreshes == refreshes and len(fake_flink.requests) == asked


def test_a_wrong_job_id_is_a_clear_error_before_any_request(untouchable):
    with pytest.raises(LabError, match="is not a Flink job id"):
        JobView(untouchable, "not-a-job")


def test_names_and_times_as_a_person_reads_them():
    assert watermark_text(-(2**63)) == "none yet"
    assert watermark_text(2**63 - 1) == "end of input"  # a finished bounded input's last watermark
    # exact: through a float, Long.MAX_VALUE became 2**63 and the view's thread died on it
    assert long_value("9223372036854775807") == 2**63 - 1 and long_value("1.7E12") == 1_700_000_000_000
    assert watermark_text(0) == "1970-01-01 00:00:00.000"
    assert watermark_text(1_700_000_000_123) == "2023-11-14 22:13:20.123"
    long = "Source: KafkaSource-default_catalog.default_database.payments -> Calc[2] -> "
    long += "LocalWindowAggregate[3]"
    assert short_name(long) == "Source: payments -> Calc -> LocalWindowAggregate"
    assert short_name("GlobalWindowAggregate[5] -> Calc[6] -> sink[7]: Writer") == (
        "GlobalWindowAggregate -> Calc -> sink: Writer"
    )
    assert short_name("Source: Kafka Source -> Map -> Filter -> Map -> Filter -> Sink: Writer") == (
        "Source: Kafka Source -> ... -> Sink: Writer"
    )
    assert re.fullmatch(r"[^\n]{1,48}", short_name("x" * 200))
