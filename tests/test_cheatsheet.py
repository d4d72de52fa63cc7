"""Lesson 11's cheat sheet (labkit.cheatsheet): the defaults table is docs/defaults.md, row
for row; every labkit call in the API table exists; the decision chart gives the tools the
course outline gives (and lessons 00's and 10's quizzes expect)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from labkit import cheatsheet, course
from labkit.checks.lesson_00 import LESSON_00_TASKS
from labkit.checks.lesson_10 import LESSON_10_TOOLS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "defaults.md"


def doc_rows() -> int:
    """Table rows of docs/defaults.md, counted without the module: every line that starts
    with "|", less each table's header and separator."""
    lines = DOC.read_text().splitlines()
    tables = sum(1 for line in lines if re.match(r"\|\s*-{3}", line))
    return sum(1 for line in lines if line.startswith("|")) - 2 * tables


def test_defaults_table_has_one_row_per_default_in_the_page() -> None:
    every = cheatsheet.defaults()
    assert len(every) == doc_rows() > 40
    text = DOC.read_text()
    assert all(f"| {setting} |" in text for setting in every["setting"])  # each row is a row of the page
    shown = cheatsheet.defaults_table()
    # every setting the lab changes is a row of the table; those it keeps are named under it
    assert len(shown) == int(every["changed"].sum())
    assert list(shown.frame["setting"]) == list(every.loc[every["changed"], "setting"])
    kept = every.loc[~every["changed"], "setting"]
    assert 0 < len(kept) < 10 and all(setting in shown.note for setting in kept)
    markdown = shown._repr_markdown_()
    assert len([line for line in markdown.splitlines() if line.startswith("| ")]) == len(shown) + 1


def test_defaults_name_the_lessons_that_rely_on_them() -> None:
    every = cheatsheet.defaults().set_index("setting")
    assert every.loc["`heartbeat.timeout`, `heartbeat.interval`", "lessons"] == ["08"]
    assert every.loc["`scan.startup.mode`", "lessons"] == ["00", "05"]
    assert every.loc["`auto_offset_reset` (consumers)", "real"].startswith("`latest`")
    assert every.loc["`statestore.cache.max.bytes`", "lessons"] == ["10"]  # from its section's heading
    assert not every.loc["`acks` (producer)", "changed"]  # `all` both: named, not changed
    known = {x.number for x in course.LESSONS}
    assert {n for ns in every["lessons"] for n in ns} <= known
    assert cheatsheet.lessons_named("lessons 06 and 07, and lesson 04b's trio") == ["06", "07", "04b"]


def test_defaults_follow_the_page(tmp_path: Path) -> None:
    """Read at run time: a row added to the page is a row of the table."""
    page = tmp_path / "defaults.md"
    page.write_text(
        DOC.read_text() + "\n## Something new (lesson 09)\n| setting | the lab | default | why |\n"
        "|---|---|---|---|\n| `new.setting` | 1 | 2 | a reason |\n"
    )
    every = cheatsheet.defaults(page)
    assert len(every) == doc_rows() + 1
    assert every.iloc[-1][["component", "setting", "lessons", "changed"]].tolist() == [
        "Something new", "`new.setting`", ["09"], True,
    ]  # fmt: skip


def resolve(target: str) -> object:
    module, _, attrs = target.partition(":")
    value: object = importlib.import_module(module)
    for attr in attrs.split("."):
        value = getattr(value, attr)
    return value


@pytest.mark.parametrize("call", cheatsheet.API, ids=lambda c: c.targets[0])
def test_each_labkit_call_in_the_api_table_exists(call: cheatsheet.Call) -> None:
    for target in call.targets:
        assert resolve(target) is not None, target
        # the name the table shows is the attribute that exists
        assert target.rpartition(".")[2].rpartition(":")[2] in call.call, (target, call.call)
    assert call.python and call.cli


def test_api_table_covers_the_calls_the_lessons_teach() -> None:
    shown = " ".join(c.call for c in cheatsheet.API)
    for name in (
        "lab.produce(",
        "lab.read(",
        "lab.consumer(",
        "lab.create_topic(",
        "lab.reader(",
        "%%flink_sql",
        "lab.kafka_table(",
        "lab.query(",
        "lab.start(",
        "job.view(",
        "lab.explore(",
        "labkit.connect(",
    ):
        assert name in shown, name  # fmt: skip
    # the magic is what `labkit.connect()` registers under that name
    assert 'magic_name="flink_sql"' in (ROOT / "labkit" / "sql" / "magic.py").read_text()


def test_api_table_finds_each_call_in_the_lessons() -> None:
    assert "05" in cheatsheet.lessons_using(r"%%flink_sql")
    assert cheatsheet.lessons_using(r"lab\.produce\(")
    assert cheatsheet.lessons_using(r"no such call") == []
    table = cheatsheet.api_table()
    assert len(table) == len(cheatsheet.API)
    assert "[05](05_flink_first_job.ipynb)" in table._repr_markdown_()


#: The three needs of the cheat sheet and what the outline says of each: concept 2 (Kafka
#: delivers to many independent applications), 8 (Kafka Streams, a library inside your
#: application) and 3 (Flink: event time, complex event processing).
OUTLINE = {
    "deliver every event to 5 apps, each at its own pace": "Kafka",
    "count clicks per user per minute inside my Java service": "Kafka Streams",
    "detect a pattern across a user's payments, by event time": "Flink",
}


def test_decision_chart_answers_the_outline() -> None:
    assert {need.text: cheatsheet.decide(need) for need in cheatsheet.NEEDS} == OUTLINE
    assert cheatsheet.route(cheatsheet.NEEDS[2]) == ["processing", "yes", "Flink"]


#: Lessons 00's and 10's quiz tasks as answers to the chart's questions.
MOVING = {"task": "moving"}
QUIZ = {
    "keep every payment for 7 days so it can be re-read": {"task": "moving"},
    "deliver each click to both the analytics team and the billing service": {"task": "moving"},
    "count clicks per page every minute": {"task": "processing", "engine": "no", "inside": "no"},
    "flag an account that pays 10 times in one minute": {
        "task": "processing", "engine": "no", "inside": "no"},
    "let a new service read last week's events from the start": {"task": "moving"},
    "join orders with shipments that arrive up to an hour later": {"task": "processing", "engine": "yes"},
    "keep every order event for 30 days so that three teams can read them at their own pace": MOVING,
    "count each user's clicks per minute inside an existing Java service, topic in, topic out, no cluster": {
        "task": "processing", "engine": "no", "inside": "yes"},
    "find accounts with three failed logins and then a password change, within 5 minutes": {
        "task": "processing", "engine": "yes"},
    "join a Kafka stream with files in a data lake and write the result to a database": {
        "task": "processing", "engine": "yes"},
    "let a new fraud rule re-read last week's payments": {"task": "moving"},
    "keep a running total per customer in a microservice, scaled by starting more copies of it": {
        "task": "processing", "engine": "no", "inside": "yes"},
}  # fmt: skip


def test_decision_chart_agrees_with_the_lessons_quizzes() -> None:
    expected = {**LESSON_00_TASKS, **LESSON_10_TOOLS}
    assert set(QUIZ) == set(expected)
    got = {task: cheatsheet.decide(cheatsheet.Need(task, answers)).lower() for task, answers in QUIZ.items()}
    assert got == expected


def test_a_need_that_skips_a_question_is_refused() -> None:
    with pytest.raises(ValueError, match="moving, processing"):
        cheatsheet.decide(cheatsheet.Need("something", {}))


def test_chart_is_a_picture_with_every_way_out() -> None:
    picture = cheatsheet.chart()
    assert picture.png.startswith(b"\x89PNG")
    texts = " ".join(t.get_text() for t in picture.figure.axes[0].texts)
    for question in cheatsheet.CHART:
        assert question.text in texts
        assert all(answer in texts for answer in question.branches)
    assert all(trick in texts for trick in ("Where does the data go?", "What should we do with the data?"))
