"""labkit.fraud.jobs: detect() on both engines (the boundaries of rule 1, custom thresholds,
windows from a second to a day), its argument checks, and the live SQL job's statement.

Each Flink job costs a few seconds on the lab's cluster, so the hand-made cases are
packed into one sequence per engine, one account per case.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from labkit import fraud

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in ms
S = 1000

# (account, amount, ms after T0); one account per case
CASES = [
    ("a-alert", 0.50, 0),
    ("a-alert", 600.00, 10 * S),
    ("b-intervening", 0.50, 0),
    ("b-intervening", 20.00, 5 * S),  # the next transaction is not large: pattern broken
    ("b-intervening", 600.00, 10 * S),
    ("c-just-under", 0.50, 0),
    ("c-just-under", 600.00, 60 * S - 1),
    ("d-exactly", 0.50, 0),
    ("d-exactly", 600.00, 60 * S),  # a gap of exactly `within` is too late
    ("e-just-over", 0.50, 0),
    ("e-just-over", 600.00, 60 * S + 1),
    ("f-small-boundary", 1.00, 0),  # 1.00 is not < 1.00
    ("f-small-boundary", 600.00, 1 * S),
    ("g-large-boundary", 0.99, 0),
    ("g-large-boundary", 500.00, 1 * S),  # 500.00 is not > 500.00
    ("h-just-inside", 0.99, 0),
    ("h-just-inside", 500.01, 1 * S),
    ("i-two-tiny", 0.10, 0),
    ("i-two-tiny", 0.20, 1 * S),  # the second tiny one starts the pattern afresh
    ("i-two-tiny", 900.00, 2 * S),
    ("j-consumed", 0.10, 0),
    ("j-consumed", 900.00, 1 * S),
    ("j-consumed", 900.00, 2 * S),  # the pattern ended at the first large one
    ("k-wrong-order", 800.00, 0),
    ("k-wrong-order", 0.50, 1 * S),
    ("l-same-ms", 0.50, 7 * S),
    ("l-same-ms", 700.00, 7 * S),
]
EXPECTED = {  # account -> (small amount, large amount)
    "a-alert": (0.50, 600.00),
    "c-just-under": (0.50, 600.00),
    "h-just-inside": (0.99, 500.01),
    "i-two-tiny": (0.20, 900.00),
    "j-consumed": (0.10, 900.00),
    "l-same-ms": (0.50, 700.00),
    "m-iso-and-datetime": (0.30, 800.00),
    "n-listed-late": (0.40, 650.00),
}


def hand_made() -> list[dict]:
    rows = [{"account_id": a, "amount": amt, "timestamp": T0 + dt} for a, amt, dt in CASES]
    # timestamps as ISO text and as datetimes work too
    rows.append({"account_id": "m-iso-and-datetime", "amount": 0.30, "timestamp": "2026-01-01T00:00:00Z"})
    rows.append(
        {
            "account_id": "m-iso-and-datetime",
            "amount": 800.00,
            "timestamp": datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc),
        }
    )
    # event time, not list position, decides what "next" means
    rows.append({"account_id": "n-listed-late", "amount": 650.00, "timestamp": T0 + 3 * S})
    rows.append({"account_id": "n-listed-late", "amount": 0.40, "timestamp": T0 + 2 * S})
    return rows


@pytest.fixture(scope="module")
def rule1_results(lab):
    """Both engines on the same hand-made sequence (one job each)."""
    rows = hand_made()
    return rows, {engine: fraud.detect(rows, engine=engine, lab=lab) for engine in ("datastream", "sql")}


@pytest.mark.parametrize("engine", ["datastream", "sql"])
def test_rule1_hand_made_cases(rule1_results, engine):
    rows, results = rule1_results
    got = results[engine]
    assert list(got.columns[:7]) == fraud.ALERT_COLUMNS
    found = {r.account_id: (r.small_amount, r.large_amount) for r in got.itertuples()}
    assert found == EXPECTED, f"{engine}: {got}"
    assert len(got) == len(EXPECTED)  # j-consumed alerts once
    # rows point back at the input; times are the input's event times
    for r in got.itertuples():
        small, large = rows[r.small_row], rows[r.large_row]
        assert (small["account_id"], large["account_id"]) == (r.account_id, r.account_id)
        assert r.large_time - r.small_time < timedelta(minutes=1)
    c = got[got.account_id == "c-just-under"].iloc[0]
    assert c.large_time - c.small_time == timedelta(milliseconds=59_999)
    assert str(c.small_time.tz) == "UTC"


def test_both_engines_agree(rule1_results):
    _, results = rule1_results
    assert fraud.same_alerts(results["datastream"], results["sql"])


@pytest.mark.parametrize("engine", ["datastream", "sql"])
def test_rule1_custom_thresholds(lab, engine):
    rows = [
        {"account_id": "p", "amount": 4.99, "timestamp": T0},
        {"account_id": "p", "amount": 100.01, "timestamp": T0 + 10 * S - 1},  # alert
        {"account_id": "q", "amount": 5.00, "timestamp": T0},  # not < 5.00
        {"account_id": "q", "amount": 200.00, "timestamp": T0 + S},
        {"account_id": "r", "amount": 1.00, "timestamp": T0},
        {"account_id": "r", "amount": 150.00, "timestamp": T0 + 10 * S},  # exactly 10 s: too late
        {"account_id": "s", "amount": 1.00, "timestamp": T0},
        {"account_id": "s", "amount": 100.00, "timestamp": T0 + S},  # not > 100.00
    ]
    got = fraud.detect(rows, small=5, large=100, within=timedelta(seconds=10), engine=engine, lab=lab)
    assert list(got.account_id) == ["p"]
    assert (got.small_row[0], got.large_row[0]) == (0, 1)


WINDOWS = [timedelta(seconds=1), timedelta(seconds=100), timedelta(hours=24)]


def window_rows(window: timedelta) -> list[dict]:
    w = window // timedelta(milliseconds=1)
    return [
        {"account_id": "exactly", "amount": 0.50, "timestamp": T0},
        {"account_id": "exactly", "amount": 600.00, "timestamp": T0 + w},  # a gap of exactly the window
        {"account_id": "one-ms-less", "amount": 0.50, "timestamp": T0},
        {"account_id": "one-ms-less", "amount": 600.00, "timestamp": T0 + w - 1},
    ]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: f"{w.total_seconds():g}s")
@pytest.mark.parametrize("engine", ["datastream", "sql"])
def test_rule_windows_from_a_second_to_a_day(lab, engine, window):
    """Exactly the window: no alert; one millisecond less: an alert - in both engines."""
    got = fraud.detect(window_rows(window), within=window, engine=engine, lab=lab)
    assert list(got["account_id"]) == ["one-ms-less"], got
    assert got["large_time"][0] - got["small_time"][0] == window - timedelta(milliseconds=1)


def test_detect_accepts_a_dataframe_and_keeps_tx_ids(lab, scratch_topics):
    df = pd.DataFrame(
        {
            "tx_id": ["x1", "x2", "x3", "y1", "y2", "y3"],
            "account_id": ["x", "x", "x", "y", "y", "y"],
            "amount": [0.5, 10.0, 999.0, 0.5, 0.7, 999.0],  # x: 10.00 in between; y: alert
            "timestamp": pd.to_datetime([T0, T0 + S, T0 + 2 * S] * 2, unit="ms"),  # naive = UTC
        }
    )
    got = fraud.detect(df, lab=lab)
    assert list(zip(got.small_tx_id, got.large_tx_id, strict=True)) == [("y2", "y3")]
    assert got.large_time[0] == pd.Timestamp(T0 + 2 * S, unit="ms", tz="UTC")
    assert len(scratch_topics) == 1
    scratch_topics.wait_gone()  # the scratch topic is gone again


def test_bad_arguments(untouchable):
    rows = [{"account_id": "a", "amount": 1.0, "timestamp": T0}]
    with pytest.raises(ValueError, match="engine"):
        fraud.detect(rows, engine="spark", lab=untouchable)
    with pytest.raises(ValueError, match="within"):
        fraud.detect(rows, within=timedelta(0), lab=untouchable)
    with pytest.raises(ValueError, match="must not be more than large"):
        fraud.detect(rows, small=600, large=500, lab=untouchable)


def test_the_live_sql_job_runs_the_one_match_recognize_builder(lab):
    """SqlPipeline's INSERT wraps match_recognize_sql (no second copy of rule 2) over a
    table with TX_SCHEMA, and Flink's planner accepts it (no job runs)."""
    rules = fraud.Rules(small=2.0, large=700.0, within=timedelta(seconds=90))
    pipeline = fraud.SqlPipeline(lab, "l09-never-read", "l09-never-written", rules)
    sql = pipeline.sql()
    assert fraud.match_recognize_sql("transactions", 2.0, 700.0, 90_000) in sql
    assert sql.count("MATCH_RECOGNIZE (") == 1
    t_env = lab.table_env()
    lab.kafka_table(t_env, "transactions", fraud.TX_SCHEMA, topic="l09-never-read")
    lab.kafka_table(t_env, "alerts", fraud.SqlPipeline.ALERTS, topic="l09-never-written")
    assert "MATCH_RECOGNIZE" in t_env.explain_sql(sql).upper()


def test_a_learners_bad_sql_in_run_sql_is_flinks_short_message(lab):
    from labkit.errors import FlinkSqlError

    txs = [{"account_id": "a", "amount": 1.0, "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc)}]
    with pytest.raises(FlinkSqlError) as caught:
        fraud.run_sql(txs, "SELECT nope FROM transactions", lab=lab)
    error = caught.value
    assert "Column 'nope' not found" in error.message and (error.line, error.column) == (1, 8)
    assert "at org.apache" not in str(caught.value)
