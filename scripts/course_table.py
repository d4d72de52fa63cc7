"""The per-lesson table (cells, words, code read, run-only cells, time) and "Where you are".

    python scripts/course_table.py            # print the table (labkit.course says how)
    python scripts/course_table.py --times    # first copy .labkit/lesson-seconds.json (the
                                              # run times the last full test run measured)
                                              # to docs/lesson-seconds.json
    python scripts/course_table.py --write    # put the table in README (between the
                                              # course-table markers) and each lesson's
                                              # "Where you are" line under its title

tests/lessons/test_course.py fails when README or a lesson's line is not what this writes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labkit import course  # noqa: E402

BEGIN, END = "<!-- course-table -->", "<!-- /course-table -->"


def readme_with_table(text: str, table: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def with_where(nb: dict, line: str) -> dict:
    """The notebook with ``line`` as the line after its title (replacing an older one)."""
    first = nb["cells"][0]
    lines = course.source(first).splitlines()
    title, *rest = [x for x in lines if not x.startswith(course.WHERE)]
    while rest and not rest[0].strip():
        rest.pop(0)
    first["source"] = "\n".join([title, "", line, *([""] + rest if rest else [])]).splitlines(keepends=True)
    return nb


def write() -> None:
    sizes = course.sizes(ROOT / "notebooks")
    readme = ROOT / "README.md"
    readme.write_text(readme_with_table(readme.read_text(), course.table(ROOT / "notebooks")))
    for each in course.LESSONS:
        path = ROOT / "notebooks" / each.file
        nb = with_where(json.loads(path.read_text()), course.where_line(each, sizes))
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    if "--times" in sys.argv:
        shutil.copy(ROOT / ".labkit" / "lesson-seconds.json", ROOT / "docs" / "lesson-seconds.json")
    if "--write" in sys.argv:
        write()
    print(course.table(ROOT / "notebooks"))


if __name__ == "__main__":
    main()
