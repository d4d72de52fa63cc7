"""labkit.progress: a passed exercise is remembered in LABKIT_HOME, a failed one is not, and
`labkit progress` shows the course map."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labkit import checks, progress


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    return tmp_path


def test_a_passed_check_is_remembered_and_a_failed_one_is_not(home):
    assert progress.passed() == {}
    wrong = checks.lesson_10_tools({task: "flink" for task in checks.LESSON_10_TOOLS})
    assert not wrong.ok and progress.passed() == {}
    assert checks.lesson_10_tools(dict(checks.LESSON_10_TOOLS)).ok
    assert list(progress.passed()) == ["lesson_10_tools"]
    assert (home / "progress" / "lesson_10_tools.json").is_file()
    row = progress.course_map().set_index("lesson").loc["10"]
    assert (row.exercises, row.done, row.path) == ("1/2", False, "core")
    assert row.title.startswith("Kafka Streams vs Flink")


def test_labkit_progress_prints_the_course_map(home):
    progress.record("lesson_05_filter")
    (home / "progress" / "lesson_06_hop.json").write_text("{half written")  # not counted, no crash
    env = {**os.environ, "LABKIT_HOME": str(home)}
    command = [sys.executable, "-m", "labkit.cli", "progress"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {line[4:8].strip(): line for line in out.stdout.splitlines()[:-1]}
    assert lines["05"].startswith("[x] 05    1/1  core") and "Flink's first job" in lines["05"]
    assert lines["06"].startswith("[ ] 06    0/1  core")
    assert lines["04c"].startswith("    04c     -  optional")  # no exercise: nothing to tick
    assert out.stdout.splitlines()[-1].startswith("1 of 15 lessons with exercises done")


def test_every_exercise_check_is_on_the_map_and_remembered():
    on_map = {check for names in progress.EXERCISES.values() for check in names}
    exported = {
        name
        for name in checks.__all__
        if name.startswith("lesson_") and name not in ("lesson_03_stopped_service", "lesson_09_rows")
    }
    assert on_map == exported
    assert all(hasattr(getattr(checks, name), "__wrapped__") for name in on_map)  # wrapped by remembered
    with pytest.raises(ValueError, match="not a check's name"):
        progress.record("../../etc/passwd")
