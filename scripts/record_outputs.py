"""Run lessons and store the outputs of their ``nbval-check-output`` cells (only those).

nbval compares each tagged cell's output with the stored one, so after changing what such
a cell prints, record it again (and read the diff: it is the lesson's visible result):
    .venv/bin/python scripts/record_outputs.py notebooks/02_topics_partitions_keys.ipynb
Nothing is written if any cell fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from clean_notebooks import checked, clean, dump
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def record(path: Path) -> None:
    source = json.loads(path.read_text())
    nb = nbformat.reads(path.read_text(), as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    for mine, ran in zip(source["cells"], nb.cells, strict=True):
        if mine.get("cell_type") == "code" and checked(mine):
            mine["outputs"] = json.loads(json.dumps(ran.get("outputs", [])))
    path.write_text(dump(clean(source)))
    tagged = sum(1 for c in source["cells"] if checked(c))
    print(f"{path}: recorded {tagged} checked cell(s)")


def main(argv: list[str]) -> int:
    failed = 0
    for arg in argv:
        try:
            record(Path(arg))
        except CellExecutionError as exc:
            failed += 1
            print(f"{arg}: a cell failed, nothing recorded:\n{str(exc)[-2000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
