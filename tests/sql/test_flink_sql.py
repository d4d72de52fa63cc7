"""The %%flink_sql machinery against the suite's real SQL Gateway, Flink cluster and Kafka."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from privatelab import wait_for

import labkit
from labkit.errors import FlinkSqlError
from labkit.runtime import tls
from labkit.runtime.net import free_port
from labkit.runtime.state import Endpoints
from labkit.sql.gateway import GatewayClient, GatewayDown
from labkit.sql.live import LiveQuery, SqlJob
from labkit.sql.magic import FlinkSql


@pytest.fixture
def sql(lab: labkit.Lab):
    """A kernel's SQL session of its own; everything it started is stopped afterwards."""
    session = FlinkSql(lab.endpoints)
    yield session
    session.close()


def kafka_table(lab: labkit.Lab, name: str, topic: str, columns: str, bounded: bool = False) -> str:
    ending = ", 'scan.bounded.mode' = 'latest-offset'" if bounded else ""
    return f"""CREATE TABLE {name} ({columns}) WITH (
  'connector' = 'kafka', 'topic' = '{topic}', 'format' = 'json',
  'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',
  'scan.startup.mode' = 'earliest-offset'{ending})"""


def job_state(lab: labkit.Lab, jid: str) -> str:
    return {j["jid"]: j["state"] for j in lab.flink_api("jobs/overview", timeout=10)["jobs"]}[jid]


def test_ddl_show_describe_and_a_bounded_query_as_a_dataframe(lab, sql, topic, capsys):
    words = topic("words")
    lab.produce(words, [{"word": w} for w in "to be or not to be".split()])
    assert sql.run_cell(kafka_table(lab, "words", words, "word STRING", bounded=True)) is None
    assert capsys.readouterr().out.strip() == "CREATE TABLE: OK"
    assert sql.run_cell("SHOW TABLES")["table name"].tolist() == ["words"]
    assert sql.run_cell("DESCRIBE words")["name"].tolist() == ["word"]
    df = sql.run_cell("SELECT word, COUNT(*) AS n FROM words GROUP BY word")
    assert isinstance(df, pd.DataFrame)  # bounded: the whole result, the changelog applied
    assert dict(zip(df.word, df.n, strict=True)) == {"to": 2, "be": 2, "or": 1, "not": 1}
    sql.run_cell("EXPLAIN SELECT word FROM words")
    assert "== Optimized Physical Plan ==" in capsys.readouterr().out  # the plan, as text


RATES = """CREATE TABLE rates (cur STRING, rate DOUBLE, ts BIGINT, t AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR t AS t, PRIMARY KEY (cur) NOT ENFORCED) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{servers}',
  'key.format' = 'raw', 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset')"""


def test_a_temporal_join_on_a_bounded_upsert_table_is_bounded_too(lab, sql, topic):
    """Neither a temporal join nor an upsert-kafka table has a batch form, yet both end when
    their topics are read to a bound: the cell returns the finished result, not a live one."""
    orders, rates = topic("orders"), topic("rates")
    lab.produce(orders, [{"id": 0, "cur": "EUR", "ts": 1000}, {"id": 1, "cur": "EUR", "ts": 3000}],
                timestamp="ts")  # fmt: skip
    lab.produce(rates, [{"cur": "EUR", "rate": 1.1, "ts": 0}, {"cur": "EUR", "rate": 1.2, "ts": 2000}],
                key="cur", timestamp="ts")  # fmt: skip
    columns = "id INT, cur STRING, ts BIGINT, t AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR t AS t"
    sql.run_cell(kafka_table(lab, "orders", orders, columns, bounded=True))
    sql.run_cell(RATES.format(topic=rates, servers=lab.flink_bootstrap_servers))
    df = sql.run_cell("SELECT o.id, r.rate FROM orders AS o JOIN rates FOR SYSTEM_TIME AS OF o.t AS r "
                      "ON o.cur = r.cur")  # fmt: skip
    assert isinstance(df, pd.DataFrame)  # finished, not a LiveQuery
    assert dict(zip(df.id, df.rate, strict=True)) == {0: 1.1, 1: 1.2}  # each order at its rate then


def upsert_table(lab: labkit.Lab, topic: str) -> str:
    return f"""CREATE TABLE accounts (id STRING, city STRING, balance INT,
  PRIMARY KEY (id) NOT ENFORCED) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{topic}',
  'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',
  'key.format' = 'json', 'value.format' = 'json')"""


STEPS = [  # (account, city and balance, or None: the account is deleted)
    ("a1", ("Oslo", 10)),
    ("a2", ("Oslo", 5)),
    ("a3", ("Rome", 7)),
    ("a1", ("Oslo", 20)),  # an update of a balance
    ("a2", ("Rome", 5)),  # a move: Oslo loses, Rome gains
    ("a1", None),  # a delete: Oslo's last account, so Oslo's row goes (-D)
    ("a4", ("Lima", 1)),
    ("a3", None),
]


def test_the_live_table_equals_pandas_at_every_step_of_a_group_by_with_updates_and_deletes(lab, sql, topic):
    accounts = topic("accounts")
    sql.run_cell(upsert_table(lab, accounts))
    live = sql.run_cell("SELECT city, COUNT(*) AS n, SUM(balance) AS total FROM accounts GROUP BY city")
    assert isinstance(live, LiveQuery)
    producer = lab.producer()
    state: dict[str, tuple[str, int]] = {}
    for account, value in STEPS:
        body = None if value is None else {"id": account, "city": value[0], "balance": value[1]}
        producer.send(accounts, key=json.dumps({"id": account}), value=body).get(timeout=10)
        if value is None:
            state.pop(account)
        else:
            state[account] = value
        rows = pd.DataFrame(list(state.values()), columns=["city", "balance"])
        expected = rows.groupby("city").agg(n=("city", "size"), total=("balance", "sum")).reset_index()
        want = sorted(expected.itertuples(index=False, name=None))
        # the table as the changelog leaves it, after exactly this step's changes
        live.wait_until(
            lambda df, want=want: sorted(df.itertuples(index=False, name=None)) == want, timeout=60
        )
    assert live.table.counts["-D"] >= 1 and live.table.counts["-U"] >= 3  # deletes and updates were applied
    assert len(live.table.rows()) == len(set(live.table.rows()))  # nothing piled up
    live.stop()


def test_several_queries_at_once_then_stop_by_the_button_and_re_run_a_cell(lab, sql, topic):
    words = topic("words")
    sql.run_cell(kafka_table(lab, "w", words, "word STRING"))
    counts = sql.run_cell("SELECT word, COUNT(*) AS n FROM w GROUP BY word", cell_key="counts")
    raw = sql.run_cell("SELECT word FROM w WHERE word <> 'x'", cell_key="raw")
    lab.produce(words, [{"word": w} for w in "a b a".split()])
    counts.wait_until(lambda df: dict(zip(df.word, df.n, strict=True)) == {"a": 2, "b": 1})
    raw.wait_until(lambda df: sorted(df.word) == ["a", "a", "b"])
    # what the notebook shows: drawn by the cell's thread after the rows arrive (at most a few
    # redraws a second), so waited for, not asserted at once
    wait_for(lambda: "a</td>" in counts.grid.value, "the counts drawn in the cell's table", 30)
    assert counts.grid.value.startswith("<div class='jp-RenderedHTMLCommon'>")  # JupyterLab's table look
    first = counts.job_id
    again = sql.run_cell("SELECT word, COUNT(*) AS n FROM w GROUP BY word", cell_key="counts")  # a re-run
    assert counts.finished.is_set() and job_state(lab, first) == "CANCELED"  # the old job went first
    assert job_state(lab, raw.job_id) == "RUNNING"  # the other cell's did not
    raw.stop_button.click()  # as the learner does
    assert job_state(lab, raw.job_id) == "CANCELED" and raw.stop_button.disabled
    assert "CANCELED" in raw.header.value
    again.wait_until(lambda df: len(df) == 2)
    assert lab.stop_jobs() >= 1  # lab.stop_jobs() stops the cell's jobs too
    assert job_state(lab, again.job_id) == "CANCELED"


def test_insert_into_starts_a_job_and_returns_its_handle(lab, sql, topic):
    source, sink = topic("src"), topic("sink")
    lab.produce(source, [{"n": i} for i in range(5)])
    sql.run_cell(kafka_table(lab, "src", source, "n INT") + ";\n" + kafka_table(lab, "sink", sink, "n INT"))
    job = sql.run_cell("INSERT INTO sink SELECT n * 10 AS n FROM src")
    assert isinstance(job, SqlJob) and len(job.job_id) == 32
    wait_for(lambda: job.status == "RUNNING", "the INSERT job to run", timeout=60)
    assert "Flink job" in job._repr_html_() and "labkit-login" in job.web_ui
    # an empty topic reads as a frame with no columns: .get, not ["n"]
    wait_for(lambda: sorted(lab.read(sink).get("n", [])) == [0, 10, 20, 30, 40], "the sink", 60)
    job.stop()
    assert job_state(lab, job.job_id) == "CANCELED"


def test_a_bad_statement_shows_flink_s_message_and_its_position(lab, sql):
    with pytest.raises(FlinkSqlError) as caught:
        sql.run_cell("SELECT 1 AS a,\n  nope FROM (VALUES (1)) AS t(x)")
    error = caught.value
    assert "Column 'nope' not found" in error.message and (error.line, error.column) == (2, 3)
    assert str(error).endswith("  nope FROM (VALUES (1)) AS t(x)\n    ^")
    assert "SqlGatewayException" not in str(error) and "\tat " not in str(error)
    with pytest.raises(FlinkSqlError, match="Object 'nowhere' not found"):
        sql.run_cell("SELECT * FROM nowhere")  # a continuous query's error is raised as well


def test_a_gateway_that_is_down_is_a_clear_error_within_2_s(lab):
    down = Endpoints(
        "local",
        lab.bootstrap_servers,
        lab.bootstrap_servers,
        lab.flink_rest,
        sql_gateway=f"https://127.0.0.1:{free_port()}",
    )
    started = time.monotonic()
    with pytest.raises(GatewayDown, match="does not answer.*labkit up"):
        FlinkSql(down).run_cell("SHOW TABLES")
    assert time.monotonic() - started < 2.0


def test_the_gateway_answers_the_lab_s_certificate_only(lab):
    import ssl
    import urllib.request

    gateway = lab.endpoints.sql_gateway
    assert gateway.startswith("https://127.0.0.1:")
    assert GatewayClient(gateway).call("info")["productName"] == "Apache Flink"
    anyone = ssl.create_default_context(cafile=str(tls.folder() / "rest.crt"))  # trusts it, has no key
    with pytest.raises(OSError):
        urllib.request.urlopen(tls.url(gateway, "v3/info"), timeout=5, context=anyone)


def test_a_live_chart_of_one_column_against_another(lab, sql, topic):
    words = topic("words")
    lab.produce(words, [{"word": w} for w in "a b a c".split()])
    sql.run_cell(kafka_table(lab, "w", words, "word STRING"))
    live = sql.run_cell("SELECT word, COUNT(*) AS n FROM w GROUP BY word", chart=("word", "n"), bar=True)
    live.wait_until(lambda df: len(df) == 3 and df["n"].sum() == 4)
    live.stop()  # the final drawing includes the chart
    (shown,) = live.plot.outputs
    assert shown["data"]["image/png"] and shown["data"]["text/plain"] == "n by word: 3 rows"
    assert live.widget.children[-1] is live.plot  # under the table


def test_a_session_the_gateway_forgot_is_replaced_and_the_learner_is_told(lab, sql, capsys):
    sql.run_cell("CREATE TABLE t (a INT) WITH ('connector' = 'datagen', 'number-of-rows' = '1')")
    old = sql.client.session
    # as an idle timeout does
    GatewayClient(lab.endpoints.sql_gateway).call(f"sessions/{old}", method="DELETE")
    capsys.readouterr()
    assert sql.run_cell("SHOW TABLES").empty  # a new session: the old one's tables are gone
    assert sql.client.session != old
    assert "tables created before are gone: run their CREATE cells again" in capsys.readouterr().out


def test_a_backend_without_a_gateway_says_how_to_name_one():
    from labkit.errors import LabError

    remote = Endpoints("remote", "kafka:9092", "kafka:9092", "jobmanager:8081")
    with pytest.raises(LabError, match="LABKIT_SQL_GATEWAY=host:port"):
        FlinkSql(remote)


def test_an_empty_cell_and_bad_lines_are_clear_errors(sql):
    from labkit.errors import LabError
    from labkit.sql.magic import parse_line

    with pytest.raises(LabError, match="no SQL statement"):
        sql.run_cell("-- nothing to run\n")
    with pytest.raises(LabError, match="--rows 0: choose 1 to 10000"):
        parse_line("--rows 0")
    assert parse_line("-o df --chart x y --bar").chart == ["x", "y"]


def test_a_local_only_cell_runs_on_the_local_lab_and_says_it_is_skipped_elsewhere(lab, monkeypatch, capsys):
    """``%%flink_sql --local-only WHAT``: a cell that needs the local lab's PostgreSQL runs
    there; on compose it prints drill_here's one line and runs nothing (no session is asked)."""
    from labkit.sql import magic

    options = magic.parse_line('--local-only "the PostgreSQL section" -o x')
    assert options.local_only == "the PostgreSQL section"
    assert magic.flink_sql('--local-only "it"', "SELECT 1 AS n")["n"].tolist() == [1]  # local: it ran

    class Compose:
        endpoints = Endpoints("compose", "127.0.0.1:9092", "kafka:19092", "127.0.0.1:8081")

        def run_cell(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a skipped cell runs nothing")

    monkeypatch.setattr(magic, "session", lambda: Compose())
    assert magic.flink_sql('--local-only "the PostgreSQL section"', "SELECT 1") is None
    assert "Skipped: the PostgreSQL section needs the local backend" in capsys.readouterr().out
