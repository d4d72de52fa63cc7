"""Strip outputs and execution counts from notebooks and pin the kernelspec to python3.

Keeps diffs readable and makes nbval compare only what a lesson marks. Usage:
    python scripts/clean_notebooks.py [notebooks/*.ipynb]   (default: all lessons)
    python scripts/clean_notebooks.py --check               (exit 1 if any is dirty)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    meta = nb.setdefault("metadata", {})
    meta["kernelspec"] = KERNELSPEC
    meta.pop("widgets", None)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    files = [Path(a) for a in argv if a != "--check"] or sorted(Path("notebooks").glob("*.ipynb"))
    dirty = []
    for path in files:
        text = path.read_text()
        new = json.dumps(clean(json.loads(text)), indent=1, ensure_ascii=False) + "\n"
        if new != text:
            dirty.append(str(path))
            if not check:
                path.write_text(new)
    if check and dirty:
        print("notebooks with outputs or a non-standard kernelspec:", ", ".join(dirty))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
