"""The classroom load bench (labkit.runtime.classroom_bench, `make bench --only classroom`), CI-sized:
three learners, 200 events/s for 15 s, each learner's consumer group and Flink job reading
``shared.payments`` of a real three-broker SASL_SSL classroom. This is what proves the bench
measures what it says: every group saw every event once, each Flink total is the number of
events sent, the figures are there and sane, and nothing it started is left running."""

from __future__ import annotations

import time

import psutil
from privatelab import gone

from labkit.runtime import classroom_bench


def test_a_small_class_sees_every_event_and_the_figures_are_sane():
    plan = classroom_bench.Plan(learners=3, rate=200, seconds=15)
    t0 = time.monotonic()
    raw = classroom_bench.run(plan)
    took = time.monotonic() - t0
    lines = classroom_bench.details(raw)
    print("\n".join(lines), f"\nthe whole run: {took:.0f} s")
    assert raw["errors"] == {}, lines

    sent = raw["producer"]["sent"]
    assert sent == plan.events == 3000
    assert set(raw["groups"]) == {"learner-01", "learner-02", "learner-03"}
    for learner, group in raw["groups"].items():
        assert (group["distinct"], group["missed"], group["duplicates"]) == (sent, 0, 0), (learner, group)
    assert raw["lag_ms"]["n"] == 3 * sent  # a lag for each group's every event
    assert raw["flink_totals"] == dict.fromkeys(raw["groups"], sent)  # each learner's own job, exact

    values = classroom_bench.figures(raw)
    assert set(values) == {key for key, *_ in classroom_bench.ROWS}
    assert values["cr_missed"] == 0 and values["cr_flink"] == 0
    assert 90 <= values["cr_rate"] <= 101  # paced at the rate asked, not faster
    assert 0 < values["cr_lag_p50"] <= values["cr_lag_p95"] <= values["cr_lag_max"] < 15_000
    assert 0 < values["cr_cpu"] < 100 * (psutil.cpu_count() or 1)
    assert 3 * 100 < values["cr_rss"] < 3 * 4000  # three broker JVMs
    assert any("totals exact: yes" in line for line in lines)
    # the classroom's brokers and the learners' Flink are stopped, their folders gone
    assert all(gone(pid) for pids in raw["pids"].values() for pid in pids)


def test_a_run_that_crashed_early_reports_no_figures_and_why():
    """`make bench` prints the table even when the classroom never started: every figure n/a
    (the verdict ERROR), and the crash under it."""
    raw = {
        "plan": {"learners": 10, "rate": 2000, "seconds": 300.0, "flink": True},
        "errors": {"classroom load": "LabError: Java 17 or newer is needed"},
    }
    assert set(classroom_bench.figures(raw).values()) == {None}
    lines = classroom_bench.details(raw)
    assert lines[-1] == "FAILED classroom load: LabError: Java 17 or newer is needed"
