"""Keep notebooks clean in git: no outputs, no execution counts, the python3 kernelspec.

The one exception is what nbval compares: cells tagged ``nbval-check-output`` keep their
(text) outputs, recorded by ``scripts/record_outputs.py``, because nbval compares a cell's
new output against the stored one - with nothing stored there is nothing to compare.
Images are dropped (nbval never compares them). Usage:
    python scripts/clean_notebooks.py [notebooks/*.ipynb]   (default: all lessons)
    python scripts/clean_notebooks.py --check               (exit 1 if any is dirty)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CHECKED = "nbval-check-output"
DROPPED_DATA = ("image/png", "image/jpeg", "image/svg+xml", "application/vnd.jupyter.widget-view+json")


def checked(cell: dict) -> bool:
    return CHECKED in cell.get("metadata", {}).get("tags", [])


def text_only(outputs: list[dict]) -> list[dict]:
    """The outputs nbval compares: no images or widget views, no counts, no metadata."""
    kept = []
    for out in outputs:
        out = dict(out)
        if "data" in out:
            out["data"] = {k: v for k, v in out["data"].items() if k not in DROPPED_DATA}
            if not out["data"]:
                continue
            out["metadata"] = {}
        if "execution_count" in out:
            out["execution_count"] = None
        kept.append(out)
    return kept


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = text_only(cell.get("outputs", [])) if checked(cell) else []
            # nbval treats a cell with no execution count as never run and compares nothing;
            # a constant 1 keeps the recorded cells compared and the diffs stable
            cell["execution_count"] = 1 if cell["outputs"] else None
        cell.get("metadata", {}).pop("execution", None)
    meta = nb.setdefault("metadata", {})
    meta["kernelspec"] = KERNELSPEC
    meta.pop("widgets", None)
    return nb


def dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    files = [Path(a) for a in argv if a != "--check"] or sorted(Path("notebooks").glob("*.ipynb"))
    dirty = []
    for path in files:
        text = path.read_text()
        new = dump(clean(json.loads(text)))
        if new != text:
            dirty.append(str(path))
            if not check:
                path.write_text(new)
    if check and dirty:
        print("notebooks with stray outputs or a non-standard kernelspec:", ", ".join(dirty))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
