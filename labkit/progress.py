"""What a learner has done: the exercises they passed, remembered between sessions.

    labkit progress                 # the course map in a terminal
    labkit.progress.course_map()    # the same, as a DataFrame, in a notebook

A check that passes (`labkit.checks`, wrapped by `remembered`) leaves one small file in
``LABKIT_HOME/progress/`` named after it, holding when it passed: one file per exercise, so
two kernels passing two exercises at once never overwrite each other, and ``labkit down``
or ``labkit reset`` (which stop processes and delete topics) keep it. Each learner has
their own ``LABKIT_HOME``, so their own progress. Nothing is sent anywhere.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from . import paths

#: The course: each lesson and the checks of its exercise, in order.
EXERCISES: dict[str, tuple[str, ...]] = {
    "00": ("lesson_00_roles", "lesson_00_trip"),
    "01": ("lesson_01_produce",),
    "02": ("lesson_02_order",),
    "03": ("lesson_03_lag", "lesson_03_catch_up"),
    "04": ("lesson_04_since",),
    "04b": ("lesson_04b_durable",),
    "05": ("lesson_05_filter",),
    "06": ("lesson_06_hop",),
    "07": ("lesson_07_bound",),
    "08": ("lesson_08_exactly_once",),
    "08b": ("lesson_08b_billing",),
    "09": ("lesson_09_replay",),
    "09b": ("lesson_09b_orders_once",),
    "10": ("lesson_10_tools", "lesson_10_late"),
    "12": ("lesson_12_on_your_own",),
}

F = TypeVar("F", bound=Callable[..., Any])


def folder() -> Path:
    """Where passed exercises are remembered (made on first use)."""
    path = paths.home() / "progress"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(check: str) -> None:
    """Remember that ``check`` (e.g. ``"lesson_05_filter"``) passed, now."""
    if not re.fullmatch(r"lesson_\w+", check):
        raise ValueError(f"not a check's name: {check!r}")
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    (folder() / f"{check}.json").write_text(json.dumps({"check": check, "passed_at": when}))


def passed() -> dict[str, str]:
    """``{check: when it last passed (ISO time, UTC)}`` for every exercise passed."""
    done = {}
    for path in sorted(folder().glob("lesson_*.json")):
        try:
            done[path.stem] = json.loads(path.read_text())["passed_at"]
        except (ValueError, KeyError, OSError):
            continue  # a file half-written or edited by hand: that exercise counts as not done
    return done


def remembered(check: F) -> F:
    """``check``, recording each pass (a `Result` that is ok) with `record`."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = check(*args, **kwargs)
        if getattr(result, "ok", False):
            record(check.__name__)
        return result

    return run  # type: ignore[return-value]


def titles(notebooks: Path | None = None) -> dict[str, str]:
    """``{lesson: title}`` from the notebooks' first headings ("# 05 · Flink's first job...")."""
    root = notebooks or ((paths.project_root() or Path.cwd()) / "notebooks")
    found = {}
    for path in sorted(root.glob("*.ipynb")):
        lesson = path.name.split("_", 1)[0]
        try:
            first = json.loads(path.read_text())["cells"][0]["source"]
        except (ValueError, KeyError, IndexError, OSError):
            continue
        heading = "".join(first).splitlines()[0] if first else ""
        found[lesson] = heading.lstrip("# ").split("·", 1)[-1].strip()
    return found


def course_map(notebooks: Path | None = None) -> pd.DataFrame:
    """One row per lesson (`labkit.course`): its title, core or optional, its estimated time,
    the exercises passed of its total, and done or not (a lesson with no exercise: "-")."""
    from . import course  # here: course reads this module's EXERCISES

    done, names = passed(), titles(notebooks)
    try:
        sizes = course.sizes(notebooks)
    except (OSError, ValueError):
        sizes = {}  # no notebooks beside this install: the map without times
    rows = []
    for each in course.LESSONS:
        checks = EXERCISES.get(each.number, ())
        n = sum(c in done for c in checks)
        size = sizes.get(each.number)
        minutes = (size.core_min if each.core else size.optional_min) if size else 0.0
        rows.append(
            {
                "lesson": each.number,
                "title": names.get(each.number, ""),
                "path": "core" if each.core else "optional",
                "time": course.hours(minutes) if size else "",
                "exercises": f"{n}/{len(checks)}" if checks else "-",
                "done": (n == len(checks)) if checks else None,
            }
        )
    return pd.DataFrame(rows)


MARKS = {True: "[x]", False: "[ ]", None: "   "}  # done, not yet, no exercise


def summary(notebooks: Path | None = None) -> str:
    """The course map as text (what ``labkit progress`` prints)."""
    table = course_map(notebooks)
    lines = [
        f"{MARKS[row.done]} {row.lesson:<4} {row.exercises:>4}  {row.path:<8} {row.time:>8}  {row.title}"
        for row in table.itertuples()
    ]
    graded = table[table.done.notna()]
    finished = int(graded.done.astype(bool).sum())
    where = folder()
    footer = f"{finished} of {len(graded)} lessons with exercises done (remembered in {where})"
    return "\n".join([*lines, footer])
