"""The jobs of a kernel that died are cancelled (labkit.flink.owners: `owned`, `owner`,
`cancel_orphans`), and no other job is.

A kernel killed with ``kill -9`` cancels nothing, and its streaming jobs would hold the
TaskManager's slots for good. Every job submitted from the lab's environments carries its
kernel (pid and start time) in its name; ``labkit.connect()`` cancels the running jobs whose
kernel is gone. The name parsing is tested without a cluster, against a stand-in JobManager,
then for real: a kernel process SIGKILLed mid-job, and jobs that must be left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
from fake_jobmanager import FakeJobManager
from privatelab import wait_for

import labkit
from labkit.flink import Job
from labkit.flink.owners import (
    TABLE_API_JOB,
    cancel_orphans,
    is_gone,
    job_label,
    marker,
    orphans,
    orphans_line,
    owned,
    owner,
    sinks,
)
from labkit.kernels import kernel_env

ME = os.getpid()
MY_START = psutil.Process(ME).create_time()


def ended_process() -> tuple[int, float]:
    """(pid, start time) of a process that has run and been reaped: a kernel that is gone."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = psutil.Process(proc.pid).create_time()
    proc.communicate(timeout=30)
    return proc.pid, started


# --- names, without a cluster ---------------------------------------------------------------


def test_a_job_name_ends_with_its_kernel_and_reads_back():
    name = owned("l05-cart")
    assert name.startswith("l05-cart [kernel ") and name.endswith(" UTC]")  # readable part first
    pid, started = owner(name)
    assert pid == ME and 0 <= MY_START - started < 1  # whole seconds
    assert owned(name) == name  # no second marker
    assert owned("l05-cart" + marker(1, 0.0)) == name  # another kernel's marker replaced
    assert marker(12345, 1738314902.5) == " [kernel 12345 started 2025-01-31 09:15:02 UTC]"
    assert owner("x" + marker(12345, 1738314902.5)) == (12345, 1738314902.0)


@pytest.mark.parametrize(
    "name",
    [
        "insert-into_default_catalog.default_database.carts",  # Flink's own default
        "my job",
        "[kernel 12345 started 2025-01-31 09:15:02 UTC] first",  # not at the end
        "x [kernel 12345 started 2025-01-31 09:15 UTC]",
        "x [kernel abc started 2025-01-31 09:15:02 UTC]",
        "x [kernel 12345]",
        "x [kernel 12345 started 2025-13-31 09:15:02 UTC]",  # no such date
        "",
    ],
)
def test_a_name_without_the_marker_has_no_owner(name):
    assert owner(name) is None


def test_a_kernel_is_gone_once_ended_reaped_or_not_and_when_its_pid_is_recycled():
    assert not is_gone(ME, MY_START)
    assert not is_gone(ME, int(MY_START))  # the name keeps whole seconds
    assert is_gone(*ended_process())
    assert is_gone(ME, MY_START - 3600)  # this pid, but a process started at another time
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        started = psutil.Process(zombie.pid).create_time()
        wait_for(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE, "a zombie", 30)
        assert is_gone(zombie.pid, started)  # killed, not yet reaped by its parent: gone
    finally:
        zombie.wait(30)


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("INSERT INTO carts SELECT * FROM clicks WHERE page = '/cart'", ["carts"]),
        ("\n  insert into `late clicks` select 1", ["late clicks"]),
        ("-- the copy\nINSERT OVERWRITE TABLE cat . db . t SELECT 1", ["cat.db.t"]),
        ("EXECUTE INSERT INTO a SELECT 1", ["a"]),
        ("EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END", ["a", "b"]),
        ("SELECT 'insert into x' AS s FROM t", []),
        ("CREATE TABLE t (a INT) WITH ('connector' = 'blackhole')", []),
    ],
)
def test_a_statement_names_its_job_after_the_tables_it_writes(sql, tables):
    assert sinks(sql) == tables
    assert job_label(tables) == ("insert-into_" + ",".join(tables) if tables else "collect")
    assert job_label([], TABLE_API_JOB) == TABLE_API_JOB


def test_orphans_are_the_active_jobs_of_kernels_that_are_gone():
    dead = marker(*ended_process())
    jobs = [
        {"jid": "a", "name": "copy" + dead, "state": "RUNNING"},
        {"jid": "b", "name": "copy" + dead, "state": "RESTARTING"},
        {"jid": "c", "name": "copy" + dead, "state": "FINISHED"},
        {"jid": "d", "name": "copy" + dead, "state": "CANCELED"},
        {"jid": "e", "name": owned("mine"), "state": "RUNNING"},  # a live kernel
        {"jid": "f", "name": "by hand", "state": "RUNNING"},  # no marker
    ]
    assert [j["jid"] for j in orphans(jobs)] == ["a", "b"]


def test_cancel_orphans_cancels_only_them_and_names_them(jobmanager):
    dead = "copy" + marker(*ended_process())
    FakeJobManager.jobs = [
        {"jid": "a", "name": dead, "state": "RUNNING"},
        {"jid": "b", "name": owned("mine"), "state": "RUNNING"},
        {"jid": "c", "name": "by hand", "state": "RUNNING"},
    ]
    assert cancel_orphans(jobmanager, timeout=10) == [dead]
    assert FakeJobManager.cancelled == ["a"]
    assert cancel_orphans(jobmanager, timeout=10) == []  # nothing left to cancel
    assert orphans_line([dead]) == f"(cancelled 1 Flink job whose kernel is gone: {dead})"


def test_cancel_orphans_never_fails():
    from labkit.runtime.net import free_port

    assert cancel_orphans(None) == []
    assert cancel_orphans(f"127.0.0.1:{free_port()}") == []  # no JobManager answers there


# --- on the suite's cluster -------------------------------------------------------------------

STREAMING = """
CREATE TABLE numbers (n INT) WITH ('connector' = 'datagen', 'rows-per-second' = '1');
CREATE TABLE nowhere (n INT) WITH ('connector' = 'blackhole')
"""
INSERT = "INSERT INTO nowhere SELECT n FROM numbers"

KERNEL = f"""
import json, os, sys
import labkit
lab = labkit.connect(quiet=True)
t_env = lab.table_env()
for ddl in {STREAMING!r}.split(";"):
    t_env.execute_sql(ddl)
job = lab.start(t_env.execute_sql({INSERT!r}), "forever")
print(json.dumps({{"job": job.job_id}}), flush=True)
sys.stdin.read()  # a kernel: alive until killed
"""


def streaming_env(lab: labkit.Lab, plain: bool = False):
    """A streaming TableEnvironment with an unbounded source and a sink that discards:
    the lab's (jobs named with this kernel) or, ``plain``, PyFlink's own, as a learner
    would make one by hand (jobs named as the program says)."""
    if plain:
        from pyflink.common import Configuration
        from pyflink.table import EnvironmentSettings, TableEnvironment

        config = Configuration()
        for key, value in lab.flink_config().items():
            config.set_string(key, value)
        settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(config)
        t_env = TableEnvironment.create(settings.build())
    else:
        t_env = lab.table_env()
    for ddl in STREAMING.split(";"):
        t_env.execute_sql(ddl)
    return t_env


def state(lab: labkit.Lab, jid: str) -> str:
    """The job's state now: from ``jobs/overview`` (``jobs/<id>`` is served from a cache the
    Web UI refreshes every few seconds)."""
    return {j["jid"]: j["state"] for j in lab.flink_api("jobs/overview", timeout=10)["jobs"]}[jid]


def running(lab: labkit.Lab, jid: str) -> bool:
    """Scheduled, and every task deployed on the TaskManager (so it holds its slot)."""
    info = lab.flink_api(f"jobs/{jid}", timeout=5)
    return info["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in info["vertices"])


def said_cancelled(printed: str, name: str) -> bool:
    """Whether ``labkit.connect()`` printed its one line about jobs of dead kernels, naming ``name``
    (it names every job it cancelled: a leftover of another test's kernel may be among them)."""
    lines = [ln for ln in printed.splitlines() if ln.startswith("(cancelled") and "kernel is gone" in ln]
    return len(lines) == 1 and name in lines[0]


def slots_free(lab: labkit.Lab) -> int:
    return lab.flink_api("overview", timeout=5)["slots-available"]


def clean_env() -> dict[str, str]:
    """This process's environment (the suite's lab) without its PyFlink client's settings:
    the kernel starts a client JVM of its own, with its own log folder."""
    return kernel_env()


@contextlib.contextmanager
def kernel() -> Iterator[tuple[subprocess.Popen, str]]:
    """A Python process standing in for a notebook kernel: it connects to the suite's lab,
    starts an unbounded job with ``lab.start`` and waits. Yields it and its job's id; every
    process of it (and its PyFlink client JVM) is gone afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KERNEL],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    family: set[psutil.Process] = {psutil.Process(proc.pid)}
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 300)
        line = proc.stdout.readline() if ready else ""
        with contextlib.suppress(psutil.Error):
            family |= set(psutil.Process(proc.pid).children(recursive=True))
        if not line:
            proc.kill()
            raise AssertionError(f"the kernel could not start its job:\n{proc.stderr.read()[-3000:]}")
        yield proc, json.loads(line)["job"]
    finally:
        with contextlib.suppress(psutil.Error):
            family |= set(psutil.Process(proc.pid).children(recursive=True))
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(list(family), timeout=30)
        proc.wait(30)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


def test_job_names_on_the_cluster_say_which_kernel_started_them(lab):
    """What the Web UI lists: the statement's sink, or the program's own name, then the kernel."""
    from pyflink.common import WatermarkStrategy
    from pyflink.datastream.connectors.number_seq import NumberSequenceSource

    t_env = lab.table_env()
    t_env.execute_sql("CREATE TABLE few (n INT) WITH ('connector' = 'datagen', 'number-of-rows' = '3')")
    for sink in ("a", "b"):
        t_env.execute_sql(f"CREATE TABLE {sink} (n INT) WITH ('connector' = 'blackhole')")
    statements = t_env.create_statement_set()
    statements.add_insert_sql("INSERT INTO a SELECT n FROM few")
    statements.add_insert_sql("INSERT INTO b SELECT n FROM few")
    submitted = [
        (t_env.execute_sql("INSERT INTO a SELECT n FROM few"), "insert-into_a"),
        (statements.execute(), "insert-into_a,b"),
    ]
    t_env.get_config().set("pipeline.name", "my copy")  # a name of the program's own
    submitted.append((t_env.execute_sql("INSERT INTO b SELECT n FROM few"), "my copy"))
    env = lab.stream_env()
    env.from_source(NumberSequenceSource(1, 3), WatermarkStrategy.no_watermarks(), "numbers").print()
    submitted.append((env.execute_async("l09 count"), "l09 count"))
    for result, label in submitted:
        job = Job.of(result)
        job.wait(120)  # bounded: each reads 3 rows and ends
        assert lab.flink_api(f"jobs/{job.job_id}", timeout=5)["name"] == owned(label)


def test_the_jobs_of_a_killed_kernel_are_cancelled_and_free_their_slots(lab, capsys):
    before = slots_free(lab)
    with kernel() as (proc, jid):
        wait_for(lambda: running(lab, jid), "the kernel's job to run", timeout=120)
        name = lab.flink_api(f"jobs/{jid}", timeout=5)["name"]
        assert owner(name)[0] == proc.pid  # the job says which kernel started it
        proc.kill()  # kill -9: the kernel cancels nothing
        proc.wait(30)
        assert state(lab, jid) == "RUNNING"  # and nothing else does, yet
        capsys.readouterr()
        labkit.connect()
        printed = capsys.readouterr().out
    assert state(lab, jid) == "CANCELED"  # connect waits until the job has ended
    assert said_cancelled(printed, name)
    wait_for(lambda: slots_free(lab) >= before, f"{before} slots free again", timeout=60)


def test_jobs_of_live_kernels_and_jobs_without_the_marker_keep_running(lab, capsys):
    """connect cancels the job of a gone kernel only: not this (live) kernel's, not one
    submitted by hand with a name of its own."""
    mine = Job.of(streaming_env(lab).execute_sql(INSERT))  # not lab.start: connect stops those
    by_hand_env = streaming_env(lab, plain=True)
    by_hand_env.get_config().set("pipeline.name", "by hand")
    by_hand = Job.of(by_hand_env.execute_sql(INSERT))
    orphan_name = "copy" + marker(*ended_process())  # as a dead kernel would have named it
    by_hand_env.get_config().set("pipeline.name", orphan_name)
    orphan = Job.of(by_hand_env.execute_sql(INSERT))
    jobs = (mine, by_hand, orphan)
    try:
        for job in jobs:
            wait_for(lambda job=job: running(lab, job.job_id), f"job {job.job_id} to run", timeout=120)
        assert owner(lab.flink_api(f"jobs/{mine.job_id}", timeout=5)["name"])[0] == ME
        capsys.readouterr()
        labkit.connect()
        printed = capsys.readouterr().out
        assert said_cancelled(printed, orphan_name)
        assert [state(lab, j.job_id) for j in jobs] == ["RUNNING", "RUNNING", "CANCELED"]
    finally:
        for job in jobs:
            job.stop()
