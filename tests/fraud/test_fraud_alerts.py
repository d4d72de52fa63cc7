"""labkit.fraud.alerts: scoring alerts against the labels, and reading an alerts topic live."""

from __future__ import annotations

import time

from labkit import fraud


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


def test_alert_watcher_reads_the_topic_from_its_beginning(lab, topic):
    """Alerts written before the watcher starts are read too (lab.reader from the
    beginning, in no group), in order, with what is not JSON skipped; wait_for finds one
    that arrives later."""
    name = topic("l09-alerts", partitions=1)
    producer = lab.producer(value_serializer=lambda v: v)
    for raw in (b'{"account_id": "a", "n": 1}', b"not json", b'{"account_id": "b", "n": 2}'):
        producer.send(name, raw)
    producer.flush()
    watcher = fraud.AlertWatcher(lab, name)
    try:
        hit = watcher.wait_for(lambda a: a["account_id"] == "b", timeout=30)
        assert hit is not None and hit[0]["n"] == 2
        assert [a["account_id"] for a, _ in watcher.alerts] == ["a", "b"]
        assert watcher.wait_for(lambda a: a["account_id"] == "c", timeout=0.3) is None
        producer.send(name, b'{"account_id": "c", "n": 3}')
        producer.flush()
        before = time.time() * 1000
        hit = watcher.wait_for(lambda a: a["account_id"] == "c", timeout=30)
        assert hit is not None and hit[1] >= before - 1000  # received_at: epoch ms
    finally:
        watcher.stop()
        producer.close(timeout=5)


def test_latency_figures_are_the_benchmarks_summary():
    assert fraud.latency_figures([]) == {
        "latency_alerts": 0,
        "latency_ms_p50": None,
        "latency_ms_p95": None,
        "latency_ms_max": None,
    }
    got = fraud.latency_figures([300.0, 100.0, 200.0])
    assert (got["latency_alerts"], got["latency_ms_p50"], got["latency_ms_max"]) == (3, 200.0, 300.0)
    assert 200.0 < got["latency_ms_p95"] < 300.0
