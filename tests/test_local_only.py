"""The drills only the local backend can run (docs/compose.md, "Lessons that need the local
backend"): `Lab.drill_here` decides per backend, without a cluster; the lessons guard every
drill cell and every cell that reads a drill's results with it, so on compose or remote they
print one line and skip; lesson 08's exercise check runs without the kill there."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

import labkit
from labkit import checks
from labkit.runtime.state import Endpoints

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: What a lesson calls that breaks the lab's own processes, or that needs Flink to reach
#: this machine (lesson 09's socket).
DRILLS = {"restart_broker", "kill_taskmanager", "start_taskmanager", "SocketFeed"}

#: lesson -> the code cells that run a drill or read what it left behind (docs/compose.md's table)
GUARDED = {
    "04_offsets_replay.ipynb": {"l04-08", "l04-09"},
    "08_state_exactly_once.ipynb": {
        "cell-14",
        "cell-16",
        "l08-reveal",
        "cell-18",
        "l08-proof-restore",
        "cell-20",
        "l08-proof-readers",
        "cell-22",
        "cell-23",
    },
    "09_fraud_detection.ipynb": {"l09-27", "l09-29", "l09-31", "l09-31r", "l09-31p", "l09-33"},
}
LINE = "This drill needs the local backend (the default); on compose or remote"


def handle(backend: str) -> labkit.Lab:
    """A lab handle on ``backend``; its addresses lead nowhere (nothing here connects)."""
    return labkit.Lab(Endpoints(backend, "127.0.0.1:9", "kafka:19092", "127.0.0.1:9"))


def test_the_drills_run_on_the_local_backend_and_nowhere_else(capsys):
    assert handle("local").drill_here("the broker restart") is True
    assert capsys.readouterr().out == ""  # locally the lesson shows what it always showed
    for backend in ("compose", "remote"):
        assert handle(backend).drill_here("the broker restart") is False
        printed = capsys.readouterr().out
        assert printed == (
            f"Skipped: the broker restart needs the local backend (the default); this lab runs on "
            f"'{backend}' - see docs/compose.md, 'Lessons that need the local backend'.\n"
        )


def guarded_by_drill_here(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "drill_here"
    )


def top_level(tree: ast.Module) -> tuple[list[ast.AST], list[ast.AST]]:
    """The cell's statements outside ``if lab.drill_here(...)``, and those inside it."""
    outside, inside = [], []
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and guarded_by_drill_here(stmt.test):
            assert not stmt.orelse, "a drill cell does nothing else elsewhere"
            inside.extend(stmt.body)
        else:
            outside.append(stmt)
    return outside, inside


def names(nodes: list[ast.AST], ctx: type, in_functions: bool) -> set[str]:
    """Names stored (ctx=ast.Store) or read (ast.Load) by ``nodes``; reads inside function
    bodies count only with ``in_functions`` (a function defined everywhere may name what
    only a drill sets, as long as only the drill calls it)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.Lambda)) and not in_functions:
            if isinstance(node, ast.FunctionDef) and ctx is ast.Store:
                found.add(node.name)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ctx):
            found.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in nodes:
        visit(node)
    return found


@pytest.mark.parametrize("lesson", sorted(GUARDED))
def test_each_drill_cell_and_what_reads_its_results_skips_elsewhere(lesson):
    nb = json.loads((NOTEBOOKS / lesson).read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    text = lambda c: "".join(c["source"])  # noqa: E731
    guarded, only_in_drills, everywhere = set(), set(), set()
    for cell in cells:
        if text(cell).startswith("%%"):  # a cell magic (%%flink_sql) is not Python: it runs no drill
            everywhere |= set(re.findall(r"(?:^|\s)-o\s+(\w+)", text(cell).splitlines()[0]))
            continue
        tree = ast.parse(text(cell))
        outside, inside = top_level(tree)
        if inside:
            guarded.add(cell["id"])
        calls = {
            getattr(n.func, "attr", getattr(n.func, "id", None))
            for n in ast.walk(ast.Module(body=outside, type_ignores=[]))
            if isinstance(n, ast.Call)
        }
        assert not calls & DRILLS, f"{cell['id']} runs {calls & DRILLS} outside `if lab.drill_here(...)`"
        # what this cell reads at its top level must not be something only a skipped drill set
        read = names(outside, ast.Load, in_functions=False) - everywhere
        assert not read & only_in_drills, f"{cell['id']} reads {read & only_in_drills}, set only by a drill"
        everywhere |= names(outside, ast.Store, in_functions=False)
        only_in_drills |= names(inside, ast.Store, in_functions=True) - everywhere
    assert guarded == GUARDED[lesson]
    markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert markdown.count(LINE) == 1  # the lesson says so, once, above its drill


def test_lesson_08s_check_runs_without_the_kill_on_another_backend(lab, topic, capsys):
    """On compose (here: a handle that says compose, on the suite's own cluster) the check
    runs the learner's job through, kills nothing, and says so; a right answer passes."""
    pay, out = topic("l08-payments"), topic("l08-totals")
    elsewhere = labkit.Lab(dataclasses.replace(lab.endpoints, backend="compose"))
    before = {tm["id"] for tm in lab.flink_api("taskmanagers")["taskmanagers"]}
    options = {
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": "l08-local-only",
        "properties.transaction.timeout.ms": "900000",  # within a stock broker's limit, as the exercise asks
    }
    result = checks.lesson_08_exactly_once(elsewhere, "1 s", options, payments=pay, totals=out)
    assert result.ok, result
    assert "Not crashed: the TaskManager kill needs the local backend" in result.message
    assert "Skipped: the TaskManager kill needs the local backend" in capsys.readouterr().out
    assert {tm["id"] for tm in lab.flink_api("taskmanagers")["taskmanagers"]} == before  # none killed
