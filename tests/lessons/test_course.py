"""The course's size and shape (labkit.course): the README table and each lesson's "Where
you are" line are what the notebooks hold, the core path fits in six hours with Flink
within 2.5, and each lesson keeps its proofs out of the learner's way."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from labkit import course
from labkit.panels.predict import Prediction

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "scripts"))
import course_table  # noqa: E402

#: Code that presses a widget from code (a proof for CI, not something a learner types).
DRIVES_WIDGET = re.compile(r"\._click\(|\.click\(\)|\.lock\(\)|^\s*\w+(\.\w+)+\.value\s*=", re.M)


def test_every_notebook_is_a_lesson_and_every_lesson_a_notebook() -> None:
    on_disk = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert on_disk == sorted(x.file for x in course.LESSONS)
    seconds = course.run_seconds(NOTEBOOKS)
    assert sorted(seconds) == sorted(x.file.removesuffix(".ipynb") for x in course.LESSONS), (
        "docs/lesson-seconds.json must hold every lesson's measured run time "
        "(python scripts/course_table.py --times after a full run)"
    )


def test_readme_table_and_where_lines_are_what_the_notebooks_hold() -> None:
    table = course.table(NOTEBOOKS)
    readme = (ROOT / "README.md").read_text()
    assert course_table.readme_with_table(readme, table) == readme, "run scripts/course_table.py --write"
    sizes = course.sizes(NOTEBOOKS)
    for each in course.LESSONS:
        first = course.source(course.load(each, NOTEBOOKS)["cells"][0])
        assert course.where_line(each, sizes) in first.splitlines(), (
            f"{each.file}: run scripts/course_table.py --write"
        )


def test_core_path_fits_six_hours_and_flink_starts_within_two_and_a_half() -> None:
    sizes = course.sizes(NOTEBOOKS)
    core = sum(s.core_min for s in sizes.values())
    assert core <= course.CORE_LIMIT_MIN, f"core path {course.hours(core)}"
    assert course.flink_starts_at(sizes) <= course.FLINK_BY_MIN


@pytest.mark.parametrize("each", course.LESSONS, ids=lambda x: x.number)
def test_proofs_are_out_of_the_way(each: course.Lesson) -> None:
    cells = course.load(each, NOTEBOOKS)["cells"]
    visible_proofs, problems = 0, []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        src, tagged = course.source(cell), course.PROOF in course.tags(cell)
        asserts = len(re.findall(r"^\s*assert\b", src, re.M))
        if (DRIVES_WIDGET.search(src) or asserts >= 3) and not tagged:
            problems.append(f"cell {i} drives a widget or holds {asserts} asserts: tag it {course.PROOF!r}")
        if course.hidden(cell):
            if not tagged or not src.lstrip().startswith("#"):
                problems.append(
                    f"cell {i} is collapsed: tag it {course.PROOF!r}, first line a comment on what it checks"
                )
            continue
        visible_proofs += tagged
        if course.code_lines(cell) > course.MAX_VISIBLE_LINES and "subject" not in course.tags(cell):
            problems.append(f"cell {i} shows {course.code_lines(cell)} lines (> {course.MAX_VISIBLE_LINES})")
    if visible_proofs > course.MAX_VISIBLE_PROOFS:
        problems.append(f"{visible_proofs} visible proof cells (> {course.MAX_VISIBLE_PROOFS})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "each",
    [x for x in course.LESSONS if x.core and x.part != "Start" and x.number != "11"],
    ids=lambda x: x.number,
)
def test_each_core_lesson_asks_a_prediction_before_it_shows(each: course.Lesson) -> None:
    """At least one `predict(...)` whose `reveal(...)` comes in a later cell."""
    sources = [course.source(c) for c in course.load(each, NOTEBOOKS)["cells"] if c["cell_type"] == "code"]
    asked = [i for i, s in enumerate(sources) if "predict(" in s]
    shown = [i for i, s in enumerate(sources) if ".reveal(" in s]
    assert asked and shown and min(asked) < max(shown), f"{each.file}: no predict(...) then .reveal(...)"


def test_estimate_counts_text_code_run_time_and_exercises(tmp_path: Path) -> None:
    """The estimate on a notebook made here: 300 words, 12 visible lines, a collapsed proof,
    an optional section, 60 s of run time and no exercise."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs").mkdir()
    md = {"cell_type": "markdown", "metadata": {}, "source": "# 99 · Test\n\n" + "word " * 298}
    code = {
        "cell_type": "code",
        "metadata": {},
        "source": "x = 1\n\n" * 12,
        "outputs": [],
        "execution_count": None,
    }
    proof = {
        **code,
        "metadata": {"tags": ["proof"], "jupyter": {"source_hidden": True}},
        "source": "# checks\n" * 50,
    }
    optional = {"cell_type": "markdown", "metadata": {}, "source": "## Optional: deeper\n\n" + "word " * 148}
    nb = {"cells": [md, code, proof, optional, code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "notebooks" / "99_test.ipynb").write_text(json.dumps(nb))
    (tmp_path / "docs" / "lesson-seconds.json").write_text('{"99_test": 60}')
    size = course.size(course.Lesson("99", "99_test.ipynb", "Kafka", True), tmp_path / "notebooks")
    assert (size.words, size.code_lines, size.visible_proofs, size.exercises) == (450, 24, 0, 0)
    assert size.core_min == pytest.approx(300 / 150 + 12 / 6 + 1)
    assert size.optional_min == pytest.approx(150 / 150 + 12 / 6)


def test_an_exercise_in_an_optional_section_is_optional_time(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "notebooks").mkdir()
    cell = lambda kind, text: {"cell_type": kind, "metadata": {}, "source": text, "outputs": []}  # noqa: E731
    nb = {"cells": [cell("markdown", "# 99 · Test"), cell("code", "checks.lesson_99_a(lab, x)"),
                    cell("markdown", "## Optional: more"), cell("code", "checks.lesson_99_b(x)")]}
    (tmp_path / "notebooks" / "99_test.ipynb").write_text(json.dumps(nb))
    monkeypatch.setitem(course.EXERCISES, "99", ("lesson_99_a", "lesson_99_b"))
    lesson = course.Lesson("99", "99_test.ipynb", "Kafka", True)
    size = course.size(lesson, tmp_path / "notebooks", seconds={})
    assert size.exercises == 2
    assert size.core_min == pytest.approx(2 / 150 + 1 / 6 + course.EXERCISE_MINUTES)
    assert size.optional_min == pytest.approx(2 / 150 + 1 / 6 + course.EXERCISE_MINUTES)


def test_prediction_locks_in_refuses_out_of_range_and_compares() -> None:
    guess = Prediction("How many?", number=True, low=0, high=300, unit="events")
    guess.input.value = 301
    assert guess.lock() is None and "above 300" in guess.status.value  # refused, not clamped
    guess.input.value = 250
    guess.lock_button.click()
    assert guess.locked == 250 and guess.input.disabled  # committed: no changing it now
    guess.input.value = 10
    assert guess.lock() == 250
    assert guess.reveal(300) == "You guessed 250 events; the answer is 300 events (off by 50 events)."
    pick = Prediction("Which?", choices=["a", "b"])
    assert pick.lock() is None  # nothing picked yet
    assert pick.reveal("b", why="because").startswith("You did not lock in a guess; the answer is b.")
    assert "lock it in" not in pick.status.value and pick.lock_button.disabled  # no stale invitation
    with pytest.raises(ValueError):
        pick.reveal("c")
