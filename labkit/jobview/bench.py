"""The job view's figure for ``make bench``: how long one refresh of a 6-operator job takes.

`refresh_ms(lab)` starts a Kafka -> filter -> window aggregate (local, global) -> projection ->
sink job with operator chaining off (six job vertices, one REST metrics call each), takes
`N_REFRESHES` snapshots as the view does (a pool of `panel.WORKERS`) and stops the job. Also
the CPU time of this process per refresh: with the default 2 s interval, what a view open on
an idle job costs the kernel (plus the header's update, which is small).
"""

from __future__ import annotations

import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..waiting import wait_for
from .panel import WORKERS
from .snapshot import JobSnapshot, snapshot

if TYPE_CHECKING:
    from ..flink.jobs import Job
    from ..lab import Lab

N_REFRESHES = 20
#: The view's default refresh interval (s), for the idle CPU share.
EVERY_S = 2.0
SCHEMA = (
    "k STRING, v INT, ts BIGINT, et AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR et AS et - INTERVAL '1' SECOND"
)
SIX_VERTICES = (
    "INSERT INTO sink SELECT k, COUNT(*), window_end FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(et), "
    "INTERVAL '5' SECOND)) WHERE v > 2 GROUP BY k, window_start, window_end"
)


def six_operator_job(lab: Lab, topic: str, **options: str) -> Job:
    """Start the bench's job on ``topic`` (JSON ``k``, ``v``, ``ts`` in ms): Kafka source ->
    Calc (filter) -> LocalWindowAggregate -> GlobalWindowAggregate (HASH) -> Calc -> sink
    (blackhole), each its own vertex (chaining off). ``options``: more Kafka table options."""
    t_env = lab.table_env()
    t_env.get_config().set("pipeline.operator-chaining.enabled", "false")
    lab.kafka_table(t_env, "src", SCHEMA, topic=topic, **options)
    sink = "CREATE TABLE sink (k STRING, n BIGINT, w TIMESTAMP(3)) WITH ('connector' = 'blackhole')"
    t_env.execute_sql(sink)
    return lab.start(t_env.execute_sql(SIX_VERTICES), "job-view-bench")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def refresh_ms(lab: Lab, n: int = N_REFRESHES) -> dict[str, Any]:
    """Milliseconds per refresh of a 6-vertex job's snapshot (median, max over ``n``), the
    vertices counted, and this process's CPU per refresh (ms, and % of a core at 2 s)."""
    topic = lab.scratch_topic("bench-jobview", 2)
    now = int(time.time() * 1000)
    lab.produce(topic, [{"k": f"u{i % 5}", "v": i, "ts": now + i * 100} for i in range(500)])
    job = six_operator_job(lab, topic)
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="bench-jobview")
    try:
        lab.wait_until_running(job)
        first: list[JobSnapshot] = []

        def has_metrics() -> JobSnapshot | None:
            snap = snapshot(lab.flink_rest, job.job_id, first[-1] if first else None, pool)
            first.append(snap)
            return snap if int(snap.operators["records_in"].sum()) > 0 and len(snap.watermarks) else None

        snap = wait_for(has_metrics, "the bench job's metrics", timeout=90)
        took, cpu0 = [], _cpu_s()
        for _ in range(n):
            snap = snapshot(lab.flink_rest, job.job_id, snap, pool)
            took.append(snap.took_ms)
        cpu_ms = (_cpu_s() - cpu0) / n * 1000
        return {
            "vertices": len(snap.operators),
            "median_ms": statistics.median(took),
            "max_ms": max(took),
            "cpu_ms_per_refresh": cpu_ms,
            "idle_cpu_pct": cpu_ms / (EVERY_S * 1000) * 100,
        }
    finally:
        pool.shutdown(wait=False)
        job.stop()
        lab.delete_topic(topic)
