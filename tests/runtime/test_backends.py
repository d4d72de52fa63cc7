"""Choosing the backend (labkit/runtime/backends.py), and the remote backend for real: the
suite's own lab (Kafka + Flink JobManager) is used as "a cluster someone else runs", from a
private LABKIT_HOME.

Flink's view of Kafka is spelt differently (localhost instead of 127.0.0.1), so the tests
see which address reaches the Flink DDL. Nothing here starts or stops a cluster: the remote
backend never does, and the tests check that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

import labkit
from labkit import paths
from labkit.errors import LabError
from labkit.runtime import compose, flink_proc, tls
from labkit.runtime.artifacts import KAFKA_VERSION
from labkit.runtime.backends import requested_backend
from labkit.runtime.net import answers, free_port
from labkit.runtime.state import State

LABKIT = [sys.executable, "-m", "labkit.cli"]


@pytest.fixture
def remote_env(lab, tmp_path, monkeypatch):
    """This process pointed at the suite's lab as a remote cluster, with its own LABKIT_HOME.
    Returns (the suite's lab, Flink's address for Kafka)."""
    port = lab.bootstrap_servers.split(",")[0].rpartition(":")[2]
    flink_view = f"localhost:{port}"
    suite_tls = tls.folder()
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", lab.bootstrap_servers)
    monkeypatch.setenv("LABKIT_FLINK_BOOTSTRAP_SERVERS", flink_view)
    monkeypatch.setenv("LABKIT_FLINK_REST", lab.flink_rest)
    monkeypatch.setenv("LABKIT_FLINK_TLS", str(suite_tls))  # the suite lab's certificate
    monkeypatch.delenv("LABKIT_FLINK_PYTHON", raising=False)
    return lab, flink_view


@pytest.fixture
def suite_taskmanager(lab) -> int:
    """The pid of the suite lab's TaskManager, from its state file (asked for before
    `remote_env`, which points LABKIT_HOME elsewhere)."""
    return json.loads(paths.state_file().read_text())["processes"]["flink-taskmanager"]["pid"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LABKIT, *args], env=dict(os.environ), capture_output=True, text=True, timeout=timeout
    )


def test_remote_backend_kafka_round_trip(remote_env):
    suite_lab, flink_view = remote_env
    lab = labkit.connect(quiet=True)
    assert (lab.backend, lab.bootstrap_servers, lab.flink_bootstrap_servers, lab.flink_rest) == (
        "remote",
        suite_lab.bootstrap_servers,
        flink_view,
        suite_lab.flink_rest,
    )
    state = json.loads(paths.state_file().read_text())
    assert state["endpoints"]["backend"] == "remote" and state["processes"] == {}
    topic = f"test-remote-{uuid.uuid4().hex[:8]}"
    lab.create_topic(topic, partitions=2)
    try:
        sent = [{"user": f"u{i % 3}", "n": i} for i in range(30)]
        lab.produce(topic, sent, key="user")
        got = lab.read(topic)
        assert sorted(got["n"]) == list(range(30))
        assert sum(lab.end_offsets(topic).values()) == 30
    finally:
        lab.delete_topic(topic)


def test_remote_backend_flink_jobs_run_on_its_jobmanager(suite_taskmanager, remote_env):
    """A bounded SQL query and a streaming job with a Python UDF go to the remote JobManager
    over REST, run on its TaskManager - the UDF inside the TaskManager's own process (thread
    mode), not in this one - and read/write Kafka at Flink's address for it."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    suite_lab, flink_view = remote_env
    lab = labkit.connect(quiet=True)
    assert lab.flink_config()["execution.target"] == "remote"
    src, dst = (f"test-remote-{n}-{uuid.uuid4().hex[:8]}" for n in ("src", "dst"))
    lab.create_topic(src, partitions=2)
    lab.create_topic(dst)
    try:
        sent = [{"user": f"u{i % 4}", "amount": i} for i in range(40)]
        lab.produce(src, sent, key="user")
        df = lab.query(
            "SELECT `user`, SUM(amount) AS total FROM payments GROUP BY `user`",
            {"payments": "`user` STRING, amount INT"},
            topics={"payments": src},
        )
        want = {u: sum(e["amount"] for e in sent if e["user"] == u) for u in {e["user"] for e in sent}}
        assert dict(zip(df["user"], df["total"], strict=True)) == want

        t_env = lab.table_env()
        t_env.create_temporary_function(
            "shout", udf(lambda s: s.upper() + "!", result_type=DataTypes.STRING())
        )
        where = udf(lambda _: os.getpid(), result_type=DataTypes.BIGINT(), deterministic=False)
        t_env.create_temporary_function("where_am_i", where)
        lab.kafka_table(t_env, "src", "`user` STRING, amount INT", topic=src)
        ddl = lab.kafka_table(t_env, "dst", "`user` STRING, amount INT, pid BIGINT", topic=dst)
        assert f"'properties.bootstrap.servers' = '{flink_view}'" in ddl
        assert suite_lab.bootstrap_servers not in ddl
        job = lab.start(
            t_env.execute_sql(
                "INSERT INTO dst SELECT shout(`user`), amount, where_am_i(amount) FROM src WHERE amount >= 30"
            )
        )
        try:
            deadline = time.monotonic() + 120
            while len(lab.read(dst, timeout=5)) < 10:
                assert time.monotonic() < deadline, "the job wrote fewer than 10 rows in 120 s"
                time.sleep(0.5)
            out = lab.read(dst, timeout=5)
            on_cluster = {j["id"]: j["status"] for j in tls.call(lab.flink_rest, "jobs")["jobs"]}
            assert on_cluster.get(job.job_id) == "RUNNING"  # on the JobManager, not in this process
            # the job view and the explorer need nothing but the remote backend's addresses
            view = job.view(every=60)
            try:
                snap = view.refresh()
                assert snap is not None and snap.status == "RUNNING" and len(snap.operators) >= 1
            finally:
                view.stop()
            explorer = lab.explore(every=60)
            try:
                shown = explorer.refresh()
                assert shown is not None and sum(shown.end_offsets(src).values()) == len(sent)
            finally:
                explorer.stop()
        finally:
            lab.stop_jobs()
        assert sorted(out["amount"]) == list(range(30, 40))
        assert set(out["pid"]) == {suite_taskmanager}, f"the UDF ran in {set(out['pid'])}, not in the TM"
        assert set(out["user"]) == {f"{u.upper()}!" for u in {e["user"] for e in sent if e["amount"] >= 30}}
    finally:
        lab.delete_topic(src, dst)


def test_remote_status_and_down_leave_the_remote_cluster_alone(remote_env):
    suite_lab, _ = remote_env
    assert run("up").returncode == 0
    st = run("status")
    assert st.returncode == 0, st.stderr
    assert "backend:   remote" in st.stdout
    assert f"Apache Kafka {KAFKA_VERSION} at {suite_lab.bootstrap_servers}" in st.stdout
    assert f"Web UI {suite_lab.flink_rest}/;" in st.stdout  # no front door on a remote cluster
    # `labkit down` on a remote backend stops nothing: the cluster is not ours
    down = run("down")
    assert down.returncode == 0 and "nothing" in down.stdout, down.stdout + down.stderr
    assert answers(suite_lab.bootstrap_servers.split(",")[0])
    assert flink_proc.overview(suite_lab.flink_rest) is not None
    assert json.loads(run("status", "--json").stdout)["backend"] is None


def test_remote_backend_without_a_broker_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", address)
    monkeypatch.setenv("LABKIT_FLINK_REST", f"127.0.0.1:{free_port()}")
    with pytest.raises(labkit.BrokerUnavailable, match=f"No Kafka broker answers at {address}"):
        labkit.connect(quiet=True)
    assert not paths.state_file().exists()  # nothing recorded for a cluster that is not there


def test_requested_backend_by_argument_env_and_state(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    assert requested_backend() is None
    assert requested_backend("local") is None
    assert requested_backend("compose").backend == "compose"
    monkeypatch.setenv("LABKIT_BACKEND", "compose")
    assert requested_backend().backend == "compose"
    assert requested_backend("local") is None  # the flag wins over the env
    monkeypatch.setenv("LABKIT_BACKEND", "remote")
    monkeypatch.delenv("LABKIT_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LABKIT_FLINK_REST", "127.0.0.1:8081")
    with pytest.raises(LabError, match="LABKIT_BOOTSTRAP_SERVERS"):
        requested_backend()
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.delenv("LABKIT_FLINK_REST")
    with pytest.raises(LabError, match="LABKIT_FLINK_REST"):  # every job goes to a JobManager
        requested_backend()
    monkeypatch.setenv("LABKIT_BACKEND", "kubernetes")
    with pytest.raises(LabError, match="'local', 'compose' or 'remote'"):
        requested_backend()
    # no flag, no env: a kernel keeps using the cluster the state file records
    monkeypatch.delenv("LABKIT_BACKEND")
    State(compose.endpoints(with_replication=False)).save()
    assert requested_backend() == compose.endpoints(with_replication=False)
