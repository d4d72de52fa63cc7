"""What makes the suite trustworthy: it never touches a learner's lab, and nothing hangs.

- `make test` runs on a lab of its own (../conftest.py): a learner's running lab, its
  topics and its processes are exactly as they were afterwards.
- A hung notebook cell, a hung test and a hung Flink wait each fail within their timeout
  with a message that names what hung.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import labkit
from labkit import paths
from labkit.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
LABKIT = [sys.executable, "-m", "labkit.cli"]


def _pytest(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def learner_lab(tmp_path: Path):
    """A learner's lab, as `make lab` would leave it running: its own LABKIT_HOME."""
    env = {**os.environ, "LABKIT_HOME": str(tmp_path / "learner"), "LABKIT_CACHE": str(paths.cache())}
    env.pop("LABKIT_OWNER_PID", None)
    try:
        up = subprocess.run([*LABKIT, "up"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        yield env
    finally:
        subprocess.run([*LABKIT, "down"], env=env, capture_output=True, timeout=120)


def _learner_state(env: dict) -> dict:
    return json.loads(
        subprocess.run(
            [*LABKIT, "status", "--json"], env=env, capture_output=True, text=True, timeout=60
        ).stdout
    )


def _topic_events(env: dict, topic: str) -> int:
    code = f"import labkit; lab = labkit.connect(quiet=True); print(sum(lab.end_offsets({topic!r}).values()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_make_test_leaves_a_running_learner_lab_untouched(learner_lab):
    """Lesson 00 re-creates its topics with replace=True; run under pytest while a learner's
    lab holds 7 events in that very topic, it must not touch them (nor stop that lab)."""
    code = (
        "import labkit; lab = labkit.connect(quiet=True); "
        "lab.create_topic('l00-hello-in', replace=True); "
        "lab.produce('l00-hello-in', [{'id': str(i), 'message': 'mine'} for i in range(7)])"
    )
    made = subprocess.run(
        [sys.executable, "-c", code], env=learner_lab, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    before = _learner_state(learner_lab)

    run = _pytest("notebooks/00_welcome.ipynb", env=learner_lab)
    assert run.returncode == 0, run.stdout[-3000:]

    after = _learner_state(learner_lab)
    assert after["bootstrap_servers"] == before["bootstrap_servers"]
    assert {n: p["pid"] for n, p in after["processes"].items()} == {
        n: p["pid"] for n, p in before["processes"].items()
    }
    assert all(p["alive"] for p in after["processes"].values())
    assert _topic_events(learner_lab, "l00-hello-in") == 7


def test_a_hung_notebook_cell_fails_within_the_cell_timeout_and_is_named(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\nprint('about to hang')\ntime.sleep(600)  # hangs")]
    path = tmp_path / "hangs.ipynb"
    nbformat.write(nb, path)
    t0 = time.monotonic()
    run = _pytest(
        str(path), "-c", str(ROOT / "pyproject.toml"), "--nbval-cell-timeout=5", "--rootdir", str(ROOT)
    )
    took = time.monotonic() - t0
    assert run.returncode != 0
    assert "time.sleep(600)  # hangs" in run.stdout  # the failing cell is shown
    assert "Timeout" in run.stdout or "timed out" in run.stdout.lower()
    assert took < 180, f"the hung cell was not stopped by the 5 s timeout (took {took:.0f} s)"


def test_a_hung_test_fails_within_its_timeout_and_is_named(tmp_path: Path):
    (tmp_path / "test_hangs.py").write_text(
        "import time\n\ndef test_sleeps_forever():\n    time.sleep(600)\n"
    )
    t0 = time.monotonic()
    run = _pytest(str(tmp_path / "test_hangs.py"), "-o", "timeout=5", "--rootdir", str(ROOT))
    assert run.returncode != 0
    assert "test_sleeps_forever" in run.stdout and "Timeout" in run.stdout
    assert time.monotonic() - t0 < 180


def test_waiting_on_a_streaming_job_is_bounded_and_names_the_job(lab: labkit.Lab, topic):
    src, dst = topic("hang-src"), topic("hang-dst")
    t_env = lab.table_env()
    lab.kafka_table(t_env, "src", "n INT", topic=src)
    lab.kafka_table(t_env, "dst", "n INT", topic=dst)
    job = lab.start(t_env.execute_sql("INSERT INTO dst SELECT n FROM src"), "never-ends")
    try:
        with pytest.raises(LabError, match="never-ends"):
            job.wait(timeout=3)
        assert job.status == "RUNNING"  # the wait gave up; the job itself is untouched
    finally:
        job.stop()
    assert job.status == "CANCELED"
