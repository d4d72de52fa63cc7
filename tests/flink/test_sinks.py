"""Flink writing out of Kafka, on the real cluster: Parquet files (the filesystem sink) read
back with DuckDB, and the JDBC connector with PostgreSQL's driver on every Flink JVM.

The jars come from labkit/runtime/artifacts.py (bundles ``flink-parquet``, ``flink-jdbc``);
these tests prove they reached the cluster's ``lib/``, the SQL Gateway's and the kernel's
PyFlink client.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import labkit
from labkit import events
from labkit.sql.magic import FlinkSql
from labkit.waiting import wait_for

COLUMNS = ["event_id", "user_id", "page", "ts", "device"]
PASSWORD = "not-a-real-secret-7f3"


def parquet_table(name: str, path: Path) -> str:
    return f"""CREATE TABLE {name} (
  event_id STRING, user_id STRING, page STRING, ts BIGINT, device STRING
) PARTITIONED BY (device) WITH (
  'connector' = 'filesystem', 'path' = '{path.as_uri()}', 'format' = 'parquet')"""


def jdbc_table(name: str, port: int) -> str:
    return f"""CREATE TABLE {name} (id INT, word STRING) WITH (
  'connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:{port}/lab', 'table-name' = 'words',
  'username' = 'lab', 'password' = '{PASSWORD}', 'connection.max-retry-timeout' = '1 s')"""


def files(path: Path) -> tuple[list[Path], list[Path]]:
    """(committed part files, in-progress files) under ``path``'s partition folders."""
    found = [p for p in path.glob("*/*") if p.is_file()]
    return [p for p in found if p.name.startswith("part-")], [p for p in found if p.name.startswith(".")]


def read_lake(path: Path) -> pd.DataFrame:
    """What a reader of the lake sees: every committed Parquet file, its partition from the
    folder name (device=mobile)."""
    glob = f"{path}/*/part-*"
    return duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)").df()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_kafka_to_partitioned_parquet_files_committed_by_a_checkpoint(lab: labkit.Lab, topic, tmp_path):
    src, lake = topic("clicks", partitions=2), tmp_path / "clicks"
    sent = list(events.clicks(200, seed=23))
    lab.produce(src, sent, key="user_id")
    t_env = lab.table_env()
    # checkpointing on, the files committed by checkpoints the test takes (Flink takes the
    # first periodic one at a random moment within the interval: 10 min is ~1% in 5 s)
    t_env.get_config().set("execution.checkpointing.interval", "365 d")
    lab.kafka_table(
        t_env, "clicks", "event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT", topic=src
    )
    t_env.execute_sql(parquet_table("lake", lake))
    job = lab.start(
        t_env.execute_sql("INSERT INTO lake SELECT event_id, user_id, page, ts, device FROM clicks"),
        "parquet-sink",
    )
    try:
        # a file is written hidden ('.part-...inprogress...') and made visible ('part-...')
        # only by a completed checkpoint; a reader globs the committed names alone (DuckDB's
        # '*' matches hidden files too)
        wait_for(lambda: any(files(lake)), "the sink's first file", timeout=60)
        committed, in_progress = files(lake)
        assert all(".inprogress" in p.name for p in in_progress)
        if committed:  # a checkpoint came first: Flink may take one when the job's tasks start
            assert lab.checkpoints(job)["counts"]["completed"] >= 1
        parts = [Path(f).name for (f,) in duckdb.sql(f"SELECT file FROM glob('{lake}/*/part-*')").fetchall()]
        assert {p.name for p in committed} <= set(parts) and not any(".inprogress" in n for n in parts)

        def all_committed() -> pd.DataFrame | None:
            lab.trigger_checkpoint(job)  # the sink commits what it wrote before the barrier
            df = read_lake(lake) if files(lake)[0] else pd.DataFrame()
            return df if len(df) >= len(sent) else None

        got = wait_for(all_committed, "the 200 events in committed Parquet files", timeout=60, every=0.1)
        assert job.status == "RUNNING"
    finally:
        job.stop()
    want = pd.DataFrame(sent)[COLUMNS].sort_values("event_id").reset_index(drop=True)
    got = got[COLUMNS].sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)  # exactly the 200, row by row
    assert sorted(p.name for p in lake.iterdir()) == sorted(f"device={d}" for d in want["device"].unique())


def test_the_jdbc_connector_and_postgres_driver_are_on_the_cluster_and_gateway(
    lab: labkit.Lab, refused_port: int, tmp_path, capsys
):
    """Not "Could not find any factory for identifier 'jdbc'": the SQL Gateway plans the
    INSERT, the cluster runs it and PostgreSQL's driver fails to connect (nothing listens)."""
    sql = FlinkSql(lab.endpoints)
    try:
        sql.run_cell("SET 'restart-strategy.type' = 'none'")
        sql.run_cell(jdbc_table("words", refused_port))
        job = sql.run_cell("INSERT INTO words VALUES (1, 'to'), (2, 'be')")
        assert job.wait(60) == "FAILED"
        trace = lab.flink_api(f"jobs/{job.job_id}/exceptions")["exceptionHistory"]["entries"][0]["stacktrace"]
        assert f"PSQLException: Connection to 127.0.0.1:{refused_port} refused" in trace, trace
        sql.run_cell("SHOW CREATE TABLE words")  # Flink prints every option: the magic masks the secret
        shown = capsys.readouterr().out
        assert "'password' = '******'" in shown and PASSWORD not in shown, shown
        # the Parquet format is there too (planning asks for its factory)
        sql.run_cell(parquet_table("lake", tmp_path / "lake"))
        plan = sql.client.run("EXPLAIN INSERT INTO lake VALUES ('e', 'u', '/', 0, 'mobile')")
        assert "Sink(table=[default_catalog.default_database.lake]" in str(plan.rows[0][1][0])
    finally:
        sql.close()


def test_the_kernels_pyflink_client_plans_jdbc_and_parquet_tables(lab: labkit.Lab, tmp_path):
    """The kernel's PyFlink (lab.table_env()) finds both factories, and a DataStream job's
    JDBC sink and PostgreSQL's driver are on the client JVM's own classpath (every thread's)."""
    from pyflink.java_gateway import get_gateway

    t_env = lab.table_env()
    t_env.execute_sql(jdbc_table("words", 1))
    t_env.execute_sql(parquet_table("lake", tmp_path / "lake"))
    plan = t_env.explain_sql("INSERT INTO words SELECT CAST(ts AS INT), page FROM lake")
    assert "Sink(table=[default_catalog.default_database.words]" in plan
    jvm = get_gateway().jvm
    system = jvm.ClassLoader.getSystemClassLoader()
    for name in ("org.apache.flink.connector.jdbc.core.datastream.sink.JdbcSink", "org.postgresql.Driver"):
        assert jvm.Class.forName(name, False, system).getName() == name


def test_the_running_clusters_lib_is_current_and_an_old_one_is_told_apart(
    lab: labkit.Lab, tmp_path, monkeypatch
):
    """`labkit up` restarts a running Flink whose lib/ lacks a jar this labkit puts there
    (flink_proc.lib_outdated): the suite's lab has every one; an older lib/ is found out."""
    from labkit.runtime import artifacts, flink_proc

    assert flink_proc.lib_outdated() == []
    names = {p.name for p in (flink_proc.flink_home() / "lib").iterdir()}
    assert {j.name for j in artifacts.flink_lib()} <= names
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    assert flink_proc.lib_outdated() == sorted(j.name for j in flink_proc.lib_jars())  # none laid out
    old = tmp_path / "flink" / "lib"
    old.mkdir(parents=True)
    for jar in flink_proc.lib_jars():
        if "parquet" not in jar.name:
            (old / jar.name).symlink_to(jar)
    assert flink_proc.lib_outdated() == [f"flink-sql-parquet-{artifacts.FLINK_PARQUET_VERSION}.jar"]
