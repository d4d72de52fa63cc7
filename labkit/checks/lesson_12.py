"""Lesson 12's project (notebooks/12_on_your_own.ipynb, "The check": the cell
``checks.lesson_12_on_your_own(lab, "my_project", job_id, ...)``): the learner's own
``produce.py`` (kafka-python) and ``job.py`` (PyFlink), no labkit in either, the job submitted
with ``flink run``, stopped with a savepoint and resumed from it.

The check looks at what runs, on the real stack, in the order a learner would debug it:

1. the files (`read_files`): both there, written (not the skeletons), and neither imports
   labkit - parsed with `ast`, so a comment or a string naming labkit is no import;
2. the job (`explain_job`, `explain_checkpoints`, `explain_restore`): Flink knows the id, it is
   RUNNING (a FAILED job is told with Flink's root cause, at once), it checkpoints, and it was
   restored from a **savepoint** (REST ``jobs/<id>/checkpoints``: ``latest.restored``);
3. the pipeline, live: the check sends a few fresh clicks of its own (a new seed each call)
   and waits - about two checkpoints, no long timeout - until their cart clicks are readable
   ``read_committed`` in the output and the group has committed the input's end;
4. exactly once (`compare`): the output, read ``read_committed``, holds each cart/checkout
   click of the input once - the same multiset of ``event_id`` - and nothing else;
5. transactions (`explain_transactions`): the output was written in transactions (each commit
   leaves a marker that takes an offset, so the partitions end past their records) by
   producers whose transaction timeout a stock broker accepts (<= `STOCK_MAX_TIMEOUT_MS`,
   Kafka's ``transaction.max.timeout.ms`` default; the lab's broker allows 1 h). The producers
   are the ones that wrote the output since the check started (``DescribeProducers``), their
   transactional ids and timeouts Kafka's own (``ListTransactions``, ``DescribeTransactions``:
   what ``kafka-transactions.sh list`` / ``describe`` print).

The pure parts (``explain_*``, `compare`, `read_files`) are tested without a job.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition

from .. import durability, events
from ..errors import LabError
from ..kafka import closing
from ..waiting import wait_for
from .result import Result, failed, passed

if TYPE_CHECKING:
    from ..lab import Lab

#: Kafka's default ``transaction.max.timeout.ms``: a stock broker refuses a producer whose
#: ``transaction.timeout.ms`` is larger ("The transaction timeout is larger than the maximum
#: value allowed by the broker").
STOCK_MAX_TIMEOUT_MS = 900_000
#: Cart and checkout: what the job keeps.
KEPT = ("/cart", "/checkout")
#: Checkpoint intervals above this would make the check wait too long ("a few seconds").
MAX_INTERVAL_MS = 30_000
#: Flink's REST API shows a job without checkpointing as an interval of Long.MAX_VALUE.
_NO_CHECKPOINTS = 2**63 - 1
_SKELETON = "is not written yet"
#: A job's states while Flink is still starting it.
STARTING = ("CREATED", "INITIALIZING")


def read_files(folder: str | Path) -> tuple[dict[str, str], Result | None]:
    """The project's two files (``{name: text}``), and a `Result` if one is missing, still the
    skeleton, not Python, or imports labkit."""
    root = Path(folder)
    texts: dict[str, str] = {}
    for name in ("produce.py", "job.py"):
        path = root / name
        if not path.is_file():
            return texts, failed(
                f"There is no {path}.",
                "Run the lesson's first code cell: it makes the folder and both files.",
            )
        texts[name] = path.read_text()
    for name, text in texts.items():
        if _SKELETON in text:
            step = "step 1" if name == "produce.py" else "step 2"
            return texts, failed(f"{name} is still the skeleton.", f"Write it as {step} of the lesson says.")
        wrong = explain_imports(name, text)
        if wrong is not None:
            return texts, wrong
    return texts, None


def explain_imports(name: str, text: str) -> Result | None:
    """A `Result` if ``text`` (a file of the project) is not Python or imports labkit."""
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        return failed(f"{name} is not valid Python: {exc.msg} (line {exc.lineno}).", "Run it with python.")
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == "labkit" or n.startswith("labkit.") for n in names):
            return failed(
                f"{name} imports labkit (line {node.lineno}).",
                "At work there is no labkit: the project uses kafka-python and PyFlink only - "
                "what does labkit do for you there, and which plain call does the same?",
            )
    return None


def explain_job(job_id: Any, overview: dict | None, root_cause: str = "") -> Result | None:
    """A `Result` unless ``overview`` (REST ``jobs/<id>``; None: Flink has no such job) says
    the job runs."""
    if not isinstance(job_id, str) or not job_id.strip():
        return failed("No job id yet.", "flink run prints 'Job has been submitted with JobID ...': that id.")
    if overview is None:
        return failed(f"Flink has no job {job_id}.", "`!flink list` shows the jobs that run and their ids.")
    state = overview.get("state")
    if state in ("FAILED", "RESTARTING", "FAILING"):
        return failed(
            f"The job {job_id} is {state}: {root_cause or 'Flink gave no cause'}",
            "Flink's own words above; `!flink list -a` and the Web UI's Exceptions tab say more.",
        )
    if state != "RUNNING":
        return failed(
            f"The job {job_id} is {state}, not RUNNING.",
            "The check wants the job you resumed from the savepoint, still running (step 4).",
        )
    return None


def explain_checkpoints(config: dict) -> Result | None:
    """A `Result` unless REST ``jobs/<id>/checkpoints/config`` says: exactly-once checkpoints
    every few seconds."""
    interval = int(config.get("interval") or 0)
    if interval <= 0 or interval >= _NO_CHECKPOINTS:
        return failed(
            "The job takes no checkpoints.",
            "Without checkpoints the source commits no offsets and the sink no transactions: "
            "see step 2 on the StreamExecutionEnvironment.",
        )
    if str(config.get("mode", "")).lower() != "exactly_once":
        return failed(
            f"The job checkpoints in mode {config.get('mode')!r}.", "Which mode does exactly-once need?"
        )
    if interval > MAX_INTERVAL_MS:
        return failed(
            f"The job checkpoints every {interval / 1000:.0f} s: its output waits that long to be committed.",
            "Step 2 asks for a checkpoint every few seconds.",
        )
    return None


def explain_restore(restored: dict | None) -> Result | None:
    """A `Result` unless REST ``jobs/<id>/checkpoints``' ``latest.restored`` is a savepoint."""
    if restored is None:
        return failed(
            "This job was not restored from a savepoint: it started fresh.",
            "Step 4: `flink stop --savepointPath ...`, then `flink run -s <the savepoint's path> ...` - "
            "pass the job id the second `flink run` printed.",
        )
    if not restored.get("is_savepoint"):
        return failed(
            f"This job restored checkpoint {restored.get('id')}, not a savepoint.",
            "Step 4: stop the job with `flink stop --savepointPath ...` and start it again with -s.",
        )
    return None


def compare(clicks: list[dict], out_ids: list[str]) -> Result | None:
    """A `Result` unless ``out_ids`` (the output's event ids, read ``read_committed``) are the
    cart/checkout clicks of ``clicks`` (the input), each exactly once."""
    want = collections.Counter(c["event_id"] for c in clicks if c.get("page") in KEPT)
    got = collections.Counter(out_ids)
    other = {c["event_id"] for c in clicks if c.get("page") not in KEPT} & set(got)
    if other:
        return failed(
            f"The output holds {len(other)} clicks of other pages (e.g. {sorted(other)[0]}).",
            "Look at the WHERE of your INSERT.",
        )
    missing = want - got
    if missing:
        return failed(
            f"{sum(missing.values())} of the {sum(want.values())} cart/checkout clicks of the input are "
            f"not in the output (e.g. {sorted(missing)[0]}).",
            "Did every file reach the input topic, and did the resumed job start from the group's offsets? "
            "Step 2: 'scan.startup.mode' and 'properties.auto.offset.reset'.",
        )
    twice = {k: n - want[k] for k, n in got.items() if n > want[k]}
    if twice:
        return failed(
            f"{len(twice)} clicks are in the output more than once (e.g. {sorted(twice)[0]}).",
            "A job started again re-read what it had written: from where does it start (step 2), and "
            "was it resumed from the savepoint (step 4)?",
        )
    return None


def explain_transactions(records: int, end_total: int, timeouts_ms: list[int]) -> Result | None:
    """A `Result` unless the output was written in transactions (its partitions end past their
    ``records``: commit markers) by producers whose timeouts (``timeouts_ms``) a stock broker
    accepts."""
    if end_total <= records or not timeouts_ms:
        return failed(
            "The output was not written in transactions: an exactly-once reader gets no guarantee.",
            "Step 2: the sink's 'sink.delivery-guarantee' (and what it needs beside it).",
        )
    too_long = max(timeouts_ms)
    if too_long > STOCK_MAX_TIMEOUT_MS:
        return failed(
            f"The job's transactions time out after {too_long / 60000:.0f} min: the lab's broker allows "
            "1 hour, a stock one refuses more than 15 min (transaction.max.timeout.ms = 900000).",
            "Step 2: 'properties.transaction.timeout.ms' - at work the job would fail at its first "
            "checkpoint with 'The transaction timeout is larger than the maximum value allowed by the "
            "broker'.",
        )
    return None


def lesson_12_on_your_own(
    lab: Lab,
    folder: str | Path,
    job_id: Any,
    *,
    input: str = "p12-clicks",  # noqa: A002 - the job's own option name
    output: str = "p12-cart",
    group: str = "p12",
    n: int = 20,
) -> Result:
    """The project end to end: see the module's docstring. Answers within seconds for a file
    or a job that is clearly wrong; a right one takes about two checkpoints."""
    _, wrong = read_files(folder)
    if wrong is not None:
        return wrong
    if isinstance(job_id, str):  # just submitted: Flink is still starting it
        with contextlib.suppress(LabError):
            wait_for(lambda: (_job(lab, job_id)[0] or {}).get("state") not in STARTING, "the job", 20)
    wrong = explain_job(job_id, *_job(lab, job_id))
    if wrong is not None:
        return wrong
    job_id = job_id.strip()
    config = lab.flink_api(f"jobs/{job_id}/checkpoints/config")
    wrong = explain_checkpoints(config) or explain_restore(
        (lab.flink_api(f"jobs/{job_id}/checkpoints").get("latest") or {}).get("restored")
    )
    if wrong is not None:
        return wrong
    started_ms = int(time.time() * 1000)
    fresh = _fresh_clicks(n)
    lab.produce(input, fresh, key="user_id", timestamp="ts")
    kept = {c["event_id"] for c in fresh if c["page"] in KEPT}
    timeout = 2 * int(config["interval"]) / 1000 + 20

    def arrived() -> bool:
        _running(lab, job_id)
        return kept <= set(_committed_ids(lab, output))

    try:
        what = f"the check's {len(kept)} cart clicks in {output} (read_committed)"
        wait_for(arrived, what, timeout, every=1.0)
    except _Failed as exc:
        return exc.result
    except LabError:  # the wait ran out: the learner's hint, not a crash
        return failed(
            f"The check sent {len(fresh)} clicks to {input}; their {len(kept)} cart clicks did not reach "
            f"{output} (read_committed) within {timeout:.0f} s.",
            "Does the job read the check's topic and write the output it names? `!flink list`, and "
            "kafka-console-consumer.sh on both topics.",
        )
    try:
        wait_for(
            lambda: _group_offsets(lab, group, input) == lab.end_offsets(input) or None,
            f"group {group} to commit the end of {input}", timeout, every=1.0,
        )  # fmt: skip
    except LabError:
        return failed(
            f"Group {group!r} has not committed the end of {input}: {_group_offsets(lab, group, input)} "
            f"of {lab.end_offsets(input)}.",
            "kafka-consumer-groups.sh --describe shows it. Step 2: 'properties.group.id' - and what makes "
            "Flink's source commit offsets.",
        )
    clicks = [row for row in lab.read(input).to_dict("records") if "event_id" in row]
    out_ids = _committed_ids(lab, output)
    wrong = compare(clicks, out_ids)
    if wrong is not None:
        return wrong
    ends = sum(lab.end_offsets(output).values())
    wrong = explain_transactions(len(out_ids), ends, _timeouts(lab, output, started_ms))
    if wrong is not None:
        return wrong
    return passed(
        f"Your job (restored from a savepoint) kept every cart/checkout click of {input} exactly once in "
        f"{output}: {len(out_ids)} records in transactions ({ends - len(out_ids)} commit markers); "
        f"group {group} committed the end of {input}; no labkit in your files."
    )


class _Failed(Exception):  # noqa: N818 - an outcome that ends the wait
    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


def _job(lab: Lab, job_id: Any) -> tuple[dict | None, str]:
    """REST ``jobs/<id>`` (None if Flink has no such job) and, for a failed job, its root cause."""
    if not isinstance(job_id, str) or not job_id.strip():
        return None, ""
    try:
        overview = lab.flink_api(f"jobs/{job_id.strip()}")
    except Exception:  # noqa: BLE001 - a 404 (or a malformed id: 400) is "no such job"
        return None, ""
    cause = ""
    if overview.get("state") in ("FAILED", "RESTARTING", "FAILING"):
        entries = (lab.flink_api(f"jobs/{job_id.strip()}/exceptions").get("exceptionHistory") or {}).get(
            "entries"
        ) or [{}]
        cause = root_cause(entries[0].get("stacktrace") or entries[0].get("exceptionName") or "")
    return overview, cause


def _running(lab: Lab, job_id: str) -> None:
    """Raise `_Failed` (ends the wait at once) if the job stopped running."""
    wrong = explain_job(job_id, *_job(lab, job_id))
    if wrong is not None:
        raise _Failed(wrong)


def root_cause(trace: str) -> str:
    """The last ``Caused by:`` of a Java stack trace (Flink's REST ``exceptions``), shortened."""
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by: ")]
    text = (causes or lines or [""])[-1]
    return text if len(text) <= 400 else text[:397] + "..."


def _fresh_clicks(n: int) -> list[dict]:
    """``n`` clicks no run has sent before (a new seed), at least one of them a cart click."""
    while True:
        seed = random.randrange(10**6, 10**9)
        clicks = [{**c, "event_id": f"check-{c['event_id']}"} for c in events.clicks(n, seed=seed)]
        if any(c["page"] in KEPT for c in clicks):
            return clicks


def _committed_ids(lab: Lab, topic: str) -> list[str]:
    """The event ids in ``topic`` as a ``read_committed`` reader sees them now."""
    ids: list[str] = []
    with closing(lab.reader(topic, isolation_level="read_committed")) as reader:
        tps = list(reader.assignment())
        ends = reader.end_offsets(tps)  # read_committed: the last stable offset
        deadline = time.monotonic() + 10
        while any(reader.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for records in reader.poll(200).values():
                ids.extend(r.value.get("event_id", "") for r in records if isinstance(r.value, dict))
    return ids


def _group_offsets(lab: Lab, group: str, topic: str) -> dict[int, int | None]:
    """What ``group`` has committed for each partition of ``topic`` (None: nothing)."""
    return durability.committed(lab, group, topic)


def _timeouts(lab: Lab, topic: str, since_ms: int) -> list[int]:
    """The transaction timeouts of the transactional producers that wrote ``topic`` since
    ``since_ms``: Kafka's DescribeProducers, ListTransactions, DescribeTransactions."""
    named = lab.kafka_name(topic)  # a plain admin: Kafka's names in, Kafka's transactional ids out
    tps = [TopicPartition(named, p) for p in lab.partitions(topic)]
    with closing(lab.kafka_admin()) as admin:
        states = admin.describe_producers(tps)
        ids = {
            p.producer_id
            for state in states.values()
            for p in state.active_producers
            if p.last_timestamp >= since_ms - 1000
        }
        if not ids:
            return []
        listed = admin.list_transactions(producer_id_filters=sorted(ids))
        names = [t.transactional_id for each in listed.values() for t in each]
        if not names:
            return []
        described = admin.describe_transactions(names)
    return [d.transaction_timeout_ms for d in described.values()]
