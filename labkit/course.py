"""The course as a whole: its lessons in order, which are core, and how long each takes.

    python scripts/course_table.py           # the table README shows, from the notebooks
    python scripts/course_table.py --write   # update README and each lesson's "Where you are"

A lesson's time is *estimated the same way for every lesson*, from what is in its notebook:

* its text read at `WORDS_A_MINUTE` (150) words a minute;
* the code a learner reads: each non-blank line of a visible code cell at `LINES_A_MINUTE`
  (6: a beginner reads code about a third as fast as prose, ~8 words a line);
* its run time: the notebook's time under nbval, measured in the last full run
  (`docs/lesson-seconds.json`, written from `.labkit/lesson-seconds.json` by the script);
* `EXERCISE_MINUTES` (10) for each exercise (each check in `labkit.progress.EXERCISES`),
  optional time when the cell that calls its check sits in an optional section.

A cell tagged ``proof`` is run-only: it proves a claim to CI (drives a widget from code, a
block of asserts) and teaches nothing new. Collapsed (``jupyter.source_hidden``) its first
line, a comment, says what it checks, and its code is not counted as read. A section whose
heading says "Optional" (``## Optional: ...``), up to the next heading of the same level,
counts as optional time; so does all of a lesson that is not `core`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .progress import EXERCISES

WORDS_A_MINUTE = 150
LINES_A_MINUTE = 6
EXERCISE_MINUTES = 10
#: A core path a beginner finishes in about six hours, with Flink starting within ~2.5 h.
CORE_LIMIT_MIN = 360
FLINK_BY_MIN = 150
#: A lesson's visible code cells stay readable; more goes in a collapsed proof cell.
MAX_VISIBLE_LINES = 15
MAX_VISIBLE_PROOFS = 3
PROOF = "proof"
#: The first words of the line that says where a lesson sits (kept up to date by the script).
WHERE = "**Where you are:**"


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course."""

    number: str
    file: str
    part: str  # "Kafka", "Flink" or "Together"
    core: bool


LESSONS: tuple[Lesson, ...] = (
    Lesson("00", "00_welcome.ipynb", "Start", True),
    Lesson("01", "01_events.ipynb", "Kafka", True),
    Lesson("02", "02_topics_partitions_keys.ipynb", "Kafka", True),
    Lesson("03", "03_consumer_groups.ipynb", "Kafka", True),
    Lesson("04", "04_offsets_replay.ipynb", "Kafka", True),
    Lesson("04b", "04b_failure_and_replication.ipynb", "Kafka", False),
    Lesson("04c", "04c_retention_compaction.ipynb", "Kafka", False),
    Lesson("05", "05_flink_first_job.ipynb", "Flink", True),
    Lesson("06", "06_windows.ipynb", "Flink", True),
    Lesson("07", "07_event_time_watermarks.ipynb", "Flink", True),
    Lesson("08", "08_state_exactly_once.ipynb", "Flink", True),
    Lesson("08b", "08b_joins.ipynb", "Flink", True),
    Lesson("09", "09_fraud_detection.ipynb", "Together", True),
    Lesson("09b", "09b_out_of_kafka.ipynb", "Together", False),
    Lesson("10", "10_kafka_streams_vs_flink.ipynb", "Together", True),
    Lesson("11", "11_cheat_sheet.ipynb", "Together", True),
    Lesson("12", "12_on_your_own.ipynb", "Together", False),
)


@dataclass(frozen=True)
class Size:
    """What a lesson holds and the time it takes (minutes, estimated as the module says)."""

    cells: int
    words: int
    code_lines: int  # non-blank lines of visible code cells
    visible_proofs: int
    exercises: int
    run_s: float
    core_min: float
    optional_min: float


def notebooks() -> Path:
    return (paths.project_root() or Path.cwd()) / "notebooks"


def lesson(number: str) -> Lesson:
    for each in LESSONS:
        if each.number == number:
            return each
    raise KeyError(f"no lesson {number!r}; the lessons are {', '.join(x.number for x in LESSONS)}")


def load(each: Lesson, root: Path | None = None) -> dict[str, Any]:
    return json.loads(((root or notebooks()) / each.file).read_text())


def source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def hidden(cell: dict[str, Any]) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"))


def words(text: str) -> int:
    """Words of a markdown cell's text, without the "Where you are" line (which the script
    writes from this very count) and without HTML comments."""
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    kept = [line for line in text.splitlines() if not line.startswith(WHERE)]
    return len(re.findall(r"[A-Za-z0-9][\w'-]*", "\n".join(kept)))


def code_lines(cell: dict[str, Any]) -> int:
    """Non-blank lines of a code cell a learner reads (0 if collapsed)."""
    if hidden(cell):
        return 0
    return sum(1 for line in source(cell).splitlines() if line.strip())


def heading(cell: dict[str, Any]) -> tuple[int, str] | None:
    """``(level, text)`` of a markdown cell's first line if it is a heading."""
    if cell.get("cell_type") != "markdown":
        return None
    first = (source(cell).lstrip().splitlines() or [""])[0]
    found = re.match(r"(#{1,6})\s+(.*)", first)
    return (len(found.group(1)), found.group(2)) if found else None


def optional_cells(nb: dict[str, Any]) -> list[bool]:
    """For each cell, whether it sits in a section whose heading says Optional."""
    flags, level = [], 0  # level: that of the optional heading we are under (0: none)
    for cell in nb["cells"]:
        head = heading(cell)
        if head is not None:
            if level and head[0] <= level:
                level = 0
            if not level and re.match(r"(?i)optional\b", head[1].lstrip("*_ ")):
                level = head[0]
        flags.append(bool(level))
    return flags


def run_seconds(root: Path | None = None) -> dict[str, float]:
    """Each notebook's measured time under nbval (``{stem: seconds}``)."""
    path = (root or notebooks()).parent / "docs" / "lesson-seconds.json"
    try:
        return {k: float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        return {}


def size(each: Lesson, root: Path | None = None, seconds: dict[str, float] | None = None) -> Size:
    """`Size` of one lesson, from its notebook."""
    nb = load(each, root)
    seconds = run_seconds(root) if seconds is None else seconds
    run_s = seconds.get(each.file.removesuffix(".ipynb"), 0.0)
    core = optional = 0.0
    n_words = n_lines = proofs = 0
    for cell, is_optional in zip(nb["cells"], optional_cells(nb), strict=True):
        if cell.get("cell_type") == "markdown":
            w = words(source(cell))
            n_words += w
            minutes = w / WORDS_A_MINUTE
        elif cell.get("cell_type") == "code":
            lines = code_lines(cell)
            n_lines += lines
            proofs += PROOF in tags(cell) and not hidden(cell)
            minutes = lines / LINES_A_MINUTE
        else:
            continue
        if is_optional or not each.core:
            optional += minutes
        else:
            core += minutes
    checks = EXERCISES.get(each.number, ())
    in_optional = [source(c) for c, flag in zip(nb["cells"], optional_cells(nb), strict=True) if flag]
    extra = sum(any(f"checks.{name}(" in text for text in in_optional) for name in checks)
    exercises = len(checks)
    if each.core:
        core += run_s / 60 + (exercises - extra) * EXERCISE_MINUTES
        optional += extra * EXERCISE_MINUTES
    else:
        optional += run_s / 60 + exercises * EXERCISE_MINUTES
    return Size(len(nb["cells"]), n_words, n_lines, proofs, exercises, run_s, core, optional)


def rounded(minutes: float) -> int:
    """Minutes to the nearest 5 (an estimate claims no more)."""
    return int(5 * round(minutes / 5))


def hours(minutes: float) -> str:
    m = rounded(minutes)
    return f"{m // 60} h {m % 60:02d}" if m >= 60 else f"{m} min"


def sizes(root: Path | None = None) -> dict[str, Size]:
    seconds = run_seconds(root)
    return {each.number: size(each, root, seconds) for each in LESSONS}


def title(each: Lesson, root: Path | None = None) -> str:
    head = heading(load(each, root)["cells"][0])
    return head[1].split("·", 1)[-1].strip() if head else each.file


def where_line(each: Lesson, all_sizes: dict[str, Size]) -> str:
    """The line under a lesson's title: its part, core or optional, its time, and how far
    along the core path a learner is when it ends."""
    s = all_sizes[each.number]
    before = sum(all_sizes[x.number].core_min for x in LESSONS[: LESSONS.index(each) + 1])
    total = sum(x.core_min for x in all_sizes.values())
    if each.core:
        extra = f" (optional sections: {hours(s.optional_min)} more)" if rounded(s.optional_min) else ""
        return (
            f"{WHERE} lesson {each.number}, {each.part} · core · about {hours(s.core_min)}{extra}"
            f" · at its end, {hours(before)} of the {hours(total)} core path is behind you."
        )
    return (
        f"{WHERE} lesson {each.number}, {each.part} · optional, deeper material · about "
        f"{hours(s.optional_min)} · the core path goes on without it."
    )


def table(root: Path | None = None) -> str:
    """The per-lesson table README shows (markdown)."""
    all_sizes = sizes(root)
    rows = [
        "| Lesson | Part | Core? | Cells | Words | Code lines read | Visible run-only cells "
        "| Exercises | Run (s) | Core time | Optional time |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for each in LESSONS:
        s = all_sizes[each.number]
        rows.append(
            f"| {each.number} {title(each, root)} | {each.part} | {'core' if each.core else 'optional'} "
            f"| {s.cells} | {s.words} | {s.code_lines} | {s.visible_proofs} | {s.exercises} "
            f"| {s.run_s:.0f} | {hours(s.core_min) if s.core_min else '-'} "
            f"| {hours(s.optional_min) if rounded(s.optional_min) else '-'} |"
        )
    core = sum(s.core_min for s in all_sizes.values())
    optional = sum(s.optional_min for s in all_sizes.values())
    rows.append(f"| **All** | | | | | | | | | **{hours(core)}** | **{hours(optional)}** |")
    return "\n".join(rows)


def flink_starts_at(all_sizes: dict[str, Size]) -> float:
    """Core minutes before the first Flink lesson."""
    total = 0.0
    for each in LESSONS:
        if each.part == "Flink":
            return total
        total += all_sizes[each.number].core_min
    return total
