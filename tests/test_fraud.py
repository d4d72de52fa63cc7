"""Lesson 09: fraud detection - the generator, detect() on both engines, the rules, the
dashboard's callbacks and the exercise check.

Each Flink job costs a few seconds on the lab's cluster, so the hand-made cases are
packed into one sequence per engine, one account per case.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from labkit import checks, fraud

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


def test_sql_interval_literal_holds_any_window():
    assert fraud.sql_interval(1) == "INTERVAL '0.001' SECOND(2, 3)"
    assert fraud.sql_interval(60_000) == "INTERVAL '60.000' SECOND(2, 3)"
    assert fraud.sql_interval(1_740_000) == "INTERVAL '1740.000' SECOND(4, 3)"  # the reported bug
    assert fraud.sql_interval(86_400_000 - 1) == "INTERVAL '86399.999' SECOND(5, 3)"
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError):
            fraud.sql_interval(bad)


WINDOWS = [timedelta(seconds=1), timedelta(seconds=100), timedelta(hours=24)]


def test_flink_accepts_every_window_literal(lab):
    """The planner takes rule 2's WITHIN for windows from 1 ms to a week (no job runs)."""
    t_env = lab.table_env()
    lab.kafka_table(t_env, "transactions", fraud.TX_SCHEMA, topic="l09-never-read", bounded=True)
    for ms in (1, 59_999, 99_999, 100_000, 1_740_000, 3_600_000, 86_400_000, 7 * 86_400_000):
        t_env.explain_sql(fraud.match_recognize_sql("transactions", 1.0, 500.0, ms))


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


def test_detect_accepts_a_dataframe_and_keeps_tx_ids(lab):
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


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"detect() touched the lab ({name}) before checking its input")


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"account_id": "a", "amount": 5.0}, ["row 1", "timestamp"]),
        ({"amount": 5.0, "timestamp": T0}, ["row 1", "account_id"]),
        ({"account_id": "a", "amount": None, "timestamp": T0}, ["row 1", "amount"]),
        ({"account_id": "a", "amount": -3.0, "timestamp": T0}, ["row 1", "negative"]),
        ({"account_id": "a", "amount": "12", "timestamp": T0}, ["row 1", "not a number"]),
        ({"account_id": "a", "amount": 5.0, "timestamp": "yesterday-ish"}, ["row 1", "unparsable timestamp"]),
        ({"account_id": "a", "amount": 5.0, "timestamp": float("nan")}, ["row 1", "timestamp"]),
        ({"account_id": "a", "amount": 5.0, "timestamp": "1969-12-31T23:59:59Z"}, ["row 1", "before 1970"]),
        ("not a dict", ["row 1", "not a dict"]),
    ],
)
def test_bad_rows_are_rejected_before_anything_runs(bad, words):
    rows = [{"account_id": "a", "amount": 1.0, "timestamp": T0}, bad]
    with pytest.raises(fraud.BadTransaction) as err:
        fraud.detect(rows, lab=Untouchable())
    for word in words:
        assert word in str(err.value)


def test_bad_row_in_a_dataframe_is_named():
    df = pd.DataFrame({"account_id": ["a", "b", "c"], "amount": [1.0, 2.0, -1.0], "timestamp": [T0] * 3})
    with pytest.raises(fraud.BadTransaction, match="row 2"):
        fraud.detect(df, lab=Untouchable())


def test_bad_arguments():
    rows = [{"account_id": "a", "amount": 1.0, "timestamp": T0}]
    with pytest.raises(ValueError, match="engine"):
        fraud.detect(rows, engine="spark", lab=Untouchable())
    with pytest.raises(ValueError, match="within"):
        fraud.detect(rows, within=timedelta(0), lab=Untouchable())
    with pytest.raises(ValueError, match="must not be more than large"):
        fraud.detect(rows, small=600, large=500, lab=Untouchable())


def test_velocity_function_matches_the_window_operator(lab, topic):
    """The KeyedProcessFunction velocity rule raises exactly the alerts PyFlink's sliding
    window operator does (one bounded job runs both on the same keyed stream)."""
    from pyflink.common import Time, Types
    from pyflink.datastream.window import SlidingEventTimeWindows

    txs = fraud.transactions(600, seed=5, fraud_rate=0.1)
    name = topic("l09-velocity", partitions=2)
    lab.produce(name, txs.to_dict("records"), key="account_id", timestamp="timestamp")
    env = lab.stream_env()
    source = fraud._kafka_source(lab, name, bounded=True, group_id=name)
    pickled = Types.PICKLED_BYTE_ARRAY()
    keyed = (
        env.from_source(source, fraud._watermarks(), "tx")
        .map(fraud.parse, output_type=pickled)
        .key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
    )
    size, slide = Time.milliseconds(10_000), Time.milliseconds(5_000)
    ours = keyed.process(fraud.velocity_function(3, 10_000, 5_000), output_type=pickled)
    windowed = keyed.window(SlidingEventTimeWindows.of(size, slide)).process(
        fraud.velocity_window_function(3), output_type=pickled
    )
    tagged = ours.map(lambda a: ("ours", a), output_type=pickled).union(
        windowed.map(lambda a: ("window", a), output_type=pickled)
    )
    with tagged.execute_and_collect("l09 test velocity") as results:
        got = list(results)
    by = {
        side: Counter((a["account_id"], a["window_end"], tuple(a["tx_ids"])) for s, a in got if s == side)
        for side in ("ours", "window")
    }
    assert sum(by["window"].values()) > 5
    assert by["ours"] == by["window"]


def test_socket_feed_delivers_to_the_connected_reader_and_drops_the_rest():
    """The "Flink alone" feed: lines reach whoever is connected now; with nobody, they are gone."""
    import socket

    from labkit.fraud_live import SocketFeed

    feed = SocketFeed()
    try:
        assert feed.send([{"tx_id": "before"}]) == 0 and feed.dropped == ["before"]
        reader = socket.create_connection(("127.0.0.1", feed.port))
        feed.wait_connected(timeout=10)
        assert feed.send([{"tx_id": "a", "amount": 1.5}, {"tx_id": "b"}]) == 2
        got = b""
        while got.count(b"\n") < 2:
            got += reader.recv(4096)
        assert [json.loads(line)["tx_id"] for line in got.splitlines()] == ["a", "b"]
        reader.close()  # the job stops
        feed.wait_disconnected(timeout=10)
        assert feed.send([{"tx_id": "while-down"}]) == 0
        assert feed.delivered == ["a", "b"] and feed.dropped == ["before", "while-down"]
    finally:
        feed.close()


# --- the generator --------------------------------------------------------------------


def test_generator_is_deterministic_and_exact():
    a = fraud.transactions(1500, seed=4, fraud_rate=0.05)
    assert len(a) == 1500
    assert a.equals(fraud.transactions(1500, seed=4, fraud_rate=0.05))
    assert not a.equals(fraud.transactions(1500, seed=5, fraud_rate=0.05))
    assert a["timestamp"].is_monotonic_increasing
    assert a["tx_id"].is_unique
    assert set(a["label"].dropna()) == set(fraud.LABELS)


def test_generator_fraud_rate_knob():
    clean = fraud.transactions(1000, seed=1, fraud_rate=0.0)
    assert clean["label"].isna().all()
    assert (clean["amount"] >= 1.0).all() and (clean["amount"] <= 450).all()
    low = fraud.transactions(3000, seed=1, fraud_rate=0.01)["episode"].nunique()
    high = fraud.transactions(3000, seed=1, fraud_rate=0.10)["episode"].nunique()
    assert high > 4 * low > 0
    with pytest.raises(ValueError):
        fraud.transactions(10, fraud_rate=1.5)


def test_generator_labels_are_the_truth():
    txs = fraud.transactions(4000, seed=2, accounts=100, rate=2.0, fraud_rate=0.05)
    for _, ep in txs[txs.label == "card_testing"].groupby("episode"):
        assert len(ep) == 2
        tiny, big = ep.iloc[0], ep.iloc[1]
        assert tiny.amount < 1.0 < 500.0 < big.amount
        assert 0 < big.timestamp - tiny.timestamp < 60_000
        # nothing else on that account in between: the next transaction is the large one
        acct = txs[txs.account_id == tiny.account_id]
        after = acct[acct.timestamp > tiny.timestamp].iloc[0]
        assert after.tx_id == big.tx_id
    for _, ep in txs[txs.label == "burst"].groupby("episode"):
        assert len(ep) == 8 and ep.account_id.nunique() == 1
        assert ep.timestamp.max() - ep.timestamp.min() <= 5_000
    # only card testing makes tiny amounts
    assert set(txs[txs.amount < 1.0].label) == {"card_testing"}


def test_evaluate_counts_precision_and_recall():
    txs = fraud.transactions(600, seed=3, fraud_rate=0.05)
    ct = txs[txs.label == "card_testing"]
    pairs = ct.groupby("episode")["tx_id"].apply(list).tolist()
    alerts = fraud.common_alerts_frame(
        [{"rule": "card_testing", "account_id": "x", "tx_ids": p, "event_ts": 0} for p in pairs[1:]]
        + [{"rule": "card_testing", "account_id": "x", "tx_ids": [txs.tx_id[0]], "event_ts": 0}]
    )
    report = fraud.evaluate(alerts, txs)
    row = report.loc["card_testing"]
    assert (row.alerts, row.true_alerts, row.caught, row.episodes) == (
        len(pairs),
        len(pairs) - 1,
        len(pairs) - 1,
        len(pairs),
    )


# --- the exercise -----------------------------------------------------------------------


def _solution():
    from solutions import load

    return load("lesson_09")


def test_exercise_placeholder_gets_a_hint_without_running_anything():
    result = checks.lesson_09_two_tiny(Untouchable(), None)
    assert not result.ok and result.hints and "match_recognize_sql" in result.hints[0]


def test_exercise_reference_solution_passes(lab):
    result = checks.lesson_09_two_tiny(lab, _solution().ANSWER)
    assert result.ok, str(result)


def test_exercise_wrong_answer_gets_a_hint(lab):
    result = checks.lesson_09_two_tiny(lab, _solution().WRONG_NO_WITHIN)
    assert not result.ok
    assert "x4" in result.message and "WITHIN" in result.hints[0]


def test_exercise_sql_error_is_explained(lab):
    broken = _solution().ANSWER.replace("PARTITION BY account_id", "PARTITION BY acount_id")
    result = checks.lesson_09_two_tiny(lab, broken)
    assert not result.ok and "could not run" in result.message
    assert "acount_id" in result.hints[0]  # Flink's own complaint, naming the column


# --- the dashboard, driven from code ----------------------------------------------------


def _multiset(alerts: pd.DataFrame) -> Counter:
    return Counter((r.rule, tuple(r.tx_ids)) for r in alerts.itertuples())


def test_dashboard_widgets_drive_the_job(lab):
    """Two quick rule changes under load: one restart, pending until the new generation
    runs and has caught up; its alerts are exactly those of the new rules over everything
    in the topic - nothing lost, nothing twice."""
    from labkit.fraud_dashboard import Dashboard

    uid = uuid.uuid4().hex[:8]
    tx_topic, alerts_topic = f"l09-test-{uid}-tx", f"l09-test-{uid}-alerts"
    dash = Dashboard(
        lab,
        tx_topic=tx_topic,
        alerts_topic=alerts_topic,
        event_rate=100,
        fraud_rate=0.08,
        refresh=0.5,
        debounce=0.3,
    )
    try:
        dash.start()
        assert dash.pending  # generation 1 is not live until it has caught up
        assert dash.wait_until_current(min_alerts=3, timeout=120), dash.errors
        assert dash.generation == 1 and dash.restarts == 0
        # traffic widgets apply at once, without a restart
        dash.fraud_rate.value = 0.1
        assert dash.generator.fraud_rate == 0.1 and not dash.pending
        # two quick threshold changes: pending at once, then one restart with both values
        sent_before = len(dash.transactions())
        dash.large.value = 1200
        assert dash.pending
        dash.small.value = 0.6
        assert dash.wait_until_current(min_alerts=1, timeout=120), dash.errors
        assert dash.generation == 2 and dash.restarts == 1
        assert (dash.pipeline.rules.large, dash.pipeline.rules.small) == (1200, 0.6)
        card = dash.alerts().query("rule == 'card_testing'")
        assert all(small < 0.6 and large > 1200 for small, large in card["amounts"])
        # under load across the restart: then hold the traffic, let generation 2 read it all
        assert dash.wait_until(lambda _: len(dash.transactions()) > sent_before + 300, 60), dash.errors
        dash.pause_traffic()
        assert dash.probe(), dash.errors
        horizon = int(dash.generator.t)  # the probes' event time: every window before it has closed
        # the truth: the same rules over everything the topic holds, in one bounded job
        truth = fraud.replay(lab, tx_topic, dash.pipeline.rules)
        truth = truth[~truth["account_id"].str.startswith("probe-")]
        size_ms = dash.pipeline.rules.velocity_window // timedelta(milliseconds=1)

        def closed(alerts: pd.DataFrame) -> pd.DataFrame:
            ts = alerts["event_time"].astype("int64") // 1_000_000
            return alerts[(alerts["rule"] != "velocity") | (ts + size_ms < horizon - 1)]

        want = _multiset(closed(truth))
        assert sum(want.values()) > 10
        assert dash.wait_until(lambda alerts: _multiset(closed(alerts)) == want, 60), (
            _multiset(closed(dash.alerts())) - want,
            want - _multiset(closed(dash.alerts())),
        )
        # alerts on payments sent before the restart, raised by generation 2: it re-read them
        old_ids = set(dash.transactions()["tx_id"][:sent_before])
        assert any(set(ids) & old_ids for ids in dash.alerts()["tx_ids"])
        # measured on the running job: traffic held, a burst, the probes' alerts back
        dash.resume_traffic()
        figures = dash.measure(n=300)
        assert figures["throughput_tx_per_s"] > 0 and figures["transactions"] == 300
        dash.paint()
        assert dash.plot.value[:4] == b"\x89PNG"
        assert "generation 2" in dash.status.value and "Latest alerts" in dash.table.value
        assert set(dash.scores().index) == {"card_testing", "velocity", "outlier"}
        assert not dash.errors
    finally:
        dash.stop()
        lab.delete_topic(tx_topic, alerts_topic)
