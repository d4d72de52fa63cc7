"""A private lab for tests that start, stop or break a cluster.

Each one has its own ``LABKIT_HOME`` (state, Kafka's data, Flink's folder, logs), shares
the suite's verified jar cache, and is owned by the test process (``LABKIT_OWNER_PID``),
so the suite's shared lab - and any other lab on the machine - is never touched. The CLI
runs as a subprocess with that environment (bounded by a timeout); `lab()` gives an
in-process handle on it without changing ``os.environ``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

import labkit
from labkit import paths, waiting
from labkit.errors import LabError
from labkit.runtime.net import free_port
from labkit.runtime.state import Endpoints

LABKIT = [sys.executable, "-m", "labkit.cli"]
#: Variables of the suite's own lab or of its PyFlink client that a private lab must not inherit.
DROPPED = ("LABKIT_BACKEND", "LABKIT_KAFKA_PORT", "LABKIT_FLINK_PORT", "LABKIT_BROKERS", "JVM_ARGS")


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll ``cond`` until it returns something truthy (returned); fail the test after
    ``timeout`` s. The lab's own polling loop (`labkit.waiting.wait_for`), as a test failure."""
    try:
        return waiting.wait_for(lambda: cond() or None, what, timeout, every)
    except LabError as exc:
        raise AssertionError(str(exc)) from None


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its (new) parent has not reaped yet - `labkit
    down` does not wait for a parent that is not itself to reap what it stopped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill(pid: int) -> None:
    """SIGKILL a process, as a crash would end it, and wait until it is `gone`."""
    psutil.Process(pid).kill()
    wait_for(lambda: gone(pid), f"{pid} to die")


class PrivateLab:
    def __init__(self, home: Path, **extra_env: str) -> None:
        self.home = home.resolve()
        inherited = os.environ.items()
        env = {k: v for k, v in inherited if k not in DROPPED and not k.startswith(("FLINK_", "PYFLINK_"))}
        env.update(
            LABKIT_HOME=str(self.home), LABKIT_CACHE=str(paths.cache()), LABKIT_OWNER_PID=str(os.getpid())
        )
        env.update(extra_env)
        self.env = env

    # --- the CLI -------------------------------------------------------------------

    def run(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*LABKIT, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def up(self, *args: str) -> subprocess.CompletedProcess:
        out = self.run("up", *args)
        assert out.returncode == 0, f"labkit up failed:\n{out.stdout}\n{out.stderr}"
        return out

    def status(self) -> dict:
        out = self.run("status", "--json", timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def python(self, code: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start_jupyterlab(self, log: Path) -> tuple[subprocess.Popen, int, str]:
        """`labkit lab --no-browser` on a free port with a known token, in its own process group
        (like a terminal's foreground job, so a test can send it Ctrl-C); returns (proc, port, token)."""
        port, token = free_port(), uuid.uuid4().hex
        with log.open("w") as out:  # the child keeps its own copy of the file descriptor
            args = ["lab", "--no-browser", "--port", str(port), "--", f"--IdentityProvider.token={token}"]
            proc = subprocess.Popen(
                [*LABKIT, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return proc, port, token

    # --- what runs -------------------------------------------------------------------

    def state(self) -> dict:
        return json.loads((self.home / "state.json").read_text())

    def endpoints(self) -> Endpoints:
        return Endpoints(**self.state()["endpoints"])

    def lab(self) -> labkit.Lab:
        """A handle on this lab for the test process (its own client JVM submits the jobs).
        Flink's REST API asks for this lab's certificate: a test that talks to it sets
        LABKIT_FLINK_TLS to ``home / "tls"`` (monkeypatch), as a remote backend would."""
        return labkit.Lab(self.endpoints())

    def pid(self, name: str) -> int:
        return self.state()["processes"][name]["pid"]

    def processes(self, ignore: set[int] = frozenset()) -> list[psutil.Process]:
        """Every live process of this lab, found without its state file: whatever runs with
        this LABKIT_HOME in its command line or environment (Kafka, Flink, Python workers,
        JupyterLab and its kernels) - except this test process and ``ignore``."""
        home = str(self.home)
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            if proc.pid == os.getpid() or proc.pid in ignore or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                mine = any(home in arg for arg in proc.info["cmdline"] or [])
                mine = mine or proc.environ().get("LABKIT_HOME") == home
            except psutil.Error:
                continue
            if mine:
                found.append(proc)
        return found

    def leftovers(self, timeout: float = 30, ignore: set[int] = frozenset()) -> list[str]:
        """The lab's processes still alive after waiting up to ``timeout`` s for them to exit."""
        deadline = time.monotonic() + timeout
        while (left := self.processes(ignore)) and time.monotonic() < deadline:
            time.sleep(0.2)
        named = []
        for proc in left:
            try:
                named.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
            except psutil.Error:
                continue
        return named

    def down(self, *args: str, ignore: set[int] = frozenset()) -> subprocess.CompletedProcess:
        """`labkit down`, then check that nothing of this lab is left running (but ``ignore``)."""
        out = self.run("down", *args, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert self.leftovers(ignore=ignore) == [], "`labkit down` left processes running"
        return out

    def stop(self) -> None:
        """Teardown: `labkit down`; kill whatever of the lab is still alive, then fail if
        there was something."""
        try:
            self.run("down", timeout=120)
        finally:
            left = self.leftovers()
            for proc in self.processes():
                proc.kill()
            assert left == [], f"`labkit down` left processes running: {left}"


def describe(st: dict) -> str:
    """`labkit status` as text, from `status --json` (the same function the CLI uses)."""
    from labkit.runtime.status import describe as lines

    return "\n".join(lines(st))


# --- listening sockets ---------------------------------------------------------------


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x written as an IPv4-mapped IPv6 address (Java's way)."""
    import ipaddress

    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def listeners(procs: list[psutil.Process]) -> list[tuple[int, str, str, int]]:
    """(pid, process name, address, port) of every listening TCP socket of ``procs`` and
    their children."""
    family = {p.pid: p for p in procs}
    for proc in procs:
        try:
            family.update({c.pid: c for c in proc.children(recursive=True)})
        except psutil.Error:
            continue
    found = []
    for pid, proc in family.items():
        try:
            conns, name = proc.net_connections(kind="inet"), proc.name()
        except psutil.Error:
            continue
        found += [(pid, name, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return found


# --- a notebook kernel running a job with Python functions ------------------------------

TESTS = Path(__file__).resolve().parent

UDF_JOB = """
import json, sys, uuid
sys.path.insert(0, {tests!r})
import labkit
from privatelab import {starter}
lab = labkit.connect(quiet=True)
job, dst = {starter}(lab, uuid.uuid4().hex[:6])
print(json.dumps({{"job": job.job_id, "dst": dst}}), flush=True)
sys.stdin.read()  # run until the test closes stdin or kills this process
"""


class Kernel:
    """A Python process standing in for a notebook kernel of ``lab``: it connects, starts an
    unbounded job with a Python UDF and keeps running. (A separate process, like a notebook:
    the test process's environment and PyFlink client stay out of it.) ``starter`` names the
    function here that starts the job: `start_python_udf_job` (the UDF runs inside the
    TaskManager, thread mode) or `start_pandas_udf_job` (in a Python worker process)."""

    def __init__(self, lab: PrivateLab, starter: str = "start_python_udf_job") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", UDF_JOB.format(tests=str(TESTS), starter=starter)],
            env=lab.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 300)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"the kernel could not start its job:\n{self.proc.stderr.read()[-3000:]}")
        self.started = json.loads(line)

    def pids(self) -> set[int]:
        """This process and its children (PyFlink's client JVM)."""
        try:
            me = psutil.Process(self.proc.pid)
            return {self.proc.pid, *(c.pid for c in me.children(recursive=True))}
        except psutil.Error:
            return set()

    def close(self) -> None:
        family = [psutil.Process(pid) for pid in self.pids() if psutil.pid_exists(pid)]
        for proc in family:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(family, timeout=30)
        self.proc.wait(30)


def start_python_udf_job(lab: labkit.Lab, tag: str, func_type: str = "general") -> tuple[Any, str]:
    """An unbounded Kafka -> Python UDF -> Kafka job, running once its first result is out
    (so its Python function runs). Returns the job (not registered with the lab: the
    caller stops it) and the output topic. The lab's TaskManager runs the UDF in its own
    process (thread mode); a pandas UDF (``func_type="pandas"``) in a Python worker."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    from labkit.flink import Job

    src, dst = lab.create_topic(f"udf-in-{tag}"), lab.create_topic(f"udf-out-{tag}")
    t_env = lab.table_env()
    plus_one = udf(lambda n: n + 1, result_type=DataTypes.BIGINT(), func_type=func_type)
    t_env.create_temporary_function("plus_one", plus_one)
    lab.kafka_table(t_env, "src", "n BIGINT", topic=src)
    lab.kafka_table(t_env, "dst", "n BIGINT", topic=dst)
    job = Job.of(t_env.execute_sql("INSERT INTO dst SELECT plus_one(n) FROM src"), f"udf-{tag}")
    lab.produce(src, [{"n": 41}])
    wait_for(lambda: 42 in set(lab.read(dst).get("n", [])), "the Python UDF's first result", timeout=180)
    return job, dst


def start_pandas_udf_job(lab: labkit.Lab, tag: str) -> tuple[Any, str]:
    """`start_python_udf_job` with a pandas UDF: thread mode cannot run one, so PyFlink runs
    it in a Python worker process the TaskManager starts (process mode)."""
    return start_python_udf_job(lab, tag, func_type="pandas")


# --- a SASL_SSL-only broker (labkit.runtime.secure_kafka) ---------------------------------


@contextlib.contextmanager
def secured_home(prefix: str, start: Callable[[], Any], what: str = "the secured broker"):
    """``start()`` (a secured broker, the classroom cluster) on a private LABKIT_HOME of its
    own (a temporary folder named ``prefix...``) holding a minimal lab state, registered so
    that a killed run's brokers are stopped by `labkit down --all`: yields ``(home, what
    start returned)``. LABKIT_HOME is the caller's again while it runs; at the end `labkit
    down` stops everything, and the test fails if any of its processes is left."""
    import shutil
    import tempfile

    import pytest

    from labkit.runtime import lifecycle
    from labkit.runtime.state import State, owner_pid, register_home

    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
            register_home()
            started = time.monotonic()
            made = start()
            print(f"{what}: CA, users, format and start in {time.monotonic() - started:.2f} s")
        yield home, made
    finally:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            lifecycle.down(quiet=True)
            left = PrivateLab(home).leftovers(timeout=20)
        shutil.rmtree(home, ignore_errors=True)
        assert left == [], f"{what} left processes running: {left}"


def secured_broker(users: list[str], prefix: str):
    """A secured broker (``secure_kafka.start(users)``) in a `secured_home`: yields ``(home, handle)``."""
    from labkit.runtime import secure_kafka

    return secured_home(prefix, lambda: secure_kafka.start(users))
