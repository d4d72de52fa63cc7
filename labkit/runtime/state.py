"""The state file: which cluster the lab uses, where it is, and what the lab started.

One file (``.labkit/state.json``) records the backend in use, its addresses
(`Endpoints`) and the processes the lab started (with their start times, so a recycled
PID is never mistaken for ours). Every kernel, the CLI and the tests read it, which is how
a kernel restart finds the same cluster again and how ``labkit down`` stops everything.

Also here: the lock that serialises changes to it (`lock`: its holder says who it is, and a
waiter gives up with a `LabError` naming it rather than hang behind a stopped ``labkit up``),
the test run that owns a lab (`owner_pid`), and the per-user registry of lab folders that
``labkit down --all`` walks (`register_home`, `registered_homes`: private to the user,
refused when it is not).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from .. import paths
from ..errors import LabError
from ..waiting import wait_for


@dataclass
class Endpoints:
    """Where things are, from the notebook's side and from Flink's side.

    They differ on a containerised cluster (Flink's TaskManagers reach Kafka by its
    container name, the notebook by 127.0.0.1); on the local backend they match.
    """

    backend: str
    bootstrap_servers: str
    flink_bootstrap_servers: str
    # The JobManager's REST API: host:port (HTTP), or https://host:port (mutual TLS with
    # the lab's certificate, runtime/tls.py) as on the local backend.
    flink_rest: str | None = None
    # The Python that Flink's workers run Python functions with; None: this kernel's own.
    flink_python: str | None = None
    # Where a browser opens Flink's Web UI (host:port of the lab's front door,
    # runtime/webui.py); None: at flink_rest itself.
    web_ui: str | None = None
    # Flink's SQL Gateway (the %%flink_sql cell's service), written like flink_rest; None: none.
    sql_gateway: str | None = None
    # A connection profile (runtime/profile.py: a JSON file, 0600, holding a login) for a
    # Kafka that wants SASL_SSL; its path only - the password stays in that file, never here.
    # None: plain connections (the lab's own Kafka).
    kafka_profile: str | None = None


@dataclass
class State:
    """What ``state.json`` holds: the endpoints, the processes the lab started
    (name -> {pid, create_time, ...}), how many brokers a local lab runs, and its owner."""

    endpoints: Endpoints
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    brokers: int = 1
    owner_pid: int | None = None  # a test run that owns this lab (`labkit down --all`)

    def save(self) -> None:
        # mode 0600 whatever the umask: `down --all` trusts no state file others could write
        fd, tmp = tempfile.mkstemp(dir=paths.home(), prefix=".state-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(asdict(self), indent=2))
        os.replace(tmp, paths.state_file())

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


#: How long a waiter gives a lock holder that is stopped (Ctrl-Z, a debugger) before it
#: gives up: a stopped holder makes no progress, and without this limit every kernel's
#: ``connect()`` would hang until someone resumes it.
LOCK_STALLED_S = 10.0
#: The longest a waiter waits for a holder that is running. ``up`` legitimately holds the
#: lock for a while (starting Kafka and Flink ~10-30 s, the first download of the jars, a
#: compose cluster's first image build: compose.UP_TIMEOUT_S = 1800 s), so this is generous.
LOCK_DEADLINE_S = 2400.0
#: After this long a waiter says whom it waits for (a kernel that seems to hang otherwise).
LOCK_NOTICE_S = 3.0
#: psutil's statuses of a process that makes no progress until someone resumes it.
STOPPED = (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)


class LockBusy(LabError):
    """The lab's lock could not be taken: its holder is stopped, or held it past the deadline."""


@contextlib.contextmanager
def lock(
    stalled: float = LOCK_STALLED_S, deadline: float = LOCK_DEADLINE_S, notice: float = LOCK_NOTICE_S
) -> Iterator[None]:
    """Serialise changes to the lab (`up`, `down`, tracking a process) across kernels and
    the CLI: two kernels connecting at the same moment must share one cluster, not start two.

    The holder writes who it is (`lock_holder`) into the lock file, so a waiter can say whom
    it waits for (after ``notice`` s, on stderr) and give up with a `LabError` naming it when
    the holder is stopped for ``stalled`` s or still holds it after ``deadline`` s. A holder
    that dies releases the lock with it (flock), so there is never a stale lock to clean up.
    Not re-entrant: a second ``lock()`` in the same thread waits for the first.
    """
    path = paths.home() / "lock"
    # not "w": that would wipe the current holder's name before we hold the lock
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as fh:
        _acquire(fh, stalled, deadline, notice)
        try:
            me = psutil.Process()
            holder = {
                "pid": me.pid,
                "create_time": me.create_time(),
                "command": _command(),
                "since": time.time(),
            }
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(holder))
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_holder() -> dict[str, Any] | None:
    """Who holds the lab's lock, as its holder wrote it (pid, create_time, command, since:
    an epoch time); None when nobody holds it or it cannot be read yet (being written)."""
    try:
        raw = json.loads((paths.home() / "lock").read_text() or "null")
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) and isinstance(raw.get("pid"), int) else None


def describe_holder(holder: dict[str, Any] | None) -> str:
    """``labkit up (pid 123, since 10:02:03)``, for a waiter's messages."""
    if holder is None:
        return "another labkit process"
    since = time.strftime("%H:%M:%S", time.localtime(float(holder.get("since", 0))))
    return f"{holder.get('command') or 'a process'} (pid {holder['pid']}, since {since})"


def _holder_status(holder: dict[str, Any] | None) -> str | None:
    """The holder's process status (psutil's: 'running', 'stopped', ...), or None when it
    cannot be seen (another PID namespace, a recycled PID, just exited)."""
    if holder is None:
        return None
    try:
        proc = psutil.Process(holder["pid"])
        if abs(proc.create_time() - float(holder.get("create_time", 0))) > 1.0:
            return None
        return str(proc.status())
    except (psutil.Error, KeyError, TypeError, ValueError):
        return None


def _acquire(fh: IO[str], stalled: float, deadline: float, notice: float) -> None:
    """Take the flock on ``fh``, waiting as `lock` describes."""
    start = time.monotonic()
    told = False
    stopped_since: float | None = None
    holder: dict[str, Any] | None = None

    def attempt() -> bool:
        nonlocal told, stopped_since, holder
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        holder = lock_holder() or holder  # keep the last one read while it is rewritten
        now = time.monotonic()
        if _holder_status(holder) in STOPPED:
            stopped_since = now if stopped_since is None else stopped_since
            if now - stopped_since >= stalled:
                pid = holder["pid"] if holder else "?"
                raise LockBusy(
                    f"The lab is locked by {describe_holder(holder)}, which is stopped (Ctrl-Z, or "
                    f"a debugger) and so will not finish: resume it (`fg` in its terminal, or "
                    f"`kill -CONT {pid}`) or end it (`kill {pid}`), then try again."
                )
        else:
            stopped_since = None
        if not told and now - start >= notice:
            print(f"labkit: waiting for {describe_holder(holder)}...", file=sys.stderr, flush=True)
            told = True
        return False

    try:
        wait_for(attempt, "the lab's lock", timeout=deadline, every=0.1)
    except LockBusy:
        raise
    except LabError:  # wait_for's deadline
        pid = holder["pid"] if holder else "?"
        raise LockBusy(
            f"The lab is still locked by {describe_holder(holder)} after {deadline:g} s. If it is "
            f"stuck, end it (`kill {pid}`), then try again."
        ) from None


def _command() -> str:
    """How this process is known to a person: ``labkit up``, ``a notebook kernel``, or its
    command line (shortened)."""
    argv = sys.argv or [""]
    first = Path(argv[0])
    if first.name == "labkit" or first.parts[-2:] == ("labkit", "cli.py"):
        return " ".join(["labkit", *argv[1:]])[:120]
    if "ipykernel" in argv[0]:
        return "a notebook kernel"
    if argv[0] in ("", "-c"):  # python -c CODE: the code is no name
        return f"{Path(sys.executable).name} -c"
    return " ".join([first.name, *argv[1:]])[:120]


def owner_pid() -> int | None:
    """A test run sets LABKIT_OWNER_PID: its labs are left behind only if it was killed."""
    value = os.environ.get("LABKIT_OWNER_PID")
    return int(value) if value and value.isdigit() else None


# --- which labs exist (for `labkit down --all`) -------------------------------------
#
# `labkit down --all` stops the processes named in the state file of every lab folder listed
# here - and CI's exit trap runs it as root - so whoever can write into the registry chooses
# what it stops: the registry must be this user's alone. It lives in the user's own cache
# folder (``$XDG_CACHE_HOME/labkit/homes``, else ``~/.cache/labkit/homes``; ``LABKIT_REGISTRY``
# moves it, as the tests do), not under a predictable name in the shared /tmp, where any
# local user could create it first: refused (below), that would still have left its owner
# without a working ``down --all``. The checks stay for the cases the home folder does not
# rule out (``sudo`` keeping the caller's HOME, a registry moved with LABKIT_REGISTRY).


class Untrusted(LabError):
    """A file or folder that tells labkit what to stop is not this user's alone."""


def unsafe_reason(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why ``path`` (a file or folder labkit trusts to say what to stop) is not this user's
    alone - a symbolic link, another owner, writable by group or others - or None when it
    is. ``st``: its `os.fstat` when already open (no second look at a path that could change)."""
    try:
        st = st or os.lstat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if st.st_uid != os.geteuid():
        return f"belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"can be written by other users (mode {stat.filemode(st.st_mode)})"
    return None


def read_own(path: Path) -> str:
    """The text of ``path`` if it is this user's own file (`unsafe_reason`), else `Untrusted`
    saying why. Opened without following a symbolic link, checked on the open file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:  # ELOOP: a symbolic link
        why = "is a symbolic link" if os.path.islink(path) else f"cannot be read ({exc.strerror})"
        raise Untrusted(f"{path} {why}") from None
    with os.fdopen(fd) as fh:
        problem = unsafe_reason(path, os.fstat(fh.fileno()))
        if problem:
            raise Untrusted(f"{path} {problem}")
        return fh.read()


def registry() -> Path:
    """The per-user folder of registered labs, created private (0700); `Untrusted` when it
    is not this user's alone (another owner, a symbolic link, group/world-writable)."""
    env = os.environ.get("LABKIT_REGISTRY")
    if env:
        path = Path(env)
    else:
        cache = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
        path = base / "labkit" / "homes"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    problem = unsafe_reason(path)
    if problem is None and not path.is_dir():
        problem = "is not a folder"
    if problem:
        raise Untrusted(
            f"The registry of labs {path} {problem}, so labkit does not trust what it lists. "
            f"If it is yours, `chmod 700 {path}`; otherwise remove it (or set LABKIT_REGISTRY)."
        )
    return path


def register_home() -> None:
    """Note this lab's folder in the per-user registry (idempotent). A registry that cannot
    be used is reported on stderr, not raised: the lab works without it (only ``down --all``
    will not know this lab)."""
    home = str(paths.home().resolve())
    try:
        folder = registry()
        entry = folder / hashlib.sha256(home.encode()).hexdigest()[:16]
        # a new private file, renamed over the entry (a rename never follows a symlink)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".new-")
        with os.fdopen(fd, "w") as fh:
            fh.write(home)
        os.replace(tmp, entry)
    except (LabError, OSError) as exc:
        print(f"labkit: this lab is not registered for `labkit down --all`: {exc}", file=sys.stderr)


def registered_homes() -> list[tuple[Path, Path]]:
    """Every registered lab folder, as (registry entry, folder); delete the entry to forget it.

    `Untrusted` when the registry is not this user's alone; an entry that is not this user's
    own file is left out, with a warning on stderr."""
    found = []
    for entry in sorted(registry().iterdir()):
        if entry.name.startswith("."):
            continue  # being written by register_home
        try:
            found.append((entry, Path(read_own(entry).strip())))
        except Untrusted as exc:
            print(f"labkit: ignoring an entry of the registry of labs: {exc}.", file=sys.stderr)
    return found
