"""The ``%%flink_sql`` cell's figures for ``make bench`` (:mod:`labkit.bench` runs and prints them).

* a new kernel's first result of the cell after ``labkit up`` (cold);
* a bounded SELECT over a Kafka topic, warm: the cell run -> its DataFrame;
* a continuous GROUP BY fed 5,000 changes a second, in a real notebook kernel: are all
  changes applied, how often is the table redrawn, and does the kernel still answer a
  ``1+1`` cell quickly;
* the SQL Gateway's memory after that use.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from ..lab import Lab

N_WARM = 5
#: Events a second for the continuous figure: each event after a key's first is two changes
#: of a GROUP BY count (-U, +U), so 2,500 events a second are ~5,000 changes a second.
EVENTS_PER_S, SECONDS, KEYS = 2500, 10, 50


def table_ddl(lab: Lab, name: str, topic: str, bounded: bool) -> str:
    """A clicks table on ``topic`` (`Lab.kafka_options`: on a secured Kafka, with its login)."""
    options = lab.kafka_options(topic, bounded=bounded)
    return f"CREATE TABLE {name} (user_id STRING, page STRING) WITH ({options})"


def cold_worker() -> None:
    """A fresh process as a new kernel: connect, send events, run a bounded %%flink_sql
    query; prints when its result was there (the parent's clock started before `labkit up`)."""
    steps = {"process started": psutil.Process().create_time()}
    import labkit
    from labkit import events

    from .magic import FlinkSql

    lab = labkit.connect(quiet=True)
    topic = lab.create_topic("bench-sql-cold", partitions=2, replace=True)
    lab.produce(topic, list(events.clicks(200, seed=1)), key="user_id")
    steps["topic made, events sent"] = time.time()
    sql = FlinkSql(lab.endpoints)
    sql.run_cell(table_ddl(lab, "clicks", topic, bounded=True))
    frame = sql.run_cell("SELECT page, COUNT(*) AS n FROM clicks GROUP BY page")
    assert int(frame["n"].sum()) == 200, frame
    steps["first %%flink_sql result"] = time.time()
    sql.close()
    print("BENCH " + json.dumps(steps), flush=True)


def warm_bounded(lab: Lab, topic: str, expected: int) -> list[float]:
    """Seconds from running a bounded %%flink_sql SELECT over a Kafka topic to its DataFrame
    (the first run apart: it warms the gateway's planner)."""
    from .magic import FlinkSql

    sql = FlinkSql(lab.endpoints)
    try:
        sql.run_cell(table_ddl(lab, "counted", topic, bounded=True))
        times = []
        for _ in range(N_WARM + 1):
            t0 = time.perf_counter()
            frame = sql.run_cell("SELECT COUNT(*) AS n FROM counted")
            times.append(time.perf_counter() - t0)
            assert int(frame["n"].iloc[0]) == expected, frame
        return times[1:]
    finally:
        sql.close()


KERNEL_SETUP = """
import labkit
lab = labkit.connect(quiet=True)
"""
KERNEL_QUERY = """%%flink_sql -o live
{ddl};
SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id"""
KERNEL_RESULT = """
import json, time
final = live.wait_until(lambda df: df["n"].sum() == {n}, timeout=120)
time.sleep(1.0)  # anything after the last change would be a change too many
print("RESULT " + json.dumps({{"changes": live.table.changes, "rows": len(live.frame()),
      "counts": dict(zip(live.frame()["user_id"], map(int, live.frame()["n"]))), "redraws": live.redraws}}))
live.stop()
"""


def continuous_in_kernel(lab: Lab) -> dict[str, Any]:
    """A continuous GROUP BY in a real kernel while this process sends it EVENTS_PER_S events
    a second for SECONDS s and sends the kernel a ``1+1`` cell every 0.25 s."""
    from .. import events
    from ..kernels import started_kernel

    topic = lab.create_topic("bench-sql-live", partitions=1, replace=True)
    sent = [{"user_id": f"u{i % KEYS}", "page": "/"} for i in range(EVENTS_PER_S * SECONDS)]
    with started_kernel() as (_, client):
        quiet = lambda msg: None  # noqa: E731 - the cells' outputs are not wanted here
        run = lambda code, timeout=180: client.execute_interactive(code, timeout=timeout, output_hook=quiet)  # noqa: E731
        assert run(KERNEL_SETUP)["content"]["status"] == "ok"
        ddl = table_ddl(lab, "clicks", topic, bounded=False)
        assert run(KERNEL_QUERY.format(ddl=ddl))["content"]["status"] == "ok"
        import threading

        sender = threading.Thread(
            target=lambda: lab.produce(topic, events.paced(sent, per_second=EVENTS_PER_S), key="user_id")
        )
        t0 = time.perf_counter()
        sender.start()
        replies = []
        while sender.is_alive():
            t = time.perf_counter()
            run("1+1", timeout=30)
            replies.append(time.perf_counter() - t)
            time.sleep(0.25)
        sender.join()
        sending = time.perf_counter() - t0
        printed: list[str] = []
        hook = lambda msg: printed.append(msg["content"].get("text", ""))  # noqa: E731
        client.execute_interactive(KERNEL_RESULT.format(n=len(sent)), timeout=180, output_hook=hook)
        result = json.loads("".join(printed).split("RESULT ", 1)[1])
        elapsed = time.perf_counter() - t0
    truth: dict[str, int] = {}
    for event in sent:
        truth[event["user_id"]] = truth.get(event["user_id"], 0) + 1
    return {
        "changes": result["changes"],
        "expected_changes": 2 * len(sent) - len(truth),  # +I per key, then -U/+U per event
        "counts_equal": result["counts"] == truth,
        "changes_per_s": result["changes"] / sending,
        "redraws_per_s": result["redraws"] / elapsed,
        "reply_s_median": statistics.median(replies),
        "reply_s_max": max(replies),
    }


def gateway_rss_mb() -> float | None:
    """RSS of the lab's SQL Gateway process (MB = 10^6 bytes), or None if it is not running."""
    from ..runtime.processes import tracked
    from ..runtime.state import State

    state = State.load()
    proc = tracked((state.processes if state else {}).get("flink-sqlgateway", {}))
    return proc.memory_info().rss / 1e6 if proc else None
