"""What Flink's TaskManager imports when it runs a labkit Python function.

A PyFlink job's Python functions are pickled by reference to their module: the
TaskManager's embedded Python (``python.execution-mode: thread``) imports that module, and
with it the ``labkit`` packages it sits in. Widgets, IPython and matplotlib must not come
along: three operators importing them at once there hung lesson 09's two jobs at start
("no Flink source connected ... within 60 s"), with every task INITIALIZING inside
``pemja.core.PythonInterpreter.exec``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Modules whose functions labkit's DataStream jobs ship to the TaskManager.
WORKER_MODULES = ["labkit.fraud.data", "labkit.fraud.rules", "labkit.fraud.jobs", "labkit.fraud.live"]
#: What a TaskManager must never import on labkit's behalf.
NOTEBOOK_ONLY = (
    "matplotlib",
    "IPython",
    "ipywidgets",
    "labkit.panels",
    "labkit.sql.magic",
    "labkit.explorer",
)


@pytest.mark.parametrize("module", WORKER_MODULES)
def test_worker_module_imports_no_notebook_machinery(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(out.stdout.splitlines()[-1])
    pulled = sorted(m for m in loaded if m.startswith(NOTEBOOK_ONLY))
    assert not pulled, f"importing {module} also imports {pulled[:8]}"
