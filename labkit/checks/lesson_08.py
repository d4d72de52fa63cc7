"""Lesson 08's exercise (notebooks/08_state_exactly_once.ipynb, "Exercise: exactly-once,
configured by you": the cell ``checks.lesson_08_exactly_once(lab, my_checkpoint_interval,
my_sink_options)``).

The exercise asks for what the lesson's cells did not show: periodic checkpoints frequent
enough for readers who need each result within `FRESH_S` seconds (the lesson triggered its
checkpoints by hand, 10 minutes apart), and a sink that starts on a stock broker, whose
``transaction.max.timeout.ms`` (15 minutes) refuses Flink's default 1-hour transactions: the
answer must set ``properties.transaction.timeout.ms`` within it and above the interval (the
lab's broker allows 1 hour, docs/defaults.md, so the check holds the answer to the stock
limit itself). What the answer itself shows wrong gets its hint before anything runs. Otherwise the check
runs the lesson's running-total job (Flink SQL) with the learner's checkpoint interval and
Kafka sink options, kills its TaskManager halfway through the payments, and reads the
results as a ``read_committed`` consumer: each account's running count exactly once, and
the final totals equal to `labkit.reference.running_totals`. The kill needs the local
backend (`Lab.drill_here`): on compose or remote the check runs the job without it and
says so.
"""

from __future__ import annotations

import collections
import re
import time
from typing import TYPE_CHECKING, Any

from kafka import TopicPartition

from .. import events
from ..errors import LabError
from ..kafka import closing
from ..reference import running_totals
from ..waiting import wait_for
from .result import Result, failed, passed
from .sql import flink_cause

if TYPE_CHECKING:
    from ..lab import Lab

#: The lesson's job restarts a failed task every second for up to two minutes: long enough
#: for a killed TaskManager to be replaced on a busy laptop (the lab cluster's own default,
#: fixed-delay 10 x 1 s, can run out while a new TaskManager's JVM starts).
LESSON_08_RESTARTS = {
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "120",
    "restart-strategy.fixed-delay.delay": "1 s",
}

#: The one Kafka producer option the exercise accepts besides the sink's: how long the exactly-once
#: sink's transactions may stay open. Flink asks for 1 hour; a stock broker allows at most 15
#: minutes (``transaction.max.timeout.ms``) and refuses the sink at start-up, so real jobs set it.
TIMEOUT = "properties.transaction.timeout.ms"
#: A stock broker's ``transaction.max.timeout.ms`` (Kafka's default): a longer transaction
#: timeout makes it refuse the exactly-once sink at start-up.
STOCK_MAX_TIMEOUT_MS = 900_000
#: The exercise's readers need each result within this many seconds.
FRESH_S = 10

_UNITS = {"ms": 1, "millis": 1, "s": 1000, "sec": 1000, "second": 1000, "seconds": 1000}
_UNITS.update({"m": 60_000, "min": 60_000, "minute": 60_000, "minutes": 60_000, "h": 3_600_000})


def flink_duration_ms(interval: Any) -> int | None:
    """A checkpoint interval read the way Flink reads a duration, in milliseconds, or None
    where Flink would not read it: ``'2 s'`` -> 2000, ``'500ms'`` -> 500, ``'1 min'`` ->
    60000, a bare number (or int) -> that many ms; ``'1.5 s'``, ``'two seconds'``, floats
    and booleans -> None."""
    if isinstance(interval, bool) or not isinstance(interval, (str, int)):
        return None
    found = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(interval).lower())
    if not found or found.group(2) not in {"", *_UNITS}:
        return None
    return int(found.group(1)) * _UNITS.get(found.group(2) or "ms", 1)


def lesson_08_exactly_once(
    lab: Lab,
    interval: Any,
    sink_options: Any,
    *,
    payments: str = "l08-ex-payments",
    totals: str = "l08-ex-totals",
    n: int = 120,
) -> Result:
    """Run the lesson's running-total job (Flink SQL: one count and sum per account) with
    the learner's checkpoint ``interval`` and Kafka sink options, kill its TaskManager
    halfway through the payments, and check what a ``read_committed`` reader sees: each
    account's running count 1, 2, 3, ... exactly once (none twice, none missing) and the
    right final totals.

    What the answer itself shows wrong (no checkpoints, at-least-once, balances instead of
    a configuration) gets its hint before anything runs: an at-least-once run may by chance
    write no duplicates, and must not pass. What Flink rejects is shown in Flink's words.
    A run takes ~30-60 s (a TaskManager restarts); the TaskManager is back when it returns.
    On compose or remote the lab cannot kill a TaskManager (`Lab.drill_here` says so): the
    job runs through without the crash, and the result says it was not crashed.
    """
    if interval is None and not sink_options:
        return failed(
            "No answer yet.",
            "Set my_checkpoint_interval (a duration such as '500 ms') and my_sink_options "
            "(the Kafka sink's options).",
        )
    if _looks_like_balances(interval) or _looks_like_balances(sink_options):
        return failed(
            "Those look like the balances themselves, not a job's configuration.",
            "The check works the balances out itself, by running your job and killing its TaskManager: "
            "answer with the checkpoint interval and the sink's options.",
        )
    if not isinstance(sink_options, dict):
        return failed("my_sink_options must be a dict of Kafka sink options.", "e.g. {'sink.xxx': 'value'}")
    other = sorted(str(k) for k in sink_options if not str(k).startswith("sink.") and k != TIMEOUT)
    if other:
        return failed(
            f"{other[0]!r} is not one of the sink's options.",
            f"Only the options starting with 'sink.' (and {TIMEOUT!r}) are yours here; the check sets "
            "the topic, formats and servers.",
        )
    guarantee = str(sink_options.get("sink.delivery-guarantee", "")).strip().lower()
    if guarantee in ("", "at-least-once", "none"):
        default = "is not set, and the connector's default is 'at-least-once'"
        said = f"is {guarantee!r}" if guarantee else default
        return failed(
            f"The sink's delivery guarantee {said}.",
            "After a crash such a sink writes again what it wrote since the last checkpoint (the lesson's "
            "duplicates) - even if one run happens to write none. Which guarantee uses Kafka transactions?",
        )
    if interval is None:
        return failed(
            "No checkpoint interval: Flink's default is no checkpoints at all.",
            "Without checkpoints a restarted job has no state to restore, and an exactly-once sink "
            "commits its Kafka transactions only when a checkpoint completes.",
        )
    ms = flink_duration_ms(interval)
    if ms is None:
        return failed(f"Flink would not read {interval!r} as a duration.", "Write it like '2 s' or '500 ms'.")
    if ms < 10:
        return failed(f"{interval!r} is below Flink's smallest checkpoint interval, 10 ms.", "Try seconds.")
    if ms > FRESH_S * 1000:
        return failed(
            f"A checkpoint every {interval}: a read_committed reader could wait that long for a result, "
            f"and the readers here need each one within {FRESH_S} s.",
            "An exactly-once sink's results become visible when a checkpoint completes: the time between "
            "two checkpoints is how long a result can stay invisible.",
        )
    if TIMEOUT not in sink_options:
        return failed(
            f"No {TIMEOUT}: Flink's exactly-once sink then asks for 1-hour transactions, and a stock broker "
            "(transaction.max.timeout.ms at its default) refuses the sink at start-up.",
            "Read the lesson's paragraph on what exactly-once costs: which limit does a stock broker set, "
            "and what else must a transaction outlive?",
        )
    timeout = str(sink_options[TIMEOUT]).strip()
    if not timeout.isdigit():
        return failed(
            f"{TIMEOUT} = {timeout!r}: Kafka reads it as a whole number of milliseconds.",
            "Like Kafka's other *.ms settings: digits only, no unit.",
        )
    if int(timeout) > STOCK_MAX_TIMEOUT_MS:
        return failed(
            f"Transactions of up to {int(timeout) // 1000} s: more than a stock broker's "
            "transaction.max.timeout.ms allows (its default: 15 minutes) - it refuses the sink at start-up.",
            "Kafka reads the setting in milliseconds: write the broker's limit (or less) in that unit.",
        )
    if int(timeout) <= ms:
        return failed(
            f"Transactions that time out after {timeout} ms, with a checkpoint every {interval}.",
            "The sink commits its transaction when a checkpoint completes: a transaction must live "
            "longer than the time between two checkpoints.",
        )
    return _run(lab, str(interval), ms, sink_options, payments, totals, n)


def _looks_like_balances(answer: Any) -> bool:
    """A dict of account -> number, a pandas object or a list of rows: a result, not options."""
    if hasattr(answer, "to_dict") or isinstance(answer, (list, tuple)):
        return True
    if isinstance(answer, dict) and answer:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in answer.values()) or any(
            str(k).startswith("acct-") for k in answer
        )
    return False


def _committed(lab: Lab, topic: str) -> list[dict]:
    """Every record of ``topic`` (one partition) that a read_committed reader sees, in order."""
    with closing(lab.reader(topic, start="beginning", isolation_level="read_committed")) as reader:
        tp = TopicPartition(topic, 0)
        end = reader.end_offsets([tp])[tp]  # for read_committed: the last stable offset
        rows, deadline = [], time.monotonic() + 30
        while reader.position(tp) < end and time.monotonic() < deadline:
            rows += [r.value for r in reader.poll(200).get(tp, []) if r.value is not None]
    return rows


def _run(
    lab: Lab, interval: str, ms: float, sink_options: dict, payments: str, totals: str, n: int
) -> Result:
    """`lesson_08_exactly_once` once the answer looks like a configuration: run, kill (on the
    local backend), read."""
    sent = list(events.payments(n, seed=81, accounts=4))
    truth = running_totals(sent)
    counts = collections.Counter(p["account_id"] for p in sent)
    for topic in (payments, totals):
        lab.create_topic(topic, partitions=1, replace=True)
    t_env = lab.table_env()
    t_env.get_config().set("execution.checkpointing.interval", interval)
    for key, value in LESSON_08_RESTARTS.items():
        t_env.get_config().set(key, value)
    schema = "account_id STRING, amount DECIMAL(10, 2), tx_id STRING"
    lab.kafka_table(t_env, "payments", schema, topic=payments)
    options = {
        "connector": "upsert-kafka",
        "topic": totals,
        "properties.bootstrap.servers": lab.flink_bootstrap_servers,
        "key.format": "json",
        "value.format": "json",
        **{str(k): str(v) for k, v in sink_options.items()},
    }
    body = ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())
    try:
        t_env.execute_sql(
            "CREATE TABLE totals (account_id STRING, payments BIGINT, total DECIMAL(12, 2), "
            f"PRIMARY KEY (account_id) NOT ENFORCED) WITH (\n  {body}\n)"
        )
        result = t_env.execute_sql(
            "INSERT INTO totals SELECT account_id, COUNT(*), SUM(amount) FROM payments GROUP BY account_id"
        )
    except Exception as exc:  # noqa: BLE001 - Flink's own words are the hint
        return failed(f"Flink rejected the job: {flink_cause(exc)}", "Which option does Flink ask for?")
    job = lab.start(result, "l08-exercise")
    killed: dict[str, Any] | None = None
    restored: dict[str, Any] = {}
    back = 0.0
    try:
        lab.wait_until_running(job, timeout=120)
        half = n // 2
        sent_at = time.time()
        lab.produce(payments, sent[:half], key="account_id")
        wait = 30 + 2 * ms / 1000
        try:
            wait_for(lambda: len(_committed(lab, totals)) >= half, "the first results", timeout=wait)
        except LabError:  # not all visible within `wait`: the hint says where to look
            seen = len(_committed(lab, totals))
            return failed(
                f"After {wait:.0f} s a read_committed reader sees {seen} of the first {half} results.",
                f"An exactly-once sink's results become visible when a checkpoint completes: "
                f"see the job's checkpoints at {job.checkpoints_ui}",
            )
        visible_s = time.time() - sent_at  # measured: when read_committed saw the first half
        if lab.drill_here("the TaskManager kill"):
            killed = lab.kill_taskmanager()  # halfway through the payments
            lab.produce(payments, sent[half:], key="account_id")
            lab.start_taskmanager()
            restored = lab.wait_restored(job, after=killed["killed_at"], timeout=180)
            back = time.time() - killed["killed_at"]
        else:  # compose / remote: the same job and payments, no crash
            lab.produce(payments, sent[half:], key="account_id")

        def every_result() -> list[dict] | None:
            rows = _committed(lab, totals)
            last = {r["account_id"]: r["payments"] for r in rows}
            return rows if all(last.get(acct) == c for acct, c in counts.items()) else None

        try:
            rows = wait_for(every_result, "every result", timeout=60 + 2 * ms / 1000)
        except LabError:  # what is missing or doubled is what the learner needs to see
            rows = _committed(lab, totals)
    finally:
        job.stop()
        if killed is not None:
            lab.start_taskmanager()  # the cluster as it was (a no-op if it already is)
    for acct, c in sorted(counts.items()):
        seq = [r["payments"] for r in rows if r["account_id"] == acct]
        twice = sorted(k for k, v in collections.Counter(seq).items() if v > 1)
        if twice:
            return failed(
                f"{acct}: a read_committed reader saw the running count(s) {twice[:5]} more than once.",
                "Which guarantee hides from read_committed readers what was written before the crash?",
            )
        if seq != list(range(1, c + 1)):
            return failed(
                f"{acct}: a read_committed reader saw {len(seq)} of its {c} results.",
                f"Were they committed? See the job's checkpoints at {job.checkpoints_ui}",
            )
    final = {acct: round(float(t), 2) for acct, t in ((r["account_id"], r["total"]) for r in rows)}
    if final != truth:
        return failed("Every result once, but the final totals are off.", "Is the sink's key the account?")
    fresh = f"read_committed saw the first {n // 2} results {visible_s:.1f} s after they were sent (measured)"
    if killed is None:
        return passed(
            f"Exactly once: {len(rows)} results for {n} payments, each seen once by read_committed, every "
            f"total right; {fresh}. Not crashed: the TaskManager kill needs the local backend "
            f"(this lab runs on {lab.backend!r})."
        )
    return passed(
        f"Exactly once through a TaskManager kill: {len(rows)} results for {n} payments, each seen once by "
        f"read_committed, every total right. Restored from checkpoint {restored['id']}; running again "
        f"{back:.0f} s after the kill; {fresh}."
    )
