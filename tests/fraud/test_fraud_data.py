"""labkit.fraud.data: the generator, the input checks, and how a job reads a transaction."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from labkit import fraud

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in ms


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


# --- checking the input ----------------------------------------------------------------


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
def test_bad_rows_are_rejected_before_anything_runs(bad, words, untouchable):
    rows = [{"account_id": "a", "amount": 1.0, "timestamp": T0}, bad]
    with pytest.raises(fraud.BadTransaction) as err:
        fraud.detect(rows, lab=untouchable)
    for word in words:
        assert word in str(err.value)


def test_bad_row_in_a_dataframe_is_named(untouchable):
    df = pd.DataFrame({"account_id": ["a", "b", "c"], "amount": [1.0, 2.0, -1.0], "timestamp": [T0] * 3})
    with pytest.raises(fraud.BadTransaction, match="row 2"):
        fraud.detect(df, lab=untouchable)


# --- how a job reads a transaction ------------------------------------------------------


def test_every_transaction_a_job_reads_carries_ts():
    """The one schema (TX_SCHEMA) and parse() read event time from ``ts``: detect's input
    gets it from validate, a live transaction from with_ts, and parse adds it to text
    that lacks it."""
    assert "  ts BIGINT," in fraud.TX_SCHEMA and "`timestamp`" not in fraud.TX_SCHEMA
    (tx,) = fraud.transactions(1, seed=3).to_dict("records")
    wire = fraud.with_ts(tx)
    assert wire["ts"] == tx["timestamp"] and "ts" not in tx
    assert fraud.parse(json.dumps(wire)) == wire
    assert fraud.parse(json.dumps(tx))["ts"] == tx["timestamp"]
    assert fraud.parse(json.dumps({"amount": 1.0, "timestamp": "2026-01-01T00:00:00Z"}))["ts"] == T0
    (clean,) = fraud.prepared([{"tx_id": "x", "account_id": 7, "amount": 2, "timestamp": T0}])
    assert clean == {"row": 0, "account_id": "7", "amount": 2.0, "ts": T0, "tx_id": "x"}
