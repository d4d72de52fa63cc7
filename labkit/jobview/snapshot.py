"""One moment of one Flink job, as its JobManager's REST API tells it: pure data, no widgets.

`snapshot(rest, job_id, previous)` asks the JobManager (``lab.flink_rest``, through
`labkit.flink.client.rest_api`, so any backend works) and returns a `JobSnapshot`:

* ``operators`` - one row per job vertex (operator chain): records in/out as ``/jobs/:id``
  reports them (Flink's *Records Received/Sent*: between tasks, a source's are what it
  read), Flink's own rates (``numRecordsIn/OutPerSecond``, summed over subtasks: Flink's
  meters average over their last 60 s), busy and backpressured time (ms per second of the
  busiest subtask, as the Web UI colours a vertex, shown as %);
* ``edges`` - from ``/jobs/:id/plan`` (each node's ``inputs``: ``id``, ``ship_strategy``);
* ``checkpoints`` - counts, the last completed one (duration, size), the restored one; and
  each operator's state in that checkpoint (``state_bytes``: the full size of what it keeps,
  from ``/jobs/:id/checkpoints/details/:cid``, asked once per new checkpoint);
* ``watermarks`` - every subtask of every vertex: its input watermark (what
  ``/jobs/:id/vertices/:vid/watermarks`` answers); a source task has none, so its row is
  its source operator's *output* watermark (``kind``). ``Long.MIN_VALUE`` is "none yet";
* ``partitions`` - per Kafka partition of every source subtask. What Flink 2.3's Kafka
  source exposes (found on the lab's cluster) is per *split* (a split is a partition):
  ``<source>.split.<topic>-<p>.watermark.currentWatermark``, ``...activeTimeMsPerSecond``,
  ``...idleTimeMsPerSecond``, ``...pausedTimeMsPerSecond`` (and their ``accumulated...Ms``),
  and the reader's ``<source>.KafkaSourceReader.topic.<t>.partition.<p>.currentOffset``
  (the offset of the last record read, -1 before the first) and ``committedOffset``. A
  source that exposes no split metrics gets the offsets alone and a line in ``notes``
  saying so - nothing is made up. Flink writes ``.``, ``:``, ``,`` and spaces of names as
  ``_`` in metric names, so a topic ``a.b`` shows as ``a_b``.

Why few calls: each is an HTTPS request with its own handshake. A refresh is ``/jobs/:id``,
one metrics call per vertex (every subtask's values in one ``?get=``, in parallel) and
``/checkpoints``; the plan is asked once, and a source vertex's list of metric names (to
find its split metrics) at most every `RELIST_S` seconds. Note that the JobManager
refreshes its metric store at most every ``metrics.fetcher.update-interval`` (Flink's
default 10 s; the lab's cluster 2 s, `labkit.runtime.flink_proc.config`), when asked: values
move in steps, and the first answer after a quiet spell is the previous step.
"""

from __future__ import annotations

import datetime
import re
import time
import urllib.error
import urllib.parse
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import LabError
from ..flink.client import ENDED, rest_api
from . import checkpoints
from .checkpoints import StateOf

#: Flink's "no watermark yet" (Long.MIN_VALUE): never a date.
NO_WATERMARK = -(2**63)
#: Flink's last watermark of a finished input (Long.MAX_VALUE): "end of input", not a date.
END_WATERMARK = 2**63 - 1
#: A source vertex's metric names are listed again after this many seconds (new partitions),
#: or after `RELIST_EMPTY_S` while they hold no split metrics yet (a reader registers them late).
RELIST_S, RELIST_EMPTY_S = 30.0, 5.0
#: The longest ``?get=`` query sent at once (Flink's REST server refuses long request lines).
MAX_QUERY = 3000
#: Per subtask of every vertex, asked without listing first (an absent one is just not answered).
TASK_METRICS = (
    "busyTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "currentInputWatermark",
)
SPLIT_METRICS = ("currentWatermark", "activeTimeMsPerSecond", "idleTimeMsPerSecond", "pausedTimeMsPerSecond")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SOURCE_WM = re.compile(r"^(\d+)\.([^.]+)\.currentOutputWatermark$")
_SPLIT = re.compile(r"^(\d+)\.([^.]+)\.split\.(.+)-(\d+)\.watermark\.(\w+)$")
_OFFSET = re.compile(r"^(\d+)\.([^.]+)\.KafkaSourceReader\.topic\.(.+)\.partition\.(\d+)\.currentOffset$")
OPERATOR_COLUMNS = [
    "vertex_id", "operator", "name", "parallelism", "status", "records_in", "records_out",
    "in_per_s", "out_per_s", "busy_pct", "backpressured_pct", "idle_pct", "state_bytes",
]  # fmt: skip
WATERMARK_COLUMNS = ["vertex_id", "vertex", "subtask", "kind", "watermark_ms", "watermark"]
PARTITION_COLUMNS = [
    "vertex", "subtask", "topic", "partition", "watermark_ms", "watermark", "offset",
    "active_ms_per_s", "idle_ms_per_s", "paused_ms_per_s", "state", "holds_back",
]  # fmt: skip


class JobManagerDown(LabError):
    """The JobManager did not answer (stopped, restarting, unreachable)."""


class JobGone(LabError):
    """The JobManager does not know this job (a wrong id, or one it has forgotten)."""


@dataclass
class Edge:
    """A connection in the job graph: ``source`` feeds ``target`` (vertex ids) by ``ship_strategy``."""

    source: str
    target: str
    ship_strategy: str


@dataclass
class JobSnapshot:
    """One moment of one job (see the module's docstring for each part)."""

    job_id: str
    name: str
    status: str
    start_time_ms: int
    duration_ms: int
    taken: float  # time.time() when it was taken
    took_ms: float  # how long the REST calls took
    operators: pd.DataFrame
    edges: list[Edge]
    checkpoints: dict[str, Any]
    watermarks: pd.DataFrame
    partitions: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: what the next snapshot reuses: the plan, and each source vertex's metric names
    plan: dict[str, Any] = field(default_factory=dict, repr=False)
    listed: dict[str, tuple[float, list[str]]] = field(default_factory=dict, repr=False)
    #: the last completed checkpoint's id and each vertex's state in it (bytes)
    state_of: StateOf = field(default=(None, {}), repr=False)

    @property
    def ended(self) -> bool:
        """The job has reached a state it never leaves (FINISHED, CANCELED, FAILED...)."""
        return self.status in ENDED

    def operator(self, vertex_id: str) -> dict[str, Any]:
        """One row of ``operators`` as a dict."""
        return dict(self.operators.set_index("vertex_id").loc[vertex_id].to_dict(), vertex_id=vertex_id)


def watermark_text(ms: int | None) -> str:
    """A watermark as a person reads it: UTC time to the millisecond, or "none yet"."""
    if ms is None or pd.isna(ms):
        return "-"
    if int(ms) <= NO_WATERMARK:
        return "none yet"
    if int(ms) >= END_WATERMARK:
        return "end of input"
    try:
        when = datetime.datetime.fromtimestamp(int(ms) / 1000, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def short_name(name: str, width: int = 48) -> str:
    """A readable name for a vertex: Flink's names list every chained operator with its
    catalog path, index and arguments (``Source: KafkaSource-default_catalog.default_database.src
    -> Calc[2] -> sink[3]: Writer``); this keeps each operator's kind and table
    (``Source: src -> Calc -> sink: Writer``), the middle elided when it is too long."""
    parts = []
    for op in name.split(" -> "):
        op = re.sub(r"\[\d+\]", "", op).strip()
        op = re.sub(r"KafkaSource-(?:[\w$]+\.)*", "", op)  # the catalog path of a table
        op = re.sub(r"^Source: Source: ", "Source: ", op)
        op = re.sub(r"\(.*\)$", "", op).strip() or op
        parts.append(op)
    text = " -> ".join(parts)
    if len(text) > width and len(parts) > 2:
        text = f"{parts[0]} -> ... -> {parts[-1]}"
    return text if len(text) <= width else text[: width - 3] + "..."


def check_job_id(job_id: str) -> str:
    """``job_id`` as Flink writes it (32 hex digits), or a clear `LabError` before any call."""
    jid = str(job_id).strip().lower()
    if not _JOB_ID.match(jid):
        raise LabError(
            f"{job_id!r} is not a Flink job id (32 hex digits, e.g. job.job_id or the Web UI's Job ID)."
        )
    return jid


def ask(rest: str | None, path: str, timeout: float = 5.0) -> Any:
    """``rest_api`` GET, its failures as `JobManagerDown` / `JobGone` in one line."""
    try:
        return rest_api(rest, path, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise JobGone(f"The JobManager at {rest} knows no such job ({path.split('?')[0]}).") from None
        answer = f"{exc.code} {exc.reason}"
        raise JobManagerDown(f"The JobManager at {rest} answered {answer} to {path}.") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise JobManagerDown(
            f"The JobManager at {rest} does not answer ({type(reason).__name__}: {reason})."
        ) from None


def metrics(rest: str | None, path: str, names: list[str]) -> dict[str, str]:
    """``GET path?get=names`` (in as many requests as Flink's line length needs): id -> value.
    Names Flink does not have are simply not in the answer."""
    values: dict[str, str] = {}
    chunk: list[str] = []
    for name in [*names, ""]:
        quoted = urllib.parse.quote(name, safe="[]_-.$")
        if chunk and (not name or sum(len(c) + 1 for c in chunk) + len(quoted) > MAX_QUERY):
            for item in ask(rest, f"{path}?get={','.join(chunk)}") or []:
                values[item["id"]] = item.get("value")
            chunk = []
        if name:
            chunk.append(quoted)
    return values


def long_value(value: Any) -> int:
    """A Java long from its JSON text, exactly (through a float, Long.MAX_VALUE would become
    2**63: too big for pandas' Int64), clamped to a long's range."""
    try:
        number = int(str(value))
    except ValueError:
        number = int(float(value))
    return max(NO_WATERMARK, min(END_WATERMARK, number))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _source_names(listing: list[str]) -> list[str]:
    """Of a source vertex's metric names, those `partitions` and `watermarks` read."""
    wanted = []
    for name in listing:
        split = _SPLIT.match(name)
        if (split and split.group(5) in SPLIT_METRICS) or _OFFSET.match(name) or _SOURCE_WM.match(name):
            wanted.append(name)
    return wanted


def _vertex(rest: str | None, job_id: str, vertex: dict, listing: list[str] | None) -> dict[str, str]:
    """Every metric a refresh shows of one vertex, all subtasks, in one request (or a few)."""
    names = [f"{i}.{m}" for i in range(int(vertex["parallelism"])) for m in TASK_METRICS]
    path = f"jobs/{job_id}/vertices/{vertex['id']}/metrics"
    return metrics(rest, path, names + _source_names(listing or []))


def snapshot(
    rest: str | None, job_id: str, previous: JobSnapshot | None = None, pool: Executor | None = None
) -> JobSnapshot:
    """The job ``job_id`` now. ``previous`` (the last snapshot of the same job) saves asking
    for the plan and the source vertices' metric names again; ``pool`` asks the vertices in
    parallel. Raises `JobGone` (a `LabError`) for a job the JobManager does not know and
    `JobManagerDown` when it does not answer."""
    job_id = check_job_id(job_id)
    t0 = time.perf_counter()
    job = ask(rest, f"jobs/{job_id}")
    known = previous.plan if previous is not None and previous.job_id == job_id else {}
    plan = known or ask(rest, f"jobs/{job_id}/plan")["plan"]
    vertices = job.get("vertices", [])
    has_inputs = {n["id"] for n in plan.get("nodes", []) if n.get("inputs")}
    sources = [v for v in vertices if v["id"] not in has_inputs]
    listed = dict(previous.listed) if previous is not None else {}
    running = job.get("state") not in ENDED
    now = time.monotonic()

    def stale(v: dict) -> bool:
        if v["id"] not in listed:
            return True
        age, names = now - listed[v["id"]][0], listed[v["id"]][1]
        found = any(_SPLIT.match(n) or _OFFSET.match(n) for n in names)
        return age > RELIST_S or (not found and age > RELIST_EMPTY_S)

    relist = [v for v in sources if running and stale(v)]

    def listing(v: dict) -> tuple[float, list[str]]:
        return now, [m["id"] for m in ask(rest, f"jobs/{job_id}/vertices/{v['id']}/metrics") or []]

    def checkpoint_stats() -> dict:
        try:
            return ask(rest, f"jobs/{job_id}/checkpoints")
        except JobManagerDown:  # a job without checkpointing, or its stats not kept
            return {}

    def details(checkpoint_id: Any) -> dict:
        try:
            return ask(rest, f"jobs/{job_id}/checkpoints/details/{checkpoint_id}")
        except (JobManagerDown, JobGone):  # its details already dropped from Flink's history
            return {}

    run = pool.map if pool is not None else map
    for v, names in zip(relist, run(listing, relist), strict=True):
        listed[v["id"]] = names
    wanted = [(v, listed.get(v["id"], (0.0, []))[1]) for v in vertices] if running else []
    answers = list(run(lambda pair: _vertex(rest, job_id, *pair), wanted))
    per_vertex = {v["id"]: a for (v, _), a in zip(wanted, answers, strict=True)}
    stats = checkpoint_stats()
    before = previous.state_of if previous is not None and known else None
    state_of = checkpoints.state_per_vertex(stats, {v["id"] for v in vertices}, before, details)
    took = (time.perf_counter() - t0) * 1000
    return JobSnapshot(
        job_id=job_id,
        name=str(job.get("name", "")),
        status=str(job.get("state", "UNKNOWN")),
        start_time_ms=int(job.get("start-time", 0) or 0),
        duration_ms=int(job.get("duration", 0) or 0),
        taken=time.time(),
        took_ms=took,
        operators=_operators(vertices, per_vertex, state_of[1]),
        edges=edges_of(plan),
        checkpoints=checkpoints.summary(stats),
        watermarks=_watermarks(vertices, per_vertex),
        partitions=_partitions(sources, per_vertex),
        notes=_notes(sources, per_vertex, running),
        plan=plan,
        listed=listed,
        state_of=state_of,
    )


def edges_of(plan: dict) -> list[Edge]:
    """The plan's connections: each node's ``inputs`` (its feeding node and ship strategy)."""
    return [
        Edge(str(i["id"]), str(n["id"]), str(i.get("ship_strategy", "")))
        for n in plan.get("nodes", [])
        for i in n.get("inputs", [])
    ]


def _each_subtask(values: dict[str, str], name: str, parallelism: int) -> list[float]:
    return [_number(values[f"{i}.{name}"]) for i in range(parallelism) if f"{i}.{name}" in values]


def _operators(
    vertices: list[dict], per_vertex: dict[str, dict[str, str]], state: dict[str, int]
) -> pd.DataFrame:
    rows = []
    for v in vertices:
        values, p = per_vertex.get(v["id"], {}), int(v["parallelism"])
        m = v.get("metrics", {})

        def most(name: str, values: dict[str, str] = values, p: int = p) -> float:
            found = [x for x in _each_subtask(values, name, p) if x == x]
            return max(found) / 10 if found else float("nan")  # ms per second -> %

        def total(name: str, values: dict[str, str] = values, p: int = p) -> float:
            found = [x for x in _each_subtask(values, name, p) if x == x]
            return sum(found) if found else float("nan")

        rows.append([
            v["id"], short_name(v["name"]), v["name"], p, v.get("status", ""),
            int(m.get("read-records", 0)), int(m.get("write-records", 0)),
            total("numRecordsInPerSecond"), total("numRecordsOutPerSecond"),
            most("busyTimeMsPerSecond"), most("backPressuredTimeMsPerSecond"), most("idleTimeMsPerSecond"),
            state.get(v["id"]),
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=OPERATOR_COLUMNS)


def _watermarks(vertices: list[dict], per_vertex: dict[str, dict[str, str]]) -> pd.DataFrame:
    rows = []
    for v in vertices:
        values = per_vertex.get(v["id"], {})
        outputs = {int(s.group(1)): values[n] for n in values if (s := _SOURCE_WM.match(n))}
        for i in range(int(v["parallelism"])):
            if f"{i}.currentInputWatermark" in values:
                kind, raw = "input", values[f"{i}.currentInputWatermark"]
            elif i in outputs:
                kind, raw = "source output", outputs[i]
            else:
                continue  # not reported (yet): Flink's /watermarks leaves it out too
            ms = long_value(raw)
            rows.append([v["id"], short_name(v["name"]), i, kind, ms, watermark_text(ms)])
    return pd.DataFrame(rows, columns=WATERMARK_COLUMNS).astype({"watermark_ms": "Int64"})


def _partitions(sources: list[dict], per_vertex: dict[str, dict[str, str]]) -> pd.DataFrame:
    rows = []
    for v in sources:
        values = per_vertex.get(v["id"], {})
        splits: dict[tuple[int, str, int], dict[str, float]] = {}
        for name, value in values.items():
            if s := _SPLIT.match(name):
                key = (int(s.group(1)), s.group(3), int(s.group(4)))
                splits.setdefault(key, {})[s.group(5)] = _number(value)
            elif o := _OFFSET.match(name):
                key = (int(o.group(1)), o.group(3), int(o.group(4)))
                splits.setdefault(key, {})["offset"] = _number(value)
            if s and s.group(5) == "currentWatermark":
                splits[key]["currentWatermark"] = long_value(value)
        for (subtask, topic, partition), m in sorted(splits.items()):
            wm = m.get("currentWatermark")
            nan = float("nan")
            active, idle = m.get("activeTimeMsPerSecond", nan), m.get("idleTimeMsPerSecond", nan)
            paused = m.get("pausedTimeMsPerSecond", nan)
            state = "idle" if idle > max(active, 0) else "paused" if paused > max(active, 0) else "active"
            if wm is None:
                state = "-"
            offset = m.get("offset")
            rows.append([
                short_name(v["name"]), subtask, topic, partition,
                None if wm is None else long_value(wm),
                watermark_text(None if wm is None else long_value(wm)),
                None if offset is None or offset != offset else int(offset),
                active, idle, paused, state, False,
            ])  # fmt: skip
    frame = pd.DataFrame(rows, columns=PARTITION_COLUMNS).astype({"watermark_ms": "Int64", "offset": "Int64"})
    return _holding_back(frame)


def _holding_back(frame: pd.DataFrame) -> pd.DataFrame:
    """Mark the partitions that hold their subtask's watermark back: a source reader emits
    the smallest watermark of its splits that are not idle, so a split behind the others
    (or with none yet: no events) holds the whole job's event time back."""
    for (_vertex, _subtask), group in frame.groupby(["vertex", "subtask"]):
        counted = group[(group["state"] != "idle") & group["watermark_ms"].notna()]
        if len(counted) < 2:
            continue
        low = counted["watermark_ms"].min()
        if low < counted["watermark_ms"].max():
            frame.loc[counted.index[counted["watermark_ms"] == low], "holds_back"] = True
    return frame


def _notes(sources: list[dict], per_vertex: dict[str, dict[str, str]], running: bool) -> list[str]:
    notes = []
    if not running:
        notes.append("The job has ended: Flink keeps its records in/out, not its rates or watermarks.")
    for v in sources:
        names = per_vertex.get(v["id"], {})
        has_splits = any(_SPLIT.match(n) for n in names)
        has_offsets = any(_OFFSET.match(n) for n in names)
        if running and names and not has_splits:
            what = "per-partition offsets only" if has_offsets else "no per-partition metrics"
            notes.append(
                f"{short_name(v['name'])}: no per-split (per-partition) watermarks reported ({what}) - "
                "not yet (a Kafka reader registers them as it starts reading), or not by this source; "
                "its subtasks' idle time is in the operators table."
            )
    return notes
