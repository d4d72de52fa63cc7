"""The state file: which cluster the lab uses, where it is, and what the lab started.

One file (``.labkit/state.json``) records the backend in use, its addresses
(`Endpoints`) and the processes the lab started (with their start times, so a recycled
PID is never mistaken for ours). Every kernel, the CLI and the tests read it, which is how
a kernel restart finds the same cluster again and how ``labkit down`` stops everything.

Also here: the lock that serialises changes to it (`lock`), the test run that owns a lab
(`owner_pid`), and the per-user registry of lab folders that ``labkit down --all`` walks
(`register_home`, `registered_homes`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import paths


@dataclass
class Endpoints:
    """Where things are, from the notebook's side and from Flink's side.

    They differ on a containerised cluster (Flink's TaskManagers reach Kafka by its
    container name, the notebook by 127.0.0.1); on the local backend they match.
    """

    backend: str
    bootstrap_servers: str
    flink_bootstrap_servers: str
    flink_rest: str | None = None  # the JobManager's REST address (and Web UI)
    # The Python that Flink's workers run Python functions with; None: this kernel's own.
    flink_python: str | None = None


@dataclass
class State:
    """What ``state.json`` holds: the endpoints, the processes the lab started
    (name -> {pid, create_time, ...}), how many brokers a local lab runs, and its owner."""

    endpoints: Endpoints
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    brokers: int = 1
    owner_pid: int | None = None  # a test run that owns this lab (`labkit down --all`)

    def save(self) -> None:
        tmp = paths.state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(paths.state_file())

    @staticmethod
    def load() -> State | None:
        """The recorded state; None when there is none or it cannot be read (a corrupt
        file is moved aside, so the next `up` starts cleanly)."""
        path = paths.state_file()
        try:
            raw = json.loads(path.read_text())
            return State(
                Endpoints(**raw["endpoints"]),
                raw.get("processes", {}),
                int(raw.get("brokers", 1)),
                raw.get("owner_pid"),
            )
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".corrupt"))
            return None


@contextlib.contextmanager
def lock() -> Iterator[None]:
    """Serialise changes to the lab (`up`, `down`, tracking a process) across kernels and
    the CLI: two kernels connecting at the same moment must share one cluster, not start two."""
    with open(paths.home() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def owner_pid() -> int | None:
    """A test run sets LABKIT_OWNER_PID: its labs are left behind only if it was killed."""
    value = os.environ.get("LABKIT_OWNER_PID")
    return int(value) if value and value.isdigit() else None


# --- which labs exist (for `labkit down --all`) -------------------------------------


def _registry() -> Path:
    path = Path(tempfile.gettempdir()) / f"labkit-{os.getuid()}" / "homes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def register_home() -> None:
    """Note this lab's folder in the per-user registry (idempotent)."""
    home = str(paths.home().resolve())
    (_registry() / hashlib.sha256(home.encode()).hexdigest()[:16]).write_text(home)


def registered_homes() -> list[tuple[Path, Path]]:
    """Every registered lab folder, as (registry entry, folder); delete the entry to forget it."""
    return [(entry, Path(entry.read_text().strip())) for entry in _registry().iterdir()]
