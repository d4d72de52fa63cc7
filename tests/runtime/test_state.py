"""The state file's lock and the registry of labs (labkit/runtime/state.py), with real
processes: a second process holds the lock (running, or stopped as Ctrl-Z stops it), and
`labkit down --all` meets registries and lab folders planted by someone else."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from privatelab import PrivateLab, gone, wait_for

from labkit.runtime import state
from labkit.runtime.processes import record
from labkit.runtime.state import LockBusy, Untrusted

#: Someone else: the uid `nobody` has on Debian. Planting files for it needs root.
OTHER_UID = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")

HOLDER = """
import sys
from labkit.runtime.state import lock
with lock():
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A lab folder of the test's own, for this process and the holders it starts."""
    folder = tmp_path / "home"
    monkeypatch.setenv("LABKIT_HOME", str(folder))
    return folder


@pytest.fixture
def holder(home, tmp_path):
    """Start a second process that takes the lab's lock and holds it until its stdin gets a
    line; returns (process, release). Stopped (and resumed, if stopped) afterwards."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    started = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env={**os.environ, "LABKIT_HOME": str(home)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(30)


def release(proc: subprocess.Popen) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()


def test_the_holder_says_who_it_is_and_a_waiter_takes_the_lock_once_it_is_released(holder):
    proc = holder()
    who = state.lock_holder()
    assert who["pid"] == proc.pid and who["command"] == "holder.py"
    assert who["create_time"] == psutil.Process(proc.pid).create_time()
    release(proc)
    with state.lock():  # waits for the holder to let go
        assert state.lock_holder()["pid"] == os.getpid()
    assert proc.wait(30) == 0
    assert state.lock_holder() is None  # released: nobody named


def test_a_waiter_names_the_holder_and_gives_up_at_the_deadline(holder, capsys):
    proc = holder()
    with pytest.raises(LockBusy) as raised, state.lock(deadline=0.5, notice=0):
        raise AssertionError("the lock was taken while another process held it")
    since = state.describe_holder(state.lock_holder())
    assert since.startswith(f"holder.py (pid {proc.pid}, since ")
    assert str(raised.value) == (
        f"The lab is still locked by {since} after 0.5 s. If it is stuck, end it (`kill {proc.pid}`), "
        "then try again."
    )
    assert f"labkit: waiting for {since}..." in capsys.readouterr().err


def test_a_stopped_holder_is_a_clear_error_not_a_hang(holder):
    """`labkit up` suspended with Ctrl-Z holds the lock and makes no progress."""
    proc = holder()
    os.kill(proc.pid, signal.SIGSTOP)
    wait_for(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED, "the holder to stop")
    with pytest.raises(LockBusy) as raised, state.lock(stalled=0.3):  # the deadline is 40 minutes
        raise AssertionError("the lock was taken while another process held it")
    message = str(raised.value)
    assert message.startswith(f"The lab is locked by holder.py (pid {proc.pid}, since ")
    assert "which is stopped (Ctrl-Z, or a debugger)" in message
    assert f"`kill -CONT {proc.pid}`" in message and f"`kill {proc.pid}`" in message

    os.kill(proc.pid, signal.SIGCONT)  # resumed, it finishes and the lock is free again
    release(proc)
    with state.lock(stalled=0.3):
        assert state.lock_holder()["pid"] == os.getpid()


def test_a_running_holder_is_waited_for_past_the_stalled_limit(holder, capsys):
    """`up` holds the lock while it starts Kafka and Flink: a waiter must not give up on a
    holder that is running, however long past `stalled`."""
    proc = holder()
    outcome: list = []

    def wait() -> None:
        try:
            with state.lock(stalled=0.1, notice=0.5):
                outcome.append(state.lock_holder()["pid"])
        except Exception as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        said: list[str] = []

        def noticed() -> bool:
            said.append(capsys.readouterr().err)
            return "labkit: waiting for holder.py" in "".join(said)

        wait_for(noticed, "the notice, which comes after 0.5 s of waiting: five times `stalled`")
        assert outcome == [] and waiter.is_alive()
    finally:
        release(proc)
        waiter.join(30)
    assert outcome == [os.getpid()]


# --- the registry of labs -----------------------------------------------------------------


def test_the_registry_is_the_users_own_and_private(tmp_path, monkeypatch, home):
    monkeypatch.delenv("LABKIT_REGISTRY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    folder = state.registry()
    assert folder == tmp_path / "user" / ".cache" / "labkit" / "homes"  # not a guessable /tmp name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert state.registry() == tmp_path / "xdg" / "labkit" / "homes"

    state.register_home()
    [(entry, registered)] = state.registered_homes()
    assert registered == home.resolve() and entry.parent == tmp_path / "xdg" / "labkit" / "homes"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def plant(folder: Path, how: str) -> Path:
    """A registry someone else could have made: another owner, open to all, or a symlink."""
    if how == "symlink":
        real = folder.parent / "real-registry"
        real.mkdir(mode=0o700)
        folder.symlink_to(real)
        return real
    folder.mkdir(mode=0o700)
    if how == "other-owner":
        os.chown(folder, OTHER_UID, OTHER_UID)
    else:  # world-writable
        folder.chmod(0o777)
    return folder


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        pytest.param("other-owner", f"belongs to uid {OTHER_UID}, not to you", marks=as_root),
        ("world-writable", "can be written by other users (mode drwxrwxrwx)"),
        ("symlink", "is a symbolic link"),
    ],
)
def test_a_registry_that_is_not_the_users_own_is_refused(tmp_path, monkeypatch, home, capsys, how, reason):
    folder = tmp_path / "registry"
    inside = plant(folder, how)
    monkeypatch.setenv("LABKIT_REGISTRY", str(folder))
    with pytest.raises(Untrusted) as raised:
        state.registered_homes()
    assert str(raised.value).startswith(f"The registry of labs {folder} {reason}")
    state.register_home()  # the lab still starts: a warning, and nothing written there
    assert "this lab is not registered for `labkit down --all`" in capsys.readouterr().err
    assert list(inside.iterdir()) == []


# --- `labkit down --all` with planted files: nothing it should not stop is stopped ---------


def sleeper(**kwargs) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, **kwargs)


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(30)
    return done.pid


def left_over_lab(folder: Path, victim: subprocess.Popen) -> Path:
    """A lab folder as a killed test run leaves it: its owner is gone, its process runs."""
    folder.mkdir(parents=True)
    endpoints = {"backend": "local", "bootstrap_servers": "x", "flink_bootstrap_servers": "x"}
    raw = {"endpoints": endpoints, "processes": {"kafka-1": record(victim)}, "owner_pid": dead_pid()}
    (folder / "state.json").write_text(json.dumps(raw))
    (folder / "state.json").chmod(0o600)
    return folder


def entry_for(registry: Path, lab: Path, name: str = "planted") -> Path:
    entry = registry / name
    entry.write_text(str(lab))
    entry.chmod(0o600)
    return entry


@pytest.fixture
def victims():
    started: list[subprocess.Popen] = []

    def start(**kwargs) -> subprocess.Popen:
        started.append(sleeper(**kwargs))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait(30)


def sweep(tmp_path: Path, registry: Path) -> subprocess.CompletedProcess:
    out = PrivateLab(tmp_path / "sweeper", LABKIT_REGISTRY=str(registry)).run("down", "--all", timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_down_all_stops_a_left_over_lab_listed_in_the_users_own_registry(tmp_path, victims):
    """The control for the tests below: the same lab, registered properly, is stopped."""
    registry = tmp_path / "registry"
    registry.mkdir(mode=0o700)
    victim = victims()
    lab = left_over_lab(tmp_path / "lab", victim)
    entry = entry_for(registry, lab)
    out = sweep(tmp_path, registry)
    assert f"left-over lab in {lab}" in out.stdout
    wait_for(lambda: gone(victim.pid), "the left-over lab's process to be stopped")
    assert not entry.exists() and not (lab / "state.json").exists()


@pytest.mark.parametrize("how", [pytest.param("other-owner", marks=as_root), "world-writable", "symlink"])
def test_down_all_stops_nothing_listed_in_a_planted_registry(tmp_path, victims, how):
    folder = tmp_path / "registry"
    inside = plant(folder, how)
    victim = victims()
    entry_for(inside, left_over_lab(tmp_path / "lab", victim))
    out = sweep(tmp_path, folder)
    assert f"labkit: not stopping other labs: The registry of labs {folder}" in out.stderr
    assert "left-over lab" not in out.stdout
    assert victim.poll() is None


@as_root
def test_down_all_ignores_an_entry_or_a_state_file_of_another_user(tmp_path, victims):
    registry = tmp_path / "registry"
    registry.mkdir(mode=0o700)
    # an entry someone else owns (root could have been made to write it: it is still not ours)
    victim1 = victims()
    planted = entry_for(registry, left_over_lab(tmp_path / "lab1", victim1), "planted-entry")
    os.chown(planted, OTHER_UID, OTHER_UID)
    # our own entry, for a lab whose state file someone else owns
    victim2 = victims()
    lab2 = left_over_lab(tmp_path / "lab2", victim2)
    entry_for(registry, lab2, "own-entry")
    os.chown(lab2 / "state.json", OTHER_UID, OTHER_UID)
    # an entry that is a symbolic link to our own file
    victim3 = victims()
    real = entry_for(tmp_path, left_over_lab(tmp_path / "lab3", victim3), "real-entry")
    (registry / "linked-entry").symlink_to(real)

    out = sweep(tmp_path, registry)
    assert f"ignoring an entry of the registry of labs: {planted} belongs to uid {OTHER_UID}" in out.stderr
    assert f"not stopping the lab in {lab2}: {lab2 / 'state.json'} belongs to uid {OTHER_UID}" in out.stderr
    assert f"{registry / 'linked-entry'} is a symbolic link" in out.stderr
    assert "left-over lab" not in out.stdout
    assert [v.poll() for v in (victim1, victim2, victim3)] == [None, None, None]


@as_root
def test_down_all_run_as_root_stops_no_process_of_another_user(tmp_path, victims):
    """Even from its own lab's state file, `down --all` stops only processes it runs."""
    registry = tmp_path / "registry"
    registry.mkdir(mode=0o700)
    theirs = victims(user=OTHER_UID, group=OTHER_UID)
    lab = left_over_lab(tmp_path / "lab", theirs)
    entry_for(registry, lab)
    out = sweep(tmp_path, registry)
    assert f"left-over lab in {lab}" in out.stdout  # forgotten, but
    assert theirs.poll() is None and psutil.Process(theirs.pid).uids().real == OTHER_UID
