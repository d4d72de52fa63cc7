"""The processes the lab started: how each is recorded, found again and stopped.

A process is recorded as a plain dict (`record`: pid, create_time, plus whatever the
caller adds: ports, log file) in the state file (:mod:`labkit.runtime.state`). `tracked`
turns that record back into a live process - or None once it has exited or its PID was
recycled. `stop` and `stop_all` end a process and its children (SIGTERM, then SIGKILL
after `STOP_TIMEOUT_S`); `track` and `untrack` let other parts of the lab (JupyterLab,
Kafka Streams apps) put their processes under the same ``labkit down``.

A process never signals itself, and `enclosing` tells the caller which recorded processes it
runs inside (``labkit down`` typed in a JupyterLab terminal runs inside JupyterLab): those
must be stopped last, and by `stop_in_background`, since stopping one ends its caller too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from .. import paths
from ..errors import LabError
from .net import BIND_FAILURES, PortLost
from .state import State, lock

#: How long a process gets to stop cleanly (a Kafka broker flushes its log) before SIGKILL.
STOP_TIMEOUT_S = 20.0


def record(proc: subprocess.Popen | psutil.Process, **extra: Any) -> dict[str, Any]:
    """What the state file keeps of a started process: its pid and start time (so a
    recycled PID is never mistaken for it), plus ``extra`` (ports, log file...)."""
    return {"pid": proc.pid, "create_time": psutil.Process(proc.pid).create_time(), **extra}


def tracked(info: dict[str, Any]) -> psutil.Process | None:
    """The live process described by ``info``, or None if it has exited (or the PID was
    recycled by an unrelated process)."""
    try:
        proc = psutil.Process(info["pid"])
        if abs(proc.create_time() - info["create_time"]) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.Error, KeyError):
        return None


def runs_as_me(info: dict[str, Any]) -> bool:
    """The recorded process is alive and run by this user: what ``labkit down --all`` may
    stop in a lab it did not start (as root, it could otherwise stop anyone's process)."""
    proc = tracked(info)
    try:
        if proc is None:
            return False
        if proc.uids().real == os.getuid():
            return True
        # as root, a server that refuses root ran as the user its record names (unprivileged.py)
        return os.getuid() == 0 and bool(info.get("run_as")) and proc.username() == info["run_as"]
    except psutil.Error:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited; returns those still alive after ``timeout`` s.

    A process that has exited but whose parent has not reaped it yet (a zombie) counts as
    gone: when the lab was started by another process that is still running (the test
    suite, `labkit lab`), that parent, not us, would have to reap it, and psutil's own
    wait would see the zombie as alive until the timeout.
    """

    def alive(p: psutil.Process) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    left = list(procs)
    while True:
        psutil.wait_procs(left, timeout=0)  # reaps our own children
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def stop(info: dict[str, Any], timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop a recorded process and its children (SIGTERM, SIGKILL after ``timeout`` s);
    True if something was running. The calling process is spared, should it be one of the
    children (`stop_in_background`'s helper, started inside what it stops)."""
    proc = tracked(info)
    if proc is None:
        return False
    family = [p for p in [proc, *proc.children(recursive=True)] if p.pid != os.getpid()]
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    alive = wait_gone(family, timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    wait_gone(alive, 5)
    return True


def stop_all(infos: list[dict[str, Any]], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop several recorded processes at once (a broker's clean shutdown takes a few seconds)."""
    threads = [threading.Thread(target=stop, args=(info, timeout)) for info in infos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rss_mb(info: dict[str, Any]) -> float | None:
    """Resident memory of a recorded process and its children (Python workers), in MB."""
    proc = tracked(info)
    if proc is None:
        return None
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return round(total / 2**20, 1)


def fail_if_exited(proc: subprocess.Popen, what: str, log: Path) -> None:
    """While waiting for a process to start: raise if it has exited, with the end of its
    ``log``. `PortLost` when the log says a port was taken (the caller may choose other
    ports and try again), else a `LabError`. ``what`` names it ("Kafka broker 1")."""
    if proc.poll() is None:
        return
    tail = paths.log_tail(log)
    error = PortLost if any(s in tail for s in BIND_FAILURES) else LabError
    raise error(f"{what} exited during start (code {proc.returncode}). Its log ends:\n{tail}")


def launch(command: list[str], log: Path, banner: str, cwd: Path, **popen: Any) -> subprocess.Popen:
    """Start ``command`` as a lab process: ``--- banner ---`` and then all its output appended
    to ``log``, no stdin, and a session of its own - it outlives the kernel or terminal that
    started it, and no Ctrl-C there reaches it: ``labkit down`` stops it. ``popen``: more
    `subprocess.Popen` arguments (``env``, a user to run as)."""
    with open(log, "ab") as out:
        out.write(f"\n--- {banner} ---\n".encode())
        out.flush()
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=cwd, **popen,
        )  # fmt: skip


def track(name: str, proc: subprocess.Popen | psutil.Process, **extra: Any) -> dict[str, Any]:
    """Record another process the lab started (e.g. JupyterLab) so `down` stops it;
    returns the record (`record`) kept in the state file."""
    with lock():
        state = State.load()
        if state is None:
            raise LabError("Start the cluster first (`labkit up`).")
        info = state.processes[name] = record(proc, **extra)
        state.save()
    return info


def untrack(*names: str, stop: bool = True, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop processes recorded with `track` (all at once, SIGKILL after ``timeout`` s) and
    forget them; returns the names that were still running. Unknown names are ignored."""
    with lock():
        state = State.load()
        if state is None:
            return []
        infos = {n: state.processes.pop(n) for n in names if n in state.processes}
        alive = [n for n, info in infos.items() if tracked(info)]
        if stop:
            stop_all([infos[n] for n in alive], timeout)
        state.save()
    return alive


# --- stopping what the caller runs inside ----------------------------------------------

#: How long `stop_in_background`'s helper waits for its caller to exit (``labkit down``
#: exits at once; a kernel that called `lifecycle.down` itself never does) before stopping.
HANDOVER_WAIT_S = 10.0


def enclosing(records: dict[str, dict[str, Any]]) -> list[str]:
    """The names of the recorded processes this process is, or runs inside (JupyterLab, for
    ``labkit down`` typed in its terminal or run from a notebook cell): stopping one of
    them stops the caller with it (`stop` ends a process's whole family)."""
    me = psutil.Process()
    lineage = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for name, info in records.items():
        proc = tracked(info)
        if proc is not None and proc.pid in lineage:
            found.append(name)
    return found


def stop_in_background(records: dict[str, dict[str, Any]], log: Path) -> subprocess.Popen:
    """Stop ``records`` (name -> record, with `stop_all`) from a detached helper process,
    once this process has exited (at most `HANDOVER_WAIT_S` s): for a caller that runs
    inside one of them, which could not finish the job itself - its own stop would end it
    halfway, with no SIGKILL for what ignores SIGTERM. The helper is a session of its own
    (no terminal's hang-up or Ctrl-C reaches it) and spares itself while it stops the family
    it was started in; it says what it stopped in ``log``."""
    me = psutil.Process()
    payload = json.dumps({"records": records, "after": {"pid": me.pid, "create_time": me.create_time()}})
    code = "import sys; from labkit.runtime.processes import finish_stop; finish_stop(sys.argv[1])"
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, payload],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish_stop(payload: str) -> None:
    """`stop_in_background`'s helper: wait for the caller to exit, then stop what it handed over."""
    data = json.loads(payload)
    caller = tracked(data["after"])
    if caller is not None:
        wait_gone([caller], HANDOVER_WAIT_S)
    stop_all(list(data["records"].values()))
    print(f"labkit: stopped {', '.join(data['records'])} for `labkit down`.", flush=True)
