"""Benchmark: how fast the lab starts and answers, and how much memory it takes.

    python -m labkit.bench            (or: make bench)

Measures, on a private cluster (its own state folder, so the lab you use is untouched):

* cold start: from `labkit up` (new broker) to the first Flink result through Kafka, in a
  fresh Python process (so the JVM start is included);
* warm job submission: in that same process, the time from submitting a Flink SQL job to
  its result (a bounded query) - what every later lesson cell pays;
* streaming latency: an event produced to Kafka -> a running Flink job -> Kafka -> read
  back;
* peak memory: resident memory of the broker + the Python process + its JVM, sampled
  every 50 ms.

Targets from the design: cold start < 15 s, warm submission < 2 s, peak < 1.2 GB. The
figures are printed, not asserted: timing belongs in a benchmark, not in a test.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from . import paths

TARGETS = {"cold_start_s": 15.0, "warm_submit_s": 2.0, "peak_memory_mb": 1200.0}


def worker() -> None:
    """Runs in a fresh process: first result, then warm submissions; prints JSON."""
    t_import = time.time()
    import labkit
    from labkit import events

    lab = labkit.connect(quiet=True)
    src = lab.create_topic("bench-in", partitions=2, replace=True)
    dst = lab.create_topic("bench-out", replace=True)
    lab.produce(src, list(events.clicks(1000, seed=1)), key="user_id")

    t_env = lab.table_env()
    lab.kafka_table(t_env, "clicks", "user_id STRING, page STRING, ts BIGINT", topic=src)
    lab.kafka_table(t_env, "carts", "user_id STRING, page STRING", topic=dst)
    job = lab.start(
        t_env.execute_sql("INSERT INTO carts SELECT user_id, page FROM clicks WHERE page = '/cart'")
    )
    while lab.describe_topic(dst)["events"].sum() == 0:
        time.sleep(0.05)
    first_result = time.time()

    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        df = lab.query(
            "SELECT COUNT(*) AS n FROM clicks", {"clicks": "user_id STRING"}, topics={"clicks": src}
        )
        warm.append(time.perf_counter() - t0)
        assert int(df["n"].iloc[0]) == 1000

    latencies = []
    for i in range(10):
        before = lab.describe_topic(dst)["events"].sum()
        t0 = time.perf_counter()
        lab.produce(src, [{"user_id": f"lat-{i}", "page": "/cart", "ts": 0}], key="user_id")
        while lab.describe_topic(dst)["events"].sum() == before:
            time.sleep(0.005)
        latencies.append(time.perf_counter() - t0)
    job.stop()
    print(
        "BENCH "
        + json.dumps(
            {
                "import_at": t_import,
                "first_result_at": first_result,
                "warm_submit_s": warm,
                "stream_latency_s": latencies,
            }
        ),
        flush=True,
    )


def _tree_rss(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            for p in [proc, *proc.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as home:
        env = {**os.environ, "LABKIT_HOME": home, "LABKIT_CACHE": str(paths.cache())}
        env.pop("LABKIT_PORT", None)
        peak = 0.0
        watched: list[psutil.Process] = []
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(watched))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            t0 = time.time()
            subprocess.run(
                [sys.executable, "-m", "labkit.cli", "up"], env=env, check=True, capture_output=True
            )
            up_s = time.time() - t0
            state = json.loads((Path(home) / "state.json").read_text())
            broker = psutil.Process(state["processes"]["broker"]["pid"])
            idle_broker_mb = broker.memory_info().rss / 2**20
            proc = subprocess.Popen(
                [sys.executable, "-m", "labkit.bench", "--worker"], env=env, stdout=subprocess.PIPE, text=True
            )
            watched.extend([broker, psutil.Process(proc.pid)])
            sampler.start()
            out, _ = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"benchmark worker failed (exit {proc.returncode})")
        finally:
            stop.set()
            subprocess.run([sys.executable, "-m", "labkit.cli", "down"], env=env, capture_output=True)
        data = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
    return {
        "labkit_up_s": round(up_s, 2),
        "cold_start_s": round(data["first_result_at"] - t0, 2),
        "warm_submit_s": round(statistics.median(data["warm_submit_s"]), 2),
        "warm_submit_all_s": [round(x, 2) for x in data["warm_submit_s"]],
        "stream_latency_ms": round(statistics.median(data["stream_latency_s"]) * 1000),
        "peak_memory_mb": round(peak),
        "broker_idle_mb": round(idle_broker_mb, 1),
    }


def main() -> None:
    if "--worker" in sys.argv:
        worker()
        return
    print("labkit benchmark: a private cluster, a fresh Python process (takes ~30 s)...", flush=True)
    result = run()
    labels = {
        "labkit_up_s": "labkit up (broker ready)",
        "cold_start_s": "cold start: labkit up -> first Flink result via Kafka",
        "warm_submit_s": "warm Flink job submission -> result (median of 5)",
        "stream_latency_ms": "event -> Kafka -> running Flink job -> Kafka (median of 10)",
        "peak_memory_mb": "peak memory: broker + Python + JVM",
        "broker_idle_mb": "broker, idle",
    }
    units = {"_s": "s", "_ms": "ms", "_mb": "MB"}
    for key, label in labels.items():
        unit = next(u for suffix, u in units.items() if key.endswith(suffix))
        target = TARGETS.get(key)
        verdict = (
            ""
            if target is None
            else f"  (target < {target:g}: {'met' if result[key] < target else 'MISSED'})"
        )
        print(f"  {label:<62} {result[key]:>8} {unit}{verdict}")
    if "--json" in sys.argv:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
