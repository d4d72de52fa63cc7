"""scripts/setup.sh on an unsupported Python: a clear message, nothing half-installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fake_python(bin_dir: Path, name: str, version: str) -> None:
    """A stand-in interpreter that only answers the version question."""
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)


def run_setup(tmp_path: Path, versions: dict[str, str]) -> subprocess.CompletedProcess:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version in versions.items():
        fake_python(bin_dir, name, version)
    for tool in ("dirname", "cat", "rm", "sha256sum"):  # what setup.sh needs, and no real python
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(project / "scripts" / "setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_only_python_313_gives_a_clear_message(tmp_path):
    out = run_setup(tmp_path, {"python3": "3.13", "python": "3.13"})
    assert out.returncode == 1
    assert "needs Python 3.10, 3.11 or 3.12" in out.stderr
    assert "python3 (3.13)" in out.stderr  # says what it found
    assert "PYTHON=" in out.stderr and "environment.yml" in out.stderr  # and how to fix it
    assert not (tmp_path / "project" / ".venv").exists()


def test_a_supported_python_is_preferred_over_the_default(tmp_path):
    # python3 is 3.13 but python3.12 exists: setup must pick 3.12 (and then try to make a
    # venv with the stand-in, which fails - that is as far as this test goes)
    out = run_setup(tmp_path, {"python3": "3.13", "python3.12": "3.12"})
    assert "creating .venv with python3.12 (Python 3.12)" in out.stdout
    assert os.environ.get("PATH")  # the real environment is untouched
