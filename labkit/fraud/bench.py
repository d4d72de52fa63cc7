"""Throughput and alert latency of lesson 09's live fraud pipeline (Kafka -> Flink -> Kafka).

`measure` is what ``scripts/bench_fraud.py`` runs: one engine on fresh scratch topics,
a latency run at a steady rate, then a throughput run as fast as the producer can; the
end of each run is marked by a `marker_pair` whose alert says "the job has read
everything sent before it".
"""

from __future__ import annotations

import time
from typing import Any

from ..events import paced
from ..lab import Lab, connect
from .alerts import AlertWatcher, latency_figures
from .data import FUTURE_TIMESTAMPS_OK, TransactionGenerator, marker_pair, with_ts
from .jobs import LivePipeline, Pipeline, SqlPipeline

ENGINES = ("datastream", "windowed", "sql")


def measure(
    lab: Lab | None = None,
    *,
    n: int = 20_000,
    paced_rate: float = 100.0,
    paced_seconds: float = 15.0,
    seed: int = 7,
    partitions: int = 3,
    engine: str = "datastream",
) -> dict[str, Any]:
    """Throughput and alert latency of the live fraud pipeline (Kafka -> Flink -> Kafka).

    ``engine="datastream"`` (default): the three-rule DataStream job of the lesson
    (`LivePipeline`, Python operators). ``engine="windowed"``: the same with the velocity
    rule on PyFlink's window operator (how it was written before: the same alerts).
    ``engine="sql"``: rule 2 alone as a Flink SQL job (`SqlPipeline`, all inside the JVM) -
    for comparison. A bad ``engine`` is refused before anything is created.

    1. start the job on fresh ``l09-bench-*`` topics, wait for a first alert;
    2. latency: send transactions at ``paced_rate``/s for ``paced_seconds``; for each
       card-testing alert, time from sending the large transaction to reading the alert
       back from the alerts topic;
    3. throughput: send ``n`` transactions as fast as the producer can, then a marker
       pair; throughput = ``n`` / (time from the first send to the marker's alert).

    Uses one Flink job; deletes its topics afterwards. Returns a dict of figures.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be 'datastream', 'windowed' or 'sql', not {engine!r}")
    if lab is None:
        lab = connect(quiet=True)
    tx_topic = lab.scratch_topic("l09-bench-tx", partitions, config=FUTURE_TIMESTAMPS_OK)
    alerts_topic = lab.scratch_topic("l09-bench-alerts", 1, config=FUTURE_TIMESTAMPS_OK)
    gen = TransactionGenerator(seed=seed, accounts=100, rate=2.0, fraud_rate=0.03, start="now")
    producer = lab.producer(linger_ms=2, acks=1)
    sent_at: dict[str, float] = {}
    if engine == "sql":
        pipeline: Pipeline = SqlPipeline(lab, tx_topic, alerts_topic)
    else:
        pipeline = LivePipeline(lab, tx_topic, alerts_topic, windowed=engine == "windowed")
    watcher = AlertWatcher(lab, alerts_topic)
    refused: list[Exception] = []

    def send(tx: dict) -> None:
        sent_at[tx["tx_id"]] = time.time() * 1000
        future = producer.send(
            tx_topic, key=tx["account_id"], value=with_ts(tx), timestamp_ms=tx["timestamp"]
        )
        future.add_errback(refused.append)

    def marker(account: str, timeout: float = 120.0) -> float | None:
        """Send a marker pair; when its alert was read (epoch ms), or None."""
        for tx in marker_pair(account, int(gen.t)):
            send(tx)
        producer.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = watcher.wait_for(lambda a: a["account_id"] == account, 0.2)
            if hit is not None:
                return hit[1]
            if engine == "sql":  # MATCH_RECOGNIZE waits for the watermark: move event time on
                for tx in gen.take(3):
                    send(tx)
                producer.flush()
        return None

    t0 = time.monotonic()
    try:
        pipeline.start()
        if marker("marker-warmup") is None:
            raise RuntimeError(f"the fraud job raised no alert within 120 s: {pipeline.job!r}")
        startup_s = time.monotonic() - t0
        # latency at a steady, modest rate
        start_count = len(watcher.alerts)
        paced_txs = []
        for i, tx in enumerate(paced(gen, paced_rate, seconds=paced_seconds)):
            send(tx)
            if i % 10 == 0:
                producer.flush()
            paced_txs.append(tx)
        producer.flush()
        marker("marker-paced")
        latencies = [
            got - sent_at[a["tx_ids"][-1]]
            for a, got in watcher.alerts[start_count:]
            if a["rule"] == "card_testing"
            and a["tx_ids"][-1] in sent_at
            and not a["account_id"].startswith("marker-")
        ]
        # throughput: as fast as we can
        bulk = list(gen.take(n))
        t_send = time.time() * 1000
        for tx in bulk:
            send(tx)
        producer.flush()
        produce_s = (time.time() * 1000 - t_send) / 1000
        done = marker("marker-bulk", timeout=300)
        if done is None:
            raise RuntimeError(
                "the marker alert did not arrive within 300 s"
                + (f"; Kafka refused {len(refused)} transaction(s): {refused[0]!r}" if refused else "")
            )
        total_s = (done - t_send) / 1000
    finally:
        pipeline.stop()
        watcher.stop()
        producer.close(timeout=5)
        lab.delete_topic(tx_topic, alerts_topic)
    return {
        "engine": engine,
        "transactions": n,
        "produce_seconds": round(produce_s, 2),
        "end_to_end_seconds": round(total_s, 2),
        "throughput_tx_per_s": round(n / total_s, 1),
        "job_startup_seconds": round(startup_s, 1),
        "paced_rate": paced_rate,
        "paced_transactions": len(paced_txs),
        **latency_figures(latencies),
    }
