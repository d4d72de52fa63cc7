"""Flink writing into the lab's PostgreSQL (lab.postgres()) through the JDBC connector: an
upsert sink keyed by a primary key, checked against pandas; the password stays out of every
log and the state file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import labkit
from labkit import events, paths
from labkit.reference import running_totals
from labkit.sql.magic import FlinkSql


def test_running_totals_upserted_into_postgres_one_row_per_account(lab: labkit.Lab, topic):
    pg = lab.postgres()
    assert lab.postgres().port == pg.port  # started once, then reused
    pg.execute("DROP TABLE IF EXISTS test_totals")
    pg.execute("CREATE TABLE test_totals (account_id TEXT PRIMARY KEY, payments BIGINT, total NUMERIC(12,2))")
    src = topic("payments")
    payments = list(events.payments(300, seed=31, accounts=6))
    lab.produce(src, payments, key="account_id")
    sql = FlinkSql(lab.endpoints)
    try:
        sql.run_cell(f"""CREATE TABLE payments (account_id STRING, amount DECIMAL(10, 2)) WITH (
  'connector' = 'kafka', 'topic' = '{src}', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset', 'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}')""")
        sql.run_cell(f"""CREATE TABLE totals (account_id STRING, payments BIGINT, total DECIMAL(12, 2),
  PRIMARY KEY (account_id) NOT ENFORCED) WITH ('connector' = 'jdbc', 'url' = '{pg.jdbc_url}',
  'table-name' = 'test_totals', 'username' = '{pg.user}', 'password' = '{pg.password}')""")
        job = sql.run_cell(
            "INSERT INTO totals SELECT account_id, COUNT(*), SUM(amount) FROM payments GROUP BY account_id"
        )
        assert job.wait(120) == "FINISHED"
    finally:
        sql.close()
    rows = pg.query("SELECT account_id, payments, total FROM test_totals ORDER BY account_id")
    truth = running_totals(payments)
    counts = pd.Series([p["account_id"] for p in payments]).value_counts().to_dict()
    assert rows["account_id"].tolist() == sorted(truth)  # one row per account: upserted, not appended
    assert {r.account_id: float(r.total) for r in rows.itertuples()} == truth
    assert {r.account_id: r.payments for r in rows.itertuples()} == counts
    secret = pg.password
    for log in [*paths.logs().glob("*"), paths.home() / "state.json"]:
        if Path(log).is_file():
            assert secret not in Path(log).read_text(errors="replace"), f"the password is in {log}"
