"""Benchmark: how fast the real stack starts and answers, and what it costs in memory.

    python -m labkit.bench            (or: make bench; --json adds the raw measurements; --help)
    python -m labkit.bench --only classroom --learners 3 --rate 200 --seconds 15

`--only lab` or `--only classroom` runs one of its two parts: the lab's figures, and the
classroom under load (:mod:`labkit.runtime.classroom_bench`: N learners' consumer groups and
Flink jobs reading one shared topic of the three-broker SASL_SSL classroom cluster).

Runs on a PRIVATE lab (a temporary LABKIT_HOME, the shared jar cache) so nobody's lab is
touched, and stops it at the end, also after an error. Side by side in one run: cold start
(a fresh process, as a new kernel), warm job submission on the session cluster and on an
in-kernel mini-cluster (a fresh process too, so its JVM does not inflate this one),
streaming latency, peak memory of the whole stack under a lesson-like workload,
``lab.produce`` against a bare ``KafkaProducer``, and how many jobs one kernel can submit.

Figures are printed against their goals, never asserted: timings on a shared 2-core
machine are noisy, and timing belongs in a benchmark, not in a test. The exit status is
non-zero only when a measurement crashed.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psutil

from . import paths
from .explorer import bench as explorer_bench
from .jobview import bench as jobview_bench
from .kafka import closing
from .runtime import classroom_bench
from .sql import bench as sql_bench
from .waiting import wait_for

if TYPE_CHECKING:
    from .lab import Lab

N_WARM, N_LATENCY, N_EVENTS, MAX_JOBS = 5, 12, 50_000, 100
COUNT_SQL = "SELECT COUNT(*) AS n FROM clicks"
Bound = tuple[str, float] | None
#: key, label, unit, goal, must, decimals
ROWS: list[tuple[str, str, str, Bound, Bound, int]] = [
    ("cold", "cold start: labkit up -> first Flink result via Kafka", "s", ("<=", 12), ("<", 20), 1),
    ("warm", "warm submission -> result, session cluster (median of 5)", "s", ("<=", 0.8), ("<", 1.2), 2),
    ("mini", "  the same on an in-kernel mini-cluster (median of 5)", "s", None, None, 2),
    ("ratio", "  ratio session cluster / mini-cluster", "x", None, None, 2),
    ("latency", "event -> Kafka -> Flink SQL -> Kafka -> notebook (med.)", "ms", ("<=", 200), ("<", 350), 0),
    ("memory", "peak memory of the whole stack, lesson-like workload", "GB", ("<=", 1.8), ("<", 2.2), 2),
    ("produce", "lab.produce / raw KafkaProducer throughput", "x", (">=", 0.9), (">=", 0.8), 2),
    ("jobs", f"jobs from one kernel before a failure (of {MAX_JOBS})", "jobs", (">=", 100), (">=", 50), 0),
    ("sql_cold", "cold start: labkit up -> first %%flink_sql result", "s", ("<=", 12), ("<", 20), 1),
    ("sql_warm", "warm %%flink_sql bounded SELECT on Kafka -> table (med.)", "s", ("<=", 1), ("<", 2), 2),
    ("sql_lost", "live GROUP BY at ~5,000 changes/s: changes lost", "", ("<=", 0), ("<=", 0), 0),
    ("sql_rate", "  changes applied per second", "/s", None, None, 0),
    ("sql_redraws", "  live table redraws per second", "/s", ("<=", 4), None, 1),
    ("sql_reply", "  a `1+1` cell's reply meanwhile (slowest)", "ms", ("<=", 200), None, 0),
    ("sql_rss", "SQL Gateway RSS after that use", "MB", ("<=", 250), ("<", 400), 0),
    ("xp_refresh", "explorer refresh, 50 topics x 4 partitions, 10 groups", "ms", ("<=", 300), ("<", 1e3), 0),
    ("xp_idle", "  the same when nothing moved (sizes, settings skipped)", "ms", None, None, 0),
    ("xp_page", "message browser: open a partition at an offset -> page 1", "ms", ("<=", 300), ("<", 1e3), 0),
    ("jv_refresh", "job view refresh, a 6-operator job (median)", "ms", ("<=", 200), ("<", 500), 0),
    ("idle_cpu", "kernel CPU, explorer + job view open, lab idle", "%", ("<=", 2), ("<", 5), 1),
]
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- fresh processes: a new kernel's first result, and the mini-cluster ---------------------


def cold_worker() -> None:
    """Connect, send events, start a Kafka -> Flink -> Kafka job; print when its first result
    is read back (wall clock: the parent started its clock before `labkit up`)."""
    steps = {"process started": psutil.Process().create_time()}
    import labkit
    from labkit import events

    steps["labkit imported"] = time.time()
    lab = labkit.connect(quiet=True)
    src = lab.create_topic("bench-cold-in", partitions=2, replace=True)
    dst = lab.create_topic("bench-cold-out", replace=True)
    lab.produce(src, list(events.clicks(200, seed=1)), key="user_id")
    steps["topics made, events sent"] = time.time()
    t_env = lab.table_env()
    steps["client JVM up"] = time.time()
    lab.kafka_table(t_env, "clicks", "user_id STRING, page STRING", topic=src)
    lab.kafka_table(t_env, "carts", "user_id STRING, page STRING", topic=dst)
    job = lab.start(t_env.execute_sql("INSERT INTO carts SELECT * FROM clicks WHERE page = '/cart'"))
    steps["job submitted"] = time.time()
    with closing(lab.reader(dst, start="beginning")) as consumer:
        wait_for_record(consumer, lambda value: True, timeout=180)
    steps["first result read"] = time.time()
    print("BENCH " + json.dumps(steps), flush=True)
    job.stop()


def mini_worker(topic: str, expected: int) -> None:
    """`lab.query`'s bounded count on a mini-cluster inside this process's JVM: the lab's
    config without execution.target=remote (the connector jar stays on pipeline.classpaths)."""
    import labkit
    from labkit.flink import prepare_jvm

    lab = labkit.connect(quiet=True)
    prepare_jvm()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    def query() -> None:
        t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
        for key, value in lab.flink_config().items():
            if key not in ("execution.target", "rest.address", "rest.port"):
                t_env.get_config().set(key, value)
        lab.kafka_table(t_env, "clicks", "user_id STRING", topic=topic, bounded=True)
        n = int(t_env.sql_query(COUNT_SQL).to_pandas()["n"].iloc[0])
        assert n == expected, f"the mini-cluster counted {n}, not {expected}"

    first = _timed(query)
    print("BENCH " + json.dumps({"first": first, "warm": [_timed(query) for _ in range(N_WARM)]}), flush=True)


def _run_worker(*args: str, timeout: float = 600) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "labkit.bench", *args], capture_output=True, text=True, timeout=timeout
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"worker {args[0]} failed (exit {out.returncode}):\n{out.stderr[-2000:]}")


# --- in this process, the "notebook kernel" ---------------------------------------------------


def wait_for_record(consumer: Any, match: Callable[[Any], bool], timeout: float) -> None:
    """Until ``consumer`` reads a record whose value ``match``es (each poll waits 20 ms)."""

    def seen() -> bool:
        return any(match(r.value) for rs in consumer.poll(timeout_ms=20).values() for r in rs)

    wait_for(seen, "a matching record", timeout, every=0)


def event_id_is(event_id: str) -> Callable[[Any], bool]:
    return lambda value: value.get("event_id") == event_id


def _wait_rows(lab: Lab, topic: str, n: int, timeout: float = 120) -> None:
    wait_for(lambda: sum(lab.end_offsets(topic).values()) >= n, f"{n} events in {topic}", timeout, every=0.1)


def stack_rss() -> dict[str, float]:
    """RSS (MB = 10^6 bytes) of every process of the stack, grouped: the lab's tracked processes with
    their children (a TaskManager's Python workers apart), this process and its client JVM.
    RSS counts shared pages once per process, so the sum is an upper bound."""
    from .runtime.processes import tracked
    from .runtime.state import State

    state = State.load()
    roots = [(n, tracked(i)) for n, i in (state.processes if state else {}).items()]
    me = psutil.Process()
    groups: dict[str, float] = {}
    for name, root in [*roots, ("this Python process", me)]:
        try:
            family = [root, *root.children(recursive=True)] if root else []
            for proc in family:
                python = proc.name().startswith("python")
                if proc is me:
                    label = name
                elif root is me:
                    label = "its client JVM" if proc.name() == "java" else "its other children"
                else:
                    label = f"{name} Python workers" if python else name
                groups[label] = groups.get(label, 0.0) + proc.memory_info().rss / 1e6
        except psutil.Error:
            continue
    return groups


def lesson_workload(lab: Lab) -> tuple[dict[str, float], list[float]]:
    """A streaming SQL job and a Python UDF job at once, events produced and read back,
    latencies through the SQL job, while a thread keeps the largest `stack_rss` sample."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    from . import events

    src = lab.create_topic("bench-clicks", partitions=2, replace=True)
    carts, shouted = (lab.create_topic(t, replace=True) for t in ("bench-carts", "bench-shouted"))
    first = list(events.clicks(1000, seed=2))
    lab.produce(src, first, key="user_id")
    peak: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            now = stack_rss()
            peak = now if sum(now.values()) > sum(peak.values()) else peak

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        t_env = lab.table_env()
        for name, topic in (("clicks", src), ("carts", carts), ("shouted", shouted)):
            lab.kafka_table(t_env, name, "event_id STRING, user_id STRING, page STRING", topic=topic)
        lab.start(t_env.execute_sql("INSERT INTO carts SELECT * FROM clicks WHERE page = '/cart'"), "filter")
        t_env.create_temporary_function("shout", udf(lambda s: s.upper(), result_type=DataTypes.STRING()))
        lab.start(t_env.execute_sql("INSERT INTO shouted SELECT event_id, user_id, shout(page) FROM clicks"))
        _wait_rows(lab, carts, sum(e["page"] == "/cart" for e in first))
        _wait_rows(lab, shouted, len(first))  # the Python UDF runs
        latencies: list[float] = []
        with closing(lab.reader(carts, start="end")) as consumer, closing(lab.producer()) as producer:
            for i in range(N_LATENCY + 2):  # the first two warm the path up
                t0 = time.perf_counter()
                event = {"event_id": f"lat-{i}", "user_id": "lat", "page": "/cart"}
                producer.send(src, key="lat", value=event)
                producer.flush()
                wait_for_record(consumer, event_id_is(f"lat-{i}"), 30)
                latencies.append(time.perf_counter() - t0)
        lab.produce(src, list(events.clicks(5000, seed=3)), key="user_id")
        _wait_rows(lab, shouted, len(first) + N_LATENCY + 2 + 5000)
        lab.read(carts)
    finally:
        done.set()
        sampler.join()
        lab.stop_jobs()
    return peak, latencies[2:]


def produce_throughput(lab: Lab) -> tuple[float, float]:
    """Events/s of `lab.produce` and of a bare KafkaProducer (its defaults, json.dumps per
    event): same events and topic, alternating, best of three each (the machine is shared)."""
    from kafka import KafkaProducer

    from . import events

    topic = lab.create_topic("bench-throughput", partitions=3, replace=True)
    evs = list(events.clicks(N_EVENTS, seed=7))

    def raw() -> None:
        producer = KafkaProducer(bootstrap_servers=lab.bootstrap_servers)
        for e in evs:
            producer.send(topic, key=e["user_id"].encode(), value=json.dumps(e).encode())
        producer.flush()
        producer.close()

    rates: dict[str, list[float]] = {"raw": [], "lab": []}
    for _ in range(3):
        rates["raw"].append(N_EVENTS / _timed(raw))
        rates["lab"].append(N_EVENTS / _timed(lambda: lab.produce(topic, evs, key="user_id")))
    return max(rates["lab"]), max(rates["raw"])


# --- the run ------------------------------------------------------------------------------------


def run() -> dict[str, Any]:
    """Measure everything on a private lab; never leaves it running."""
    cache = str(paths.cache())  # the learner's verified jars, resolved before LABKIT_HOME moves
    home = tempfile.mkdtemp(prefix="labkit-bench-")
    for name in ("LABKIT_BACKEND", "LABKIT_PORT", "LABKIT_KAFKA_PORT", "LABKIT_FLINK_PORT", "LABKIT_BROKERS"):
        os.environ.pop(name, None)
    os.environ.update(LABKIT_HOME=home, LABKIT_CACHE=cache, LABKIT_OWNER_PID=str(os.getpid()))
    raw: dict[str, Any] = {"errors": {}, "load_average": [round(os.getloadavg()[0], 1)]}

    def attempt(name: str, fn: Callable[[], Any], quiet: bool = False) -> Any:
        if not quiet:
            print(f"  ... {name}", flush=True)
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - reported with the table; the run goes on
            raw["errors"][name] = f"{type(exc).__name__}: {str(exc)[:500]}"
            return None

    try:
        t0 = time.time()
        up = subprocess.run(
            [sys.executable, "-m", "labkit.cli", "up"], capture_output=True, text=True, timeout=600
        )
        if up.returncode:
            raise RuntimeError(f"labkit up failed:\n{up.stdout}{up.stderr}")
        raw["labkit_up_s"] = time.time() - t0
        # each cold figure: `labkit up`, then a fresh process (a new kernel) to its first result
        after_up = lambda steps, last: raw["labkit_up_s"] + steps[last] - steps["process started"]  # noqa: E731
        sql_cold = attempt("cold start, %%flink_sql", lambda: _run_worker("--cold-sql"))
        raw["sql_cold_s"] = sql_cold and after_up(sql_cold, "first %%flink_sql result")
        cold = attempt("cold start", lambda: _run_worker("--cold"))
        raw["cold_steps_s"] = {k: round(v - t0, 1) for k, v in (cold or {}).items()}
        raw["cold_start_s"] = cold and after_up(cold, "first result read")

        import labkit

        from . import events

        lab = labkit.connect(quiet=True)
        topic = lab.create_topic("bench-count", partitions=2, replace=True)
        lab.produce(topic, list(events.clicks(1000, seed=1)), key="user_id")

        def count() -> int:
            n = int(lab.query(COUNT_SQL, {"clicks": "user_id STRING"}, topics={"clicks": topic})["n"].iloc[0])
            assert n == 1000, f"counted {n}, not 1000"
            return n

        raw["first_job_in_kernel_s"] = attempt("first job of this kernel", lambda: _timed(count))
        raw["warm_s"] = attempt("warm submissions", lambda: [_timed(count) for _ in range(N_WARM)])
        raw["sql_warm_s"] = attempt("warm %%flink_sql", lambda: sql_bench.warm_bounded(lab, topic, 1000))
        raw["sql_live"] = attempt("live %%flink_sql GROUP BY", lambda: sql_bench.continuous_in_kernel(lab))
        raw["sql_rss_mb"] = sql_bench.gateway_rss_mb()
        xp = explorer_bench
        raw["explorer"] = attempt("explorer: 50 topics, 10 groups", lambda: xp.refresh_and_browse(lab))
        raw["job_view"] = attempt("job view of a 6-operator job", lambda: jobview_bench.refresh_ms(lab))
        raw["idle_cpu"] = attempt(
            "a kernel with the explorer and a job view open, idle",
            lambda: explorer_bench.idle_kernel_cpu(lab, explorer_bench.idle_job_sql(lab)),
        )
        raw["mini"] = attempt("mini-cluster", lambda: _run_worker("--mini", topic, "1000"))
        peak, raw["latency_s"] = attempt("lesson-like workload", lambda: lesson_workload(lab)) or ({}, None)
        raw["peak_mb"] = {k: round(v) for k, v in sorted(peak.items(), key=lambda kv: -kv[1])}
        raw["produce"] = attempt("produce throughput", lambda: produce_throughput(lab))
        print(f"  ... up to {MAX_JOBS} jobs from this kernel", flush=True)
        raw["client_jvm_mb"] = [stack_rss().get("its client JVM")]
        t_loop, raw["jobs_ok"] = time.perf_counter(), 0
        while raw["jobs_ok"] < MAX_JOBS and attempt(f"job {raw['jobs_ok'] + 1}", count, quiet=True):
            raw["jobs_ok"] += 1  # the first failure stops the loop and is reported
        raw["jobs_s"] = time.perf_counter() - t_loop
        raw["client_jvm_mb"].append(stack_rss().get("its client JVM"))
    finally:
        raw["load_average"].append(round(os.getloadavg()[0], 1))
        from . import flink

        flink.stop_jobs()
        subprocess.run([sys.executable, "-m", "labkit.cli", "down"], capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
    return raw


def figures(raw: dict[str, Any]) -> dict[str, float | None]:
    """The table's values from the raw measurements (None where one failed)."""
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    warm, mini = med(raw.get("warm_s")), med((raw.get("mini") or {}).get("warm"))
    latency = med(raw.get("latency_s"))
    lab_rate, raw_rate = raw.get("produce") or (None, None)
    live = raw.get("sql_live")
    explorer = explorer_bench.summary(raw.get("explorer") or {})
    return {
        "cold": raw.get("cold_start_s"),
        "warm": warm,
        "mini": mini,
        "ratio": warm / mini if warm and mini else None,
        "latency": latency * 1000 if latency else None,
        "memory": sum(raw["peak_mb"].values()) / 1000 if raw.get("peak_mb") else None,
        "produce": lab_rate / raw_rate if lab_rate and raw_rate else None,
        "jobs": raw.get("jobs_ok"),
        "sql_cold": raw.get("sql_cold_s"),
        "sql_warm": med(raw.get("sql_warm_s")),
        "sql_lost": live["expected_changes"] - live["changes"] if live else None,
        "sql_rate": live["changes_per_s"] if live else None,
        "sql_redraws": live["redraws_per_s"] if live else None,
        "sql_reply": live["reply_s_max"] * 1000 if live else None,
        "sql_rss": raw.get("sql_rss_mb"),
        "xp_refresh": explorer.get("refresh_full_ms"),
        "xp_idle": explorer.get("refresh_idle_ms"),
        "xp_page": explorer.get("page_fresh_ms"),
        "jv_refresh": (raw.get("job_view") or {}).get("median_ms"),
        "idle_cpu": (raw.get("idle_cpu") or {}).get("cpu_percent"),
    }


def verdict(value: float | None, goal: Bound, must: Bound) -> str:
    if value is None:
        return "ERROR"
    if goal and OPS[goal[0]](value, goal[1]):
        return "goal met"
    if must:
        return "must met" if OPS[must[0]](value, must[1]) else "MISSED"
    return ""


def table(rows: list[tuple[str, str, str, Bound, Bound, int]], values: dict[str, float | None]) -> None:
    """Print ``rows`` (key, label, unit, goal, must, decimals) with their ``values`` and verdicts."""
    bound = lambda b: f"{b[0]} {b[1]:g}" if b else ""  # noqa: E731
    print(f"\n| {'figure':<59} | {'measured':>10} | {'goal':>7} | {'must':>7} | verdict  |")
    print(f"|{'-' * 61}|{'-' * 12}|{'-' * 9}|{'-' * 9}|----------|")
    for key, label, unit, goal, must, digits in rows:
        value = values[key]
        shown = "n/a" if value is None else f"{value:.{digits}f} {unit}"
        row = [label.ljust(59), shown.rjust(10), bound(goal).rjust(7), bound(must).rjust(7)]
        print(f"| {' | '.join(row)} | {verdict(value, goal, must):<8} |")


def report(raw: dict[str, Any]) -> None:
    table(ROWS, figures(raw))
    lab_rate, raw_rate = raw.get("produce") or (0, 0)
    mini_first = (raw.get("mini") or {}).get("first", 0)
    jvm = [round(mb or 0) for mb in raw.get("client_jvm_mb", [])]
    print(f"\nload average (1 min) at start and end: {raw['load_average']} on {os.cpu_count()} cores")
    steps = {"labkit up returned": round(raw.get("labkit_up_s", 0), 1), **raw.get("cold_steps_s", {})}
    print("cold start, s since `labkit up` began: " + ", ".join(f"{k} {v}" for k, v in steps.items()))
    first = raw.get("first_job_in_kernel_s") or 0
    print(f"a kernel's first job on a running lab {first:.1f} s (on a mini-cluster: {mini_first:.1f} s)")
    print(f"lab.produce {lab_rate:,.0f} events/s, raw KafkaProducer {raw_rate:,.0f} events/s")
    print(f"latencies: {[round(x * 1000) for x in raw.get('latency_s') or []]} ms")
    live = raw.get("sql_live") or {}
    if live:
        print(
            f"live %%flink_sql: {live['changes']:,} of {live['expected_changes']:,} changes applied, "
            f"counts equal to pandas: {live['counts_equal']}; `1+1` replies median "
            f"{live['reply_s_median'] * 1000:.0f} ms"
        )
    explorer = explorer_bench.summary(raw.get("explorer") or {})
    if explorer:
        print(
            f"explorer (median ms): full refresh {explorer['refresh_full_ms']:.0f},"
            f" idle {explorer['refresh_idle_ms']:.0f};"
            f" first page with a new consumer {explorer['page_fresh_ms']:.0f}, with the kept one"
            f" {explorer['page_kept_ms']:.0f}"
        )
    if raw.get("job_view"):
        print(f"job view: {json.dumps(raw['job_view'], default=str)[:400]}")
    print(f"job loop: {raw.get('jobs_ok')} jobs in {raw.get('jobs_s', 0):.0f} s; client JVM {jvm} MB")
    print("RSS per process group at the peak (MB):")
    for name, mb in raw.get("peak_mb", {}).items():
        print(f"  {name:<40} {mb:>6}")
    for name, error in raw["errors"].items():
        print(f"FAILED {name}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.bench",
        description="Measure the real stack on a private lab (a few minutes); figures against their goals.",
    )
    parser.add_argument("--json", action="store_true", help="also print the raw measurements as JSON")
    parser.add_argument(
        "--only",
        choices=("lab", "classroom"),
        help="run one part: the lab's figures, or the classroom under load (default: both)",
    )
    default = classroom_bench.Plan()
    parser.add_argument(
        "--learners", type=int, default=default.learners, help="classroom: learners (default: %(default)s)"
    )
    parser.add_argument(
        "--rate", type=int, default=default.rate, help="classroom: events/s produced (default: %(default)s)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=default.seconds,
        help="classroom: for how long (default: %(default)s)",
    )
    # the fresh processes `run` starts for its cold-start and mini-cluster figures
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cold-sql", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mini", nargs=2, metavar=("TOPIC", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold:
        cold_worker()
        return 0
    if args.cold_sql:
        sql_bench.cold_worker()
        return 0
    if args.mini:
        mini_worker(args.mini[0], int(args.mini[1]))
        return 0
    crashed = False
    if args.only != "classroom":
        print("labkit benchmark on a private lab (a few minutes)...", flush=True)
        raw = run()
        report(raw)
        if args.json:
            print(json.dumps(raw, default=str))
        # a failing job in the job loop is a figure; any other failure is a crash
        crashed = any(not name.startswith("job ") for name in raw["errors"])
    if args.only != "lab":
        plan = classroom_bench.Plan(args.learners, args.rate, args.seconds)
        print(
            f"\nclassroom under load on a private classroom (~{plan.seconds / 60 + 1.5:.0f} min)...",
            flush=True,
        )
        room = classroom_bench.run(plan)
        table(classroom_bench.ROWS, classroom_bench.figures(room))
        print("\n" + "\n".join(classroom_bench.details(room)))
        if args.json:
            print(json.dumps(room, default=str))
        crashed = crashed or bool(room["errors"])
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
