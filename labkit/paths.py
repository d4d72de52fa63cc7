"""Where the lab keeps its state, logs and downloads.

Everything lives in one project-local folder (``.labkit/`` next to ``pyproject.toml``)
so that every kernel, the CLI and the tests find the same running cluster, and so that
deleting that folder is a full reset. ``LABKIT_HOME`` moves the state (tests use this to
run a second, private cluster); ``LABKIT_CACHE`` moves the downloads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

#: A progress printer: `printer` returns one.
Say = Callable[..., None]


def project_root() -> Path | None:
    """The checkout labkit was installed from (editable install), if any."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else None


def home() -> Path:
    """The state folder: ``state.json``, process logs."""
    env = os.environ.get("LABKIT_HOME")
    if env:
        path = Path(env)
    else:
        root = project_root()
        path = (root / ".labkit") if root else (Path.home() / ".labkit")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache() -> Path:
    """The download cache (verified connector jars). Survives `labkit down`."""
    env = os.environ.get("LABKIT_CACHE")
    path = Path(env) if env else home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs() -> Path:
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file() -> Path:
    return home() / "state.json"


def log_tail(path: Path, chars: int = 2000) -> str:
    """The end of a process's log, for an error message ("(no log)" when there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def printer(quiet: bool) -> Say:
    """``print`` (flushed) for progress messages, or nothing when ``quiet``."""
    return (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
