"""labkit.bench's command line and its small helpers (the measurements themselves run in
`make bench`, never in the test suite: timings belong in a benchmark)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labkit import bench
from labkit.errors import LabError


def test_help_describes_the_benchmark_without_starting_it():
    out = subprocess.run(
        [sys.executable, "-m", "labkit.bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "--json" in out.stdout and "private lab" in out.stdout
    assert "--only" in out.stdout and "--learners" in out.stdout  # the classroom under load, alone
    assert "--cold" not in out.stdout  # the worker modes are internal


class FakeRecord:
    def __init__(self, value: dict) -> None:
        self.value = value


class FakeConsumer:
    """Polls return one batch of records each, then nothing."""

    def __init__(self, *batches: list[dict]) -> None:
        self.batches = list(batches)

    def poll(self, timeout_ms: int) -> dict:
        return {"tp": [FakeRecord(v) for v in self.batches.pop(0)]} if self.batches else {}


def test_waiting_for_a_record_reads_until_one_matches():
    consumer = FakeConsumer([{"event_id": "lat-0"}], [], [{"event_id": "lat-1"}, {"event_id": "lat-2"}])
    bench.wait_for_record(consumer, bench.event_id_is("lat-2"), timeout=10)
    assert consumer.batches == []
    with pytest.raises(LabError, match="a matching record"):
        bench.wait_for_record(FakeConsumer([{"event_id": "lat-3"}]), bench.event_id_is("lat-4"), timeout=0.2)


def test_verdicts_compare_a_figure_with_its_goal_and_its_minimum():
    assert bench.verdict(0.5, ("<=", 0.8), ("<", 1.2)) == "goal met"
    assert bench.verdict(1.0, ("<=", 0.8), ("<", 1.2)) == "must met"
    assert bench.verdict(2.0, ("<=", 0.8), ("<", 1.2)) == "MISSED"
    assert bench.verdict(None, ("<=", 0.8), None) == "ERROR"
