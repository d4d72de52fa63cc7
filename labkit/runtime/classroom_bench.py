"""The classroom under load (issue #24): `make bench`'s figures for a class reading one shared topic.

    python -m labkit.bench --only classroom [--learners 10 --rate 2000 --seconds 300]

A workshop's Kafka is one cluster that every learner reads at once: what matters is that
each learner's consumer group sees every event the instructor streams, how late, and what
that costs the brokers. On a private LABKIT_HOME this starts the classroom cluster
(:mod:`labkit.runtime.classroom`: three SASL_SSL brokers, ACLs on) and then, for each learner:

- a consumer group ``learner-NN.bench`` (kafka-python, with the learner's connection
  profile) in a process of its own - one Python per learner, as in a real class - that
  notes each event's sequence number and its end-to-end lag (received - sent);
- a small Flink job of the learner's own, submitted with a lab handle whose Endpoints name
  that learner's profile: a processing-time TUMBLE count over ``shared.payments`` written
  to ``learner-NN.counts``. The jobs share ONE local Flink session cluster (a lab started
  with ``LABKIT_KAFKA_PROFILE``: Flink only, no Kafka), given enough TaskManagers for one
  slot per learner - a room has a Flink per learner, the bench one with as many slots.

The instructor (a process too) produces into ``shared.payments`` at a steady rate - paced
by a schedule, each event sent when it is due (never a burst of a second's worth) - each
event carrying its sequence number and its send time. A sampler notes the brokers' CPU
(% of one core, summed over the three JVMs) and resident memory meanwhile.

Figures, never asserted (`labkit.bench`): events missed per group (goal 0), lag p50/p95/max
over every group's events, the rate achieved, broker CPU and peak memory, Flink jobs whose
total differs from the events sent (goal 0). The run ends after the last group has every
event or stopped receiving for `IDLE_S`; everything it started is stopped, also after an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psutil

from .. import paths
from ..waiting import wait_for
from . import classroom, flink_proc, profile

if TYPE_CHECKING:
    from ..flink.jobs import Job
    from ..lab import Lab

TOPIC = "shared.payments"
#: A group that has had nothing new for this long after the instructor finished has missed the rest.
IDLE_S = 30.0
#: The learners' Flink jobs: a count per processing-time window, so every window closes on its own.
WINDOW_S = 5
COUNT_SQL = (
    "INSERT INTO counts SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE payments, "
    f"DESCRIPTOR(proc), INTERVAL '{WINDOW_S}' SECOND)) GROUP BY window_start, window_end"
)
#: LABKIT_* variables the run sets or clears, restored at its end.
ENVIRONMENT = (
    "LABKIT_HOME",
    "LABKIT_CACHE",
    "LABKIT_OWNER_PID",
    "LABKIT_BACKEND",
    "LABKIT_PORT",
    "LABKIT_KAFKA_PORT",
    "LABKIT_FLINK_PORT",
    "LABKIT_BROKERS",
    "LABKIT_KAFKA_PROFILE",
    "LABKIT_FLINK_TLS",
)

Bound = tuple[str, float] | None
#: key, label, unit, goal, must, decimals (as `labkit.bench.ROWS`)
ROWS: list[tuple[str, str, str, Bound, Bound, int]] = [
    ("cr_missed", "classroom: events a learner's group missed (all groups)", "", ("<=", 0), ("<=", 0), 0),
    ("cr_rate", "  instructor's rate achieved, % of the rate asked", "%", (">=", 99), (">=", 95), 1),
    ("cr_lag_p50", "  end-to-end lag, every group's events: p50", "ms", ("<=", 100), None, 0),
    ("cr_lag_p95", "  end-to-end lag: p95", "ms", ("<=", 500), ("<", 2000), 0),
    ("cr_lag_max", "  end-to-end lag: max", "ms", None, None, 0),
    ("cr_cpu", "  broker CPU, 3 brokers summed (mean, % of one core)", "%", None, None, 0),
    ("cr_rss", "  broker memory, 3 brokers summed (peak RSS)", "MB", None, None, 0),
    ("cr_flink", "  learners' Flink jobs whose total is not the events sent", "", ("<=", 0), ("<=", 0), 0),
]


@dataclass(frozen=True)
class Plan:
    """What to run: ``learners`` groups (and Flink jobs, unless ``flink`` is False) reading
    ``rate`` events/s for ``seconds``."""

    learners: int = 10
    rate: int = 2000
    seconds: float = 300.0
    flink: bool = True

    @property
    def events(self) -> int:
        return int(self.rate * self.seconds)


# --- the processes: the instructor, and one consumer group per learner ------------------------


def produce_worker(profile_path: str, topic: str, rate: float, seconds: float) -> None:
    """Send ``rate * seconds`` events to ``topic`` as the profile's user, each when it is due
    (event i at start + i/rate: a steady stream, never a second's worth at once), each with
    its sequence number and send time; print what was sent, how long it took and how far
    behind its schedule a send ever was."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **profile.kafka_python_options(profile.load(profile_path)), acks="all", linger_ms=5
    )
    total, sent, behind = int(rate * seconds), 0, 0.0
    t0 = time.time()
    while sent < total:
        now = time.time()
        due = min(total, int((now - t0) * rate) + 1)
        behind = max(behind, now - (t0 + sent / rate))
        while sent < due:
            event = {"seq": sent, "sent": time.time(), "amount": round(10 + sent % 990 / 10, 2)}
            producer.send(topic, json.dumps(event).encode())
            sent += 1
        pause = t0 + sent / rate - time.time()
        if pause > 0:
            time.sleep(pause)
    last = time.time()
    producer.flush()
    producer.close()
    print("RESULT " + json.dumps({"sent": sent, "seconds": last - t0, "behind_max_s": behind}), flush=True)


def consume_worker(profile_path: str, group: str, topic: str, capacity: int, lag_file: str) -> None:
    """One learner's consumer group: read ``topic`` from the beginning, note every event's
    sequence number (of at most ``capacity``) and its lag in ms (received - sent, as
    float32 in ``lag_file``). Prints READY once partitions are assigned; the parent then
    writes the number of events sent to stdin when the instructor is done. Ends when all
    of them were seen, or nothing new came for `IDLE_S` after that, or stdin closes."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        **profile.kafka_python_options(profile.load(profile_path)),
    )
    seen, lags = bytearray(capacity), array("f")
    counts = {"received": 0, "distinct": 0, "duplicates": 0, "foreign": 0}
    total: list[int] = []

    def take(batches: dict) -> int:
        now, new = time.time(), 0
        for records in batches.values():
            for record in records:
                counts["received"] += 1
                try:
                    event = json.loads(record.value)
                    seq, sent = int(event["seq"]), float(event["sent"])
                except (ValueError, KeyError, TypeError):
                    counts["foreign"] += 1
                    continue
                if not 0 <= seq < capacity:
                    counts["foreign"] += 1
                    continue
                lags.append((now - sent) * 1000)
                if seen[seq]:
                    counts["duplicates"] += 1
                else:
                    seen[seq], new = 1, new + 1
        counts["distinct"] += new
        return new

    def read_total() -> None:
        line = sys.stdin.readline()
        total.append(int(line) if line.strip() else -1)  # -1: the parent is gone

    deadline = time.monotonic() + 120
    while not consumer.assignment():
        take(consumer.poll(timeout_ms=100))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{group} was assigned no partition of {topic} within 120 s")
    print("READY", flush=True)
    threading.Thread(target=read_total, daemon=True).start()
    last_new = time.monotonic()
    while True:
        if take(consumer.poll(timeout_ms=100)):
            last_new = time.monotonic()
        if total and (total[0] < 0 or counts["distinct"] >= total[0]):
            break
        if total and time.monotonic() - last_new > IDLE_S:
            break
    consumer.close()  # commits the group's offsets
    with open(lag_file, "wb") as out:
        lags.tofile(out)
    expected = total[0] if total and total[0] >= 0 else 0
    print("RESULT " + json.dumps({**counts, "missed": max(expected - counts["distinct"], 0)}), flush=True)


# --- the parent: processes, sampling ------------------------------------------------------------


def _worker(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "labkit.runtime.classroom_bench", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def _line(proc: subprocess.Popen, prefix: str, timeout: float, log: Path) -> str:
    """The first line of ``proc``'s output that starts with ``prefix`` (what follows it)."""
    deadline = time.monotonic() + timeout
    out: IO[str] = proc.stdout  # type: ignore[assignment]
    while time.monotonic() < deadline:
        ready, _, _ = select.select([out], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = out.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise RuntimeError(
        f"a bench worker ({proc.pid}) gave no {prefix.strip()} within {timeout:.0f} s:\n{tail}"
    )


def _end(procs: list[subprocess.Popen]) -> None:
    """Stop the workers this run started (by their own Popen), if still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


class Sampler:
    """Every second: CPU (% of one core) and RSS (MB) summed per group of processes
    (``groups``: name -> pids, each with its children), and the machine's CPU."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, pids in groups.items():
            found = []
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    found += [proc, *proc.children(recursive=True)]
            self.procs[name] = found
        self.cpu: dict[str, list[float]] = {name: [] for name in groups}
        self.rss: dict[str, float] = {name: 0.0 for name in groups}
        self.machine: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for procs in self.procs.values():
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent(None)
        psutil.cpu_percent(None)
        while not self.done.wait(1.0):
            for name, procs in self.procs.items():
                cpu = rss = 0.0
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss / 1e6
                self.cpu[name].append(cpu)
                self.rss[name] = max(self.rss[name], rss)
            self.machine.append(psutil.cpu_percent(None))

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def summary(self) -> dict[str, Any]:
        mean = lambda xs: round(sum(xs) / len(xs), 1) if xs else None  # noqa: E731
        return {
            "cpu_mean_pct": {k: mean(v) for k, v in self.cpu.items()},
            "cpu_max_pct": {k: round(max(v), 1) if v else None for k, v in self.cpu.items()},
            "rss_peak_mb": {k: round(v) for k, v in self.rss.items()},
            "machine_cpu_mean_pct": mean(self.machine),
            "samples": len(self.machine),
        }


# --- the learners' Flink ----------------------------------------------------------------------


def _learners_flink(home: Path, kafka_profile: Path, slots: int) -> None:
    """A lab on ``home`` with ``kafka_profile``: its own Flink, no Kafka (`labkit up`), and
    TaskManagers added (tracked in its state: its `labkit down` stops them) until it has
    ``slots`` slots."""
    env = {**os.environ, "LABKIT_HOME": str(home), "LABKIT_KAFKA_PROFILE": str(kafka_profile)}
    up = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "up"], env=env, capture_output=True, text=True, timeout=600
    )
    if up.returncode:
        raise RuntimeError(f"the learners' Flink (`labkit up`) failed:\n{up.stdout}{up.stderr}")
    extra = math.ceil(slots / flink_proc.SLOTS) - 1
    if extra <= 0:
        return
    from .jvm import find_java
    from .processes import track
    from .state import State

    state = State.load()
    jm = state.processes["flink-jobmanager"] if state else {}
    ports = flink_proc.FlinkPorts(jm["port"], jm["rpc_port"], jm["web_port"])
    known = flink_proc.taskmanager_ids(ports.rest_address)
    started = {}
    for i in range(2, extra + 2):
        (proc,) = flink_proc.start(find_java().home, ports, ("taskmanager",)).values()
        track(f"flink-taskmanager-{i}", proc, log=str(paths.logs() / "flink-taskmanager.log"))
        started[f"taskmanager-{i}"] = proc
    flink_proc.wait_ready(ports.rest_address, started, len(started), known=known)


def _start_counts(lab: Lab, learner: str) -> Job:
    """``learner``'s Flink job: a count of ``shared.payments`` per processing-time window into
    ``learner-NN.counts`` (made afresh), with the learner's login."""
    mine = classroom.prefix(learner)
    counts = lab.create_topic(f"{mine}counts", partitions=1, replace=True)
    t_env = lab.table_env()
    schema = "seq BIGINT, sent DOUBLE, amount DOUBLE, proc AS PROCTIME()"
    lab.kafka_table(t_env, "payments", schema, topic=TOPIC, group_id=f"{mine}flink-bench")
    lab.kafka_table(t_env, "counts", "window_start TIMESTAMP(3), n BIGINT", topic=counts)
    return lab.start(t_env.execute_sql(COUNT_SQL), f"{learner} payments count")


def _sum_counts(profile_path: Path, topic: str) -> int:
    """The sum of ``n`` over everything now in ``topic`` (one partition), read as the profile's
    user with Kafka's own topic name."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**profile.kafka_python_options(profile.load(profile_path)))
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end, total = consumer.end_offsets([tp])[tp], 0
        deadline = time.monotonic() + 30
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                total += sum(int(json.loads(r.value)["n"]) for r in records)
        return total
    finally:
        consumer.close()


def _flink_totals(
    profiles_of: dict[str, Path], expected: int, timeout: float
) -> tuple[dict[str, int], dict[str, str]]:
    """Each learner's sum of its window counts, once all equal ``expected`` or after ``timeout`` s;
    and why a learner's could not be read (the last error)."""
    from ..errors import LabError

    totals: dict[str, int] = {}
    errors: dict[str, str] = {}

    def read() -> bool:
        for learner, path in profiles_of.items():
            if totals.get(learner) == expected:
                continue
            try:
                totals[learner] = _sum_counts(path, f"{classroom.prefix(learner)}counts")
                errors.pop(learner, None)
            except Exception as exc:  # noqa: BLE001 - reported with the figures
                errors[learner] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return len(totals) == len(profiles_of) and all(n == expected for n in totals.values())

    with contextlib.suppress(LabError):  # not all exact in time: the figure says so
        wait_for(read, "every learner's Flink total", timeout, every=2)
    return totals, errors


# --- the run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    """LABKIT_* as they were, after the run (a test, or the rest of `make bench`, goes on)."""
    saved = {k: os.environ.get(k) for k in ENVIRONMENT}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(plan: Plan = Plan(), say: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure ``plan`` on a private classroom (and learners' Flink); never leaves them running.
    The raw measurements, ``errors`` naming what crashed."""
    raw: dict[str, Any] = {"plan": dataclasses.asdict(plan), "errors": {}}
    with _environment():
        cache = str(paths.cache())
        root = Path(tempfile.mkdtemp(prefix="labkit-classroom-bench-"))
        room_home, flink_home = root / "classroom", root / "learners"
        for name in ENVIRONMENT:
            os.environ.pop(name, None)
        os.environ.update(LABKIT_CACHE=cache, LABKIT_OWNER_PID=str(os.getpid()))
        workers: list[subprocess.Popen] = []
        jobs: list[Job] = []
        try:
            _measure(plan, room_home, flink_home, raw, workers, jobs, say)
        except Exception as exc:  # noqa: BLE001 - reported with the figures
            raw["errors"]["classroom load"] = f"{type(exc).__name__}: {str(exc)[:800]}"
        finally:
            _end(workers)
            _teardown(jobs, room_home, flink_home, raw)
            shutil.rmtree(root, ignore_errors=True)
    return raw


def _teardown(jobs: list[Job], room_home: Path, flink_home: Path, raw: dict[str, Any]) -> None:
    from ..flink import stop_jobs
    from . import lifecycle

    with contextlib.suppress(Exception):
        stop_jobs(jobs)
    for home in (flink_home, room_home):
        if (home / "state.json").exists():
            os.environ["LABKIT_HOME"] = str(home)
            try:
                lifecycle.down(quiet=True)
            except Exception as exc:  # noqa: BLE001 - reported; the other home is still stopped
                raw["errors"][f"stopping {home.name}"] = f"{type(exc).__name__}: {str(exc)[:300]}"


def _measure(
    plan: Plan,
    room_home: Path,
    flink_home: Path,
    raw: dict[str, Any],
    workers: list[subprocess.Popen],
    jobs: list[Job],
    say: Callable[[str], None],
) -> None:
    import labkit

    from .state import Endpoints, State, owner_pid, register_home

    t0 = time.monotonic()
    say(f"  ... classroom: {plan.learners} learners, 3 SASL_SSL brokers")
    room_home.mkdir(parents=True)
    os.environ["LABKIT_HOME"] = str(room_home)
    State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
    register_home()
    room = classroom.start(plan.learners)
    learners = room.learners
    paths_of = {user: room.profile_path(user) for user in (*learners, classroom.INSTRUCTOR)}
    brokers = [int(i["pid"]) for i in room.kafka.infos]
    raw["pids"] = {"brokers": brokers}
    raw["classroom_start_s"] = round(time.monotonic() - t0, 1)
    before = _topic_size(paths_of[classroom.INSTRUCTOR])

    labs: dict[str, Lab] = {}
    flink_pids: list[int] = []
    if plan.flink:
        t1 = time.monotonic()
        say(f"  ... the learners' Flink: one session cluster, {plan.learners} slots, a job per learner")
        os.environ["LABKIT_HOME"] = str(flink_home)
        _learners_flink(flink_home, paths_of[learners[0]], plan.learners)
        state = State.load()
        if state is None:
            raise RuntimeError(f"`labkit up` left no lab state in {flink_home}")
        flink_pids = [int(i["pid"]) for n, i in state.processes.items() if n.startswith("flink-")]
        raw["pids"]["flink"] = flink_pids
        for learner in learners:
            endpoints = dataclasses.replace(state.endpoints, kafka_profile=str(paths_of[learner]))
            labs[learner] = labkit.Lab(endpoints)
            jobs.append(_start_counts(labs[learner], learner))
        for learner, job in zip(learners, jobs, strict=True):
            labs[learner].wait_until_running(job, timeout=120)
        raw["flink_setup_s"] = round(time.monotonic() - t1, 1)
        raw["flink_taskmanagers"] = math.ceil(plan.learners / flink_proc.SLOTS)

    say(f"  ... {plan.rate:,} events/s for {plan.seconds:.0f} s to {TOPIC}, {len(learners)} groups reading")
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=room_home))
    log = scratch / "workers.log"
    consumers: dict[str, subprocess.Popen] = {}
    for learner in learners:
        group, lag_file = f"{classroom.prefix(learner)}bench", scratch / f"{learner}.lags"
        args = ["consume", str(paths_of[learner]), group, TOPIC, str(plan.events), str(lag_file)]
        consumers[learner] = _worker(args, log)
        workers.append(consumers[learner])
    for proc in consumers.values():
        _line(proc, "READY", 120, log)
    groups = {
        "brokers": brokers,
        "learners' Flink": flink_pids,
        "learners' consumers": [p.pid for p in consumers.values()],
    }
    args = ["produce", str(paths_of[classroom.INSTRUCTOR]), TOPIC, str(plan.rate), str(plan.seconds)]
    producer = _worker(args, log)
    workers.append(producer)
    with Sampler({**groups, "instructor": [producer.pid]}) as sampler:
        sent = json.loads(_line(producer, "RESULT", plan.seconds * 2 + 120, log))
        raw["producer"] = sent
        for proc in consumers.values():
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(f"{sent['sent']}\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
        raw["groups"] = {
            learner: json.loads(_line(proc, "RESULT", IDLE_S + plan.seconds + 120, log))
            for learner, proc in consumers.items()
        }
    raw["sampled"] = sampler.summary()
    raw["lag_ms"] = _lag_percentiles([scratch / f"{learner}.lags" for learner in learners])
    if plan.flink:
        expected = before + sent["sent"]
        raw["flink_expected"] = expected
        raw["flink_totals"], flink_errors = _flink_totals(
            {learner: paths_of[learner] for learner in learners}, expected, timeout=WINDOW_S * 2 + 90
        )
        if flink_errors:
            raw["flink_read_errors"] = flink_errors
    with contextlib.suppress(Exception):
        os.environ["LABKIT_HOME"] = str(room_home)
        table = classroom.lag(room)
        mine = table[table.group.str.endswith(".bench")]
        raw["instructor_lag_view"] = {str(r.group): int(r.lag) for r in mine.itertuples()}


def _topic_size(instructor: Path) -> int:
    """Events now in `TOPIC` (0 on a fresh classroom): what the learners' Flink jobs also count."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**profile.kafka_python_options(profile.load(instructor)))
    try:
        parts = [TopicPartition(TOPIC, p) for p in range(classroom.PARTITIONS)]
        return int(sum(consumer.end_offsets(parts).values()))
    finally:
        consumer.close()


def _lag_percentiles(files: list[Path]) -> dict[str, float] | None:
    import numpy as np

    parts = [np.fromfile(f, dtype=np.float32) for f in files if f.exists()]
    lags = np.concatenate(parts) if parts else np.array([], dtype=np.float32)
    if not len(lags):
        return None
    p50, p95, p99 = np.percentile(lags, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(lags.max()), "n": len(lags)}


# --- figures and the report ---------------------------------------------------------------------


def figures(raw: dict[str, Any]) -> dict[str, float | None]:
    """The table's values (None where the run did not get that far)."""
    groups, lag = raw.get("groups"), raw.get("lag_ms") or {}
    producer, sampled = raw.get("producer"), raw.get("sampled") or {}
    plan = raw.get("plan") or {}
    totals = raw.get("flink_totals")
    rate = producer["sent"] / producer["seconds"] if producer and producer["seconds"] else None
    return {
        "cr_missed": sum(g["missed"] for g in groups.values()) if groups else None,
        "cr_rate": 100 * rate / plan["rate"] if rate and plan.get("rate") else None,
        "cr_lag_p50": lag.get("p50"),
        "cr_lag_p95": lag.get("p95"),
        "cr_lag_max": lag.get("max"),
        "cr_cpu": (sampled.get("cpu_mean_pct") or {}).get("brokers"),
        "cr_rss": (sampled.get("rss_peak_mb") or {}).get("brokers"),
        "cr_flink": (
            sum(n != raw.get("flink_expected") for n in totals.values()) + plan["learners"] - len(totals)
            if totals is not None
            else None
        ),
    }


def details(raw: dict[str, Any]) -> list[str]:
    """The lines printed under the table: what ran, per group, per process group."""
    plan, out = raw.get("plan") or {}, []
    producer = raw.get("producer") or {}
    out.append(
        f"classroom load: {plan.get('learners')} learners, {plan.get('rate'):,} events/s asked for "
        f"{plan.get('seconds'):.0f} s; classroom up in {raw.get('classroom_start_s')} s"
    )
    if producer:
        out.append(
            f"  instructor sent {producer['sent']:,} events in {producer['seconds']:.1f} s "
            f"({producer['sent'] / max(producer['seconds'], 1e-9):,.0f}/s); furthest behind its schedule "
            f"{producer['behind_max_s'] * 1000:.0f} ms"
        )
    for learner, g in (raw.get("groups") or {}).items():
        out.append(
            f"  {learner}.bench: {g['distinct']:,} distinct events, missed {g['missed']}, "
            f"duplicates {g['duplicates']}, not the bench's {g['foreign']}"
        )
    lag = raw.get("lag_ms")
    if lag:
        out.append(f"  lag over {lag['n']:,} receipts: p99 {lag['p99']:.0f} ms")
    if "flink_totals" in raw:
        totals, expected = raw["flink_totals"], raw.get("flink_expected")
        exact = len(totals) == plan.get("learners") and all(n == expected for n in totals.values())
        out.append(
            f"  learners' Flink: one local session cluster, {raw.get('flink_taskmanagers')} TaskManager(s) "
            f"(set up with the jobs in {raw.get('flink_setup_s')} s); "
            f"totals exact: {'yes' if exact else 'no'} "
            f"(expected {expected}: {totals})"
        )
    elif plan and not plan.get("flink"):
        out.append("  learners' Flink jobs: not run (flink=False)")
    sampled = raw.get("sampled") or {}
    for name, mean in (sampled.get("cpu_mean_pct") or {}).items():
        peak = sampled["cpu_max_pct"].get(name)
        rss = sampled["rss_peak_mb"].get(name)
        out.append(f"  {name:<20} CPU mean {mean}% max {peak}% of one core, peak RSS {rss} MB")
    if sampled:
        out.append(
            f"  machine CPU mean {sampled.get('machine_cpu_mean_pct')}% of {os.cpu_count()} cores "
            f"({sampled.get('samples')} samples)"
        )
    for learner, error in (raw.get("flink_read_errors") or {}).items():
        out.append(f"  {learner}'s counts could not be read: {error}")
    if raw.get("instructor_lag_view"):
        out.append(f"  `classroom lag` at the end (instructor): {raw['instructor_lag_view']}")
    out += [f"FAILED {name}: {error}" for name, error in raw.get("errors", {}).items()]
    return out


def main(argv: list[str]) -> int:
    """The worker processes: ``produce PROFILE TOPIC RATE SECONDS`` and
    ``consume PROFILE GROUP TOPIC CAPACITY LAG_FILE``."""
    kind, *args = argv
    if kind == "produce":
        produce_worker(args[0], args[1], float(args[2]), float(args[3]))
    elif kind == "consume":
        consume_worker(args[0], args[1], args[2], int(args[3]), args[4])
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
