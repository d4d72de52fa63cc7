"""Lesson 12's project, checked on the real stack with Flink's and Kafka's own tools: the
reference solution (solution/produce.py and solution/job.py) is produced with, submitted with
``flink run``, stopped with a savepoint and resumed - and passes; resumed once more from a
savepoint with a transaction timeout of 1 hour (which the lab's broker accepts and a stock one
refuses) it gets the stock-broker hint. The rest of the check's verdicts (labkit imported,
the skeleton, not restored from a savepoint, a failed job, no checkpoints, duplicates,
no transactions) are tested through its pure functions, without a job."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from labkit import checks, events, project
from labkit.checks import lesson_12
from labkit.durability import committed
from labkit.flink.client import rest_api
from labkit.runtime import cli_tools
from labkit.waiting import wait_for

SOLUTION = Path(__file__).parent / "solution"
KEPT = ("/cart", "/checkout")


def run(*args: str) -> str:
    """A command's output (stdout and stderr), failing the test with it if the command fails."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def flink(*args: str) -> str:
    return run(str(cli_tools.folder() / "flink"), *args)


def submit(lab, job: Path, names: dict, savepoint: str | None = None) -> str:
    """``flink run -d [-s savepoint] -py job ...``: the job's id."""
    resume = ["-s", savepoint] if savepoint else []
    out = flink(
        "run", "-d", *resume, "-py", str(job), "--bootstrap", lab.flink_bootstrap_servers,
        "--input", names["input"], "--output", names["output"], "--group", names["group"],
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", out)
    assert found, out
    return found.group(1)


def stop(job_id: str, folder: Path) -> str:
    """``flink stop --savepointPath folder job_id``: the savepoint's path."""
    out = flink("stop", "--savepointPath", str(folder), job_id)
    found = re.search(r"Savepoint completed\. Path: (\S+)", out)
    assert found, out
    return found.group(1)


def produce(lab, topic: str, path: Path) -> None:
    out = run(sys.executable, str(SOLUTION / "produce.py"), "--bootstrap", lab.bootstrap_servers,
              "--topic", topic, "--file", str(path))  # fmt: skip
    assert out.startswith("sent "), out


@pytest.fixture(scope="module")
def pipeline(lab, tmp_path_factory):
    """The project as the lesson runs it, on topics of its own: 120 clicks, the job, a
    savepoint, 30 more clicks while it is stopped, the job resumed. Every job it started is
    cancelled at the end."""
    home = tmp_path_factory.mktemp("p12")
    names = {
        "input": lab.scratch_topic("test-p12-clicks", partitions=3),
        "output": lab.scratch_topic("test-p12-cart"),
        "group": f"test-p12-{uuid.uuid4().hex[:8]}",
    }
    files = {"clicks.jsonl": events.clicks(120, seed=31), "clicks2.jsonl": events.clicks(30, seed=32)}
    for name, clicks in files.items():
        project.write_lines(home / name, clicks)
    started: list[str] = []
    try:
        produce(lab, names["input"], home / "clicks.jsonl")
        started.append(submit(lab, SOLUTION / "job.py", names))
        wait_for(
            lambda: committed(lab, names["group"], names["input"]) == lab.end_offsets(names["input"]),
            "the first job's commit", timeout=60,
        )  # fmt: skip
        savepoint = stop(started[-1], home / "savepoints")
        produce(lab, names["input"], home / "clicks2.jsonl")
        started.append(submit(lab, SOLUTION / "job.py", names, savepoint))
        yield {**names, "home": home, "started": started}
    finally:
        for job_id in started:
            if rest_api(lab.flink_rest, f"jobs/{job_id}")["state"] == "RUNNING":
                rest_api(lab.flink_rest, f"jobs/{job_id}", method="PATCH")  # cancel
        lab.delete_topic(names["input"], names["output"])
        lab.delete_groups(names["group"])


def test_lesson_12_reference_passes_end_to_end(lab, pipeline):
    """Restored from the savepoint, every cart click of the input once in the output, in
    transactions of 10 minutes, the group at the end - what the lesson's last cell shows."""
    p = pipeline
    result = checks.lesson_12_on_your_own(
        lab, SOLUTION, p["started"][-1], input=p["input"], output=p["output"], group=p["group"]
    )
    assert result.ok, result
    assert "restored from a savepoint" in result.message and "commit markers" in result.message


def test_a_transaction_timeout_a_stock_broker_refuses_gets_its_hint(lab, pipeline):
    """The same job resumed from a savepoint with 'properties.transaction.timeout.ms' of 1 h:
    it runs on the lab (whose broker allows 1 h) and the check says a stock broker would not."""
    p = pipeline
    wrong = p["home"] / "wrong"
    wrong.mkdir()
    (wrong / "produce.py").write_text((SOLUTION / "produce.py").read_text())
    text = (SOLUTION / "job.py").read_text()
    assert "'properties.transaction.timeout.ms' = '600000'" in text
    (wrong / "job.py").write_text(text.replace("'600000'", "'3600000'"))
    savepoint = stop(p["started"][-1], p["home"] / "savepoints")
    p["started"].append(submit(lab, wrong / "job.py", p, savepoint))
    result = checks.lesson_12_on_your_own(
        lab, wrong, p["started"][-1], input=p["input"], output=p["output"], group=p["group"]
    )
    assert not result.ok and "time out after 60 min" in result.message, result
    assert "stock one refuses" in result.message
    assert "properties.transaction.timeout.ms" in result.hints[0]


# --- the verdicts that need no job -------------------------------------------------------


def test_a_file_that_imports_labkit_is_told_so(tmp_path):
    for name in project.FILES:
        (tmp_path / name).write_text((SOLUTION / name).read_text())
    assert lesson_12.read_files(tmp_path)[1] is None  # the reference imports no labkit
    (tmp_path / "job.py").write_text("# labkit did this before\nfrom labkit import events\nprint('labkit')\n")
    wrong = lesson_12.read_files(tmp_path)[1]
    assert wrong is not None and wrong.message == "job.py imports labkit (line 2)."
    assert "no labkit" in wrong.hints[0]
    assert lesson_12.explain_imports("produce.py", "import labkit.events as e") is not None
    assert lesson_12.explain_imports("produce.py", "import json  # not labkit\nx = 'labkit'") is None
    assert "not valid Python" in lesson_12.explain_imports("job.py", "def (:").message


def test_the_starter_keeps_the_learners_files_and_the_solution_replaces_them(tmp_path, monkeypatch):
    monkeypatch.delenv(project.SOLUTION_ENV, raising=False)
    said = project.start(tmp_path, {"clicks.jsonl": events.clicks(5, seed=1)})
    assert said[0] == "clicks.jsonl: 5 clicks" and "skeleton" in said[1]
    wrong = lesson_12.read_files(tmp_path)[1]
    assert wrong is not None and wrong.message == "produce.py is still the skeleton."
    skeleton = subprocess.run([sys.executable, str(tmp_path / "job.py")], capture_output=True, text=True)
    assert skeleton.returncode == 1 and "see step 2 of notebooks/12_on_your_own.ipynb" in skeleton.stderr
    (tmp_path / "job.py").write_text("# mine\n")
    assert "yours, kept" in project.start(tmp_path, {})[1]
    assert (tmp_path / "job.py").read_text() == "# mine\n"
    monkeypatch.setenv(project.SOLUTION_ENV, str(SOLUTION))
    assert "copied from" in project.start(tmp_path, {})[1]
    assert (tmp_path / "job.py").read_text() == (SOLUTION / "job.py").read_text()


def test_a_job_not_restored_from_a_savepoint_is_told_how():
    fresh = lesson_12.explain_restore(None)
    assert fresh is not None and "started fresh" in fresh.message and "flink run -s" in fresh.hints[0]
    checkpoint = lesson_12.explain_restore({"id": 7, "is_savepoint": False})
    assert checkpoint is not None and "checkpoint 7, not a savepoint" in checkpoint.message
    assert lesson_12.explain_restore({"id": 9, "is_savepoint": True, "external_path": "file:/sp"}) is None


def test_a_job_that_is_not_running_is_told_with_flinks_cause():
    assert "No job id" in lesson_12.explain_job(None, None).message
    assert "Flink has no job abc" in lesson_12.explain_job("abc", None).message
    cause = lesson_12.root_cause(
        "java.lang.RuntimeException: One or more fetchers have encountered exception\n\tat x.y(Z.java:1)\n"
        "Caused by: org.apache.kafka.clients.consumer.NoOffsetForPartitionException: Undefined offset "
        "with no reset policy for partitions: [t-0]\n\tat a.b(C.java:2)"
    )
    failed = lesson_12.explain_job("abc", {"state": "FAILED"}, cause)
    assert failed is not None and "is FAILED: org.apache.kafka" in failed.message
    assert "no reset policy" in failed.message
    assert "CANCELED, not RUNNING" in lesson_12.explain_job("abc", {"state": "CANCELED"}).message
    assert lesson_12.explain_job("abc", {"state": "RUNNING"}) is None


def test_checkpoints_off_or_too_rare_are_told():
    said = lambda interval, mode="exactly_once": lesson_12.explain_checkpoints(  # noqa: E731
        {"interval": interval, "mode": mode}
    )
    assert "no checkpoints" in said(2**63 - 1).message
    assert "at_least_once" in said(3000, "at_least_once").message
    assert "every 60 s" in said(60000).message
    assert said(3000) is None


def test_the_output_must_hold_each_cart_click_once_and_nothing_else():
    clicks = list(events.clicks(60, seed=4))
    cart = [c["event_id"] for c in clicks if c["page"] in KEPT]
    other = next(c["event_id"] for c in clicks if c["page"] not in KEPT)
    assert lesson_12.compare(clicks, cart) is None
    assert "not in the output" in lesson_12.compare(clicks, cart[1:]).message
    assert "more than once" in lesson_12.compare(clicks, cart + cart[:2]).message
    assert "other pages" in lesson_12.compare(clicks, [*cart, other]).message


def test_an_output_without_transactions_or_with_long_ones_is_told():
    plain = lesson_12.explain_transactions(records=40, end_total=40, timeouts_ms=[])
    assert plain is not None and "not written in transactions" in plain.message
    assert "sink.delivery-guarantee" in plain.hints[0]
    long = lesson_12.explain_transactions(40, 45, [600000, 3600000])
    assert long is not None and "60 min" in long.message
    assert lesson_12.explain_transactions(40, 45, [600000]) is None
