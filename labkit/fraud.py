"""Fraud detection end to end (lesson 09): labelled transactions, rules as real Flink jobs.

* :func:`transactions` / :class:`TransactionGenerator` - card payments with fraud
  patterns injected at a chosen rate and labelled with the ground truth (``label``):

  - ``card_testing``: a tiny charge (< 1.00) and, a few seconds later, a large one
    (> 500.00) on the same account, nothing else on that account in between;
  - ``burst``: many ordinary-looking charges on one account within a few seconds;
  - ``outlier``: one amount far above what that account usually spends.

* :func:`detect` - the Flink fraud-detection walkthrough's rule ("a transaction under
  1.00 immediately followed by one over 500.00 within one minute") run as a *real* Flink
  job on a bounded list of transactions that travels through Kafka, either as a
  DataStream ``KeyedProcessFunction`` (``engine="datastream"``) or as Flink SQL
  ``MATCH_RECOGNIZE`` (``engine="sql"``). Both give the same alerts.

* :func:`velocity_function` and :func:`outlier_function` - rule 3 (more than N
  transactions of an account in a sliding event-time window; amounts far from the
  account's running statistics kept in state); :func:`velocity_window_function` is the
  velocity rule on PyFlink's window operator (the same alerts, slower: the benchmark's
  ``windowed`` engine); :func:`replay` runs all three rules over what a topic holds,
  :class:`LivePipeline` as one unbounded job from a Kafka topic of transactions to a
  Kafka topic of alerts; :func:`evaluate` scores alerts against labels.

* :func:`parse`, :func:`event_time`, :func:`marker_pair` - the small pieces lesson 09
  wires its own jobs with (the socket feed of "Flink alone" is in :mod:`labkit.fraud_live`).

* :func:`measure` (also ``measure_throughput``; CLI ``scripts/bench_fraud.py``) -
  throughput and alert latency of the live pipeline.

Boundary semantics (the same in both engines, pinned by tests/test_fraud.py):
``amount < small`` (strictly), ``amount > large`` (strictly), and the large one must be
the *next* transaction of that account in event-time order with
``large.timestamp - small.timestamp < within`` (strictly less, as Flink CEP's
``WITHIN`` does: a gap of exactly one minute is too late).
"""

from __future__ import annotations

import heapq
import json
import math
import numbers
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from .events import COUNTRIES, COUNTRY_WEIGHTS, MERCHANTS, start_ms, zipf_weights

if TYPE_CHECKING:
    from .lab import Lab

SMALL = 1.00
LARGE = 500.00
WITHIN = timedelta(minutes=1)

LABELS = ("card_testing", "burst", "outlier")

#: Topic configs for live transactions whose event time runs ahead of the clock. Kafka
#: rejects a record stamped more than ``message.timestamp.after.max.ms`` in the future
#: (default 3600000: one hour); the live generator makes 2 payments per second of *event*
#: time and sends them at up to hundreds per second of wall-clock time, so its event time
#: passes that hour within minutes. The live topics accept any future timestamp - the
#: alerts topic too: Flink's Kafka sink stamps each alert with its event time.
FUTURE_TIMESTAMPS_OK = {"message.timestamp.after.max.ms": str(2**63 - 1)}

ALERT_COLUMNS = [
    "account_id",
    "small_amount",
    "small_time",
    "large_amount",
    "large_time",
    "small_row",
    "large_row",
]


# --- the data ------------------------------------------------------------------------


class TransactionGenerator:
    """An endless, seed-deterministic stream of labelled card transactions.

    Event time advances as a Poisson process of ``rate`` transactions per second of
    *event* time (how fast they are sent is up to the caller). Each tick starts a fraud
    episode with probability ``fraud_rate`` (changeable while iterating, e.g. from a
    widget); otherwise it is an ordinary transaction. Every transaction carries ``label``:
    None for an ordinary one, else the pattern it belongs to, and ``episode`` (an id
    shared by the transactions of one fraud episode).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        accounts: int = 100,
        rate: float = 2.0,
        fraud_rate: float = 0.02,
        start: datetime | str | int | None = None,
        skew: float = 0.3,
        burst_size: int = 8,
        burst_seconds: float = 5.0,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of transactions per second, not {rate!r}")
        self.rng = random.Random(seed)
        self.seed = seed
        self.rate = rate
        self.fraud_rate = fraud_rate
        self.burst_size = burst_size
        self.burst_seconds = burst_seconds
        self.ids = [f"acct-{i:04d}" for i in range(1, accounts + 1)]
        self.weights = zipf_weights(accounts, skew)
        self.typical = {a: self.rng.uniform(15, 120) for a in self.ids}
        self.home = {a: self.rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0] for a in self.ids}
        self.t = float(start_ms(start))
        self.count = 0
        self.episodes = 0
        self._pending: list[tuple[int, int, dict]] = []  # (ts, seq, tx) scheduled fraud
        self._busy: dict[str, int] = {}  # account -> until when it is mid card-testing

    @property
    def fraud_rate(self) -> float:
        return self._fraud_rate

    @fraud_rate.setter
    def fraud_rate(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise ValueError(f"fraud_rate is a probability from 0 to 1, not {value!r}")
        self._fraud_rate = value

    def _tx(self, ts: int, account: str, amount: float, label: str | None, episode: str | None) -> dict:
        rng = self.rng
        return {
            "tx_id": "",  # numbered when emitted, so ids follow event-time order
            "account_id": account,
            "amount": round(amount, 2),
            "merchant": rng.choice(MERCHANTS),
            "country": self.home[account] if rng.random() < 0.95 else rng.choice(COUNTRIES),
            "timestamp": int(ts),
            "label": label,
            "episode": episode,
        }

    def _ordinary_amount(self, account: str) -> float:
        # log-normal around the account's usual spend, never below 1.00 (tiny charges are
        # the card-testing signature) and never above 450
        return min(450.0, max(1.0, self.typical[account] * math.exp(self.rng.gauss(0, 0.5))))

    def _free_account(self, now: int) -> str:
        while True:
            acct = self.rng.choices(self.ids, self.weights)[0]
            if self._busy.get(acct, -1) < now:
                return acct

    def _schedule(self, tx: dict) -> None:
        heapq.heappush(self._pending, (tx["timestamp"], self.count + len(self._pending), tx))

    def _start_episode(self, now: int) -> list[dict]:
        rng = self.rng
        kind = rng.choice(LABELS)
        acct = self._free_account(now)
        self.episodes += 1
        ep = f"e{self.seed}-{self.episodes}"
        if kind == "card_testing":
            later = now + int(rng.uniform(2, 45) * 1000)
            self._busy[acct] = later
            self._schedule(self._tx(later, acct, rng.uniform(520, 2500), kind, ep))
            return [self._tx(now, acct, rng.uniform(0.05, 0.99), kind, ep)]
        if kind == "burst":
            offsets = sorted(rng.uniform(0, self.burst_seconds * 1000) for _ in range(self.burst_size - 1))
            for off in offsets:
                self._schedule(self._tx(now + int(off) + 1, acct, self._ordinary_amount(acct), kind, ep))
            return [self._tx(now, acct, self._ordinary_amount(acct), kind, ep)]
        return [self._tx(now, acct, self.typical[acct] * rng.uniform(10, 30), kind, ep)]

    def _emit(self, tx: dict) -> dict:
        tx["tx_id"] = f"t{self.seed}-{self.count}"
        self.count += 1
        return tx

    def __iter__(self) -> Iterator[dict]:
        return self.take(None)

    def take(self, n: int | None) -> Iterator[dict]:
        """Exactly ``n`` more transactions (None: endless). Episodes are never cut short:
        near the end no new episode starts, so every label has its whole pattern."""
        emitted = 0
        while n is None or emitted < n:
            now = int(self.t)
            self.t += self.rng.expovariate(self.rate) * 1000
            while self._pending and self._pending[0][0] <= now and (n is None or emitted < n):
                emitted += 1
                yield self._emit(heapq.heappop(self._pending)[2])
            if n is not None and emitted + len(self._pending) >= n:
                continue  # only scheduled episode tails are still to come
            room = None if n is None else n - emitted - len(self._pending)
            if self.rng.random() < self.fraud_rate and (room is None or room >= self.burst_size + 2):
                new = self._start_episode(now)
            else:
                acct = self._free_account(now)
                new = [self._tx(now, acct, self._ordinary_amount(acct), None, None)]
            for tx in new:
                emitted += 1
                yield self._emit(tx)


def transactions(
    n: int = 1000,
    *,
    seed: int = 0,
    accounts: int = 100,
    rate: float = 2.0,
    fraud_rate: float = 0.02,
    start: datetime | str | int | None = None,
) -> pd.DataFrame:
    """``n`` labelled transactions as a DataFrame (the same ones for the same arguments).

    Columns: tx_id, account_id, amount, merchant, country, timestamp (epoch ms, UTC),
    label (None or one of :data:`LABELS`), episode. ``rate`` is transactions per second of
    event time; ``fraud_rate`` the chance that a tick starts a fraud episode.
    """
    gen = TransactionGenerator(seed=seed, accounts=accounts, rate=rate, fraud_rate=fraud_rate, start=start)
    return pd.DataFrame(list(gen.take(n)))


# --- checking the input ----------------------------------------------------------------


class BadTransaction(ValueError):
    """A transaction handed to :func:`detect` cannot be used; the message names the row."""


REQUIRED = ("account_id", "amount", "timestamp")


def _to_ms(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, numbers.Real):  # epoch milliseconds (numpy numbers too)
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a time")
        return int(value)
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cannot parse {value!r} as a time ({exc})") from None
    if isinstance(value, pd.Timestamp) and pd.isna(value):
        raise ValueError("the time is missing (NaT)")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(round(value.timestamp() * 1000))
    raise ValueError(f"{value!r} ({type(value).__name__}) is not a time")


def validate(transactions: Iterable[Mapping] | pd.DataFrame) -> list[dict]:
    """Check every transaction and return clean records (``account_id`` str, ``amount``
    float, ``ts`` epoch ms, ``row`` = position in the input) in event-time order.

    Raises :class:`BadTransaction` naming the first bad row: a missing field, an amount
    that is not a number or is negative, a timestamp that cannot be read.
    """
    if isinstance(transactions, pd.DataFrame):
        rows: list = transactions.to_dict("records")
    else:
        rows = list(transactions)
    clean = []
    for i, tx in enumerate(rows):
        if not isinstance(tx, Mapping):
            raise BadTransaction(f"row {i} is a {type(tx).__name__}, not a dict: {tx!r:.200}")
        missing = [f for f in REQUIRED if f not in tx or _is_missing(tx[f])]
        if missing:
            raise BadTransaction(f"row {i} has no {', '.join(missing)}: {dict(tx)!r:.300}")
        account = tx["account_id"]
        if (
            not isinstance(account, (str, numbers.Integral))
            or isinstance(account, bool)
            or str(account) == ""
        ):
            raise BadTransaction(f"row {i}: account_id {account!r} is not a usable id: {dict(tx)!r:.300}")
        amount = tx["amount"]
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
            raise BadTransaction(f"row {i}: amount {amount!r} is not a number: {dict(tx)!r:.300}")
        if not math.isfinite(amount) or amount < 0:
            raise BadTransaction(
                f"row {i}: amount {amount!r} is negative or not finite (refunds are not "
                f"transactions here): {dict(tx)!r:.300}"
            )
        try:
            ts = _to_ms(tx["timestamp"])
        except ValueError as exc:
            raise BadTransaction(f"row {i}: unparsable timestamp: {exc}: {dict(tx)!r:.300}") from None
        if ts < 0:
            raise BadTransaction(
                f"row {i}: timestamp {tx['timestamp']!r} is before 1970, which a Kafka record "
                f"timestamp cannot carry: {dict(tx)!r:.300}"
            )
        clean.append({"row": i, "account_id": str(account), "amount": float(amount), "ts": ts})
    clean.sort(key=lambda r: r["ts"])  # stable: ties keep the input order
    return clean


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- rule 1 as a DataStream KeyedProcessFunction -----------------------------------------


def _within_ms(within: timedelta | float | int) -> int:
    # exact integer arithmetic: int(total_seconds() * 1000) can lose a millisecond to
    # floating point (59.999 s * 1000 = 59998.99...), and the boundary is exactly there
    ms = within // timedelta(milliseconds=1) if isinstance(within, timedelta) else round(within * 1000)
    if ms <= 0:
        raise ValueError(f"within must be a positive duration, not {within!r}")
    return ms


def small_then_large_function(small: float, large: float, within_ms: int):
    """The walkthrough's ``FraudDetector`` on event time, as a ``KeyedProcessFunction``.

    Keyed by account. ``last_small`` (ValueState) remembers the account's last tiny
    transaction; an event-time timer ``within_ms`` after it forgets it again. The next
    transaction of the account either completes the pattern (an alert) or breaks it.
    Defined in a function so PyFlink is imported only when a job is built.
    """
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    class SmallThenLarge(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext) -> None:
            self.last_small = runtime_context.get_state(
                ValueStateDescriptor("last_small", Types.PICKLED_BYTE_ARRAY())
            )
            self.timer = runtime_context.get_state(ValueStateDescriptor("timer", Types.LONG()))

        def process_element(self, tx, ctx):
            prev = self.last_small.value()
            if prev is not None:
                # on event time we compare the two transactions' own timestamps: the timer
                # below only frees the state, it does not decide (see the lesson)
                if tx["amount"] > large and tx["ts"] - prev["ts"] < within_ms:
                    yield {
                        "account_id": tx["account_id"],
                        "small_amount": prev["amount"],
                        "small_ts": prev["ts"],
                        "large_amount": tx["amount"],
                        "large_ts": tx["ts"],
                        "small_row": prev.get("row"),
                        "large_row": tx.get("row"),
                        "small_tx_id": prev.get("tx_id"),
                        "large_tx_id": tx.get("tx_id"),
                    }
                self._clean_up(ctx)  # the very next transaction ends the pattern either way
            if tx["amount"] < small:
                self.last_small.update(tx)
                when = ctx.timestamp() + within_ms
                ctx.timer_service().register_event_time_timer(when)
                self.timer.update(when)

        def on_timer(self, timestamp, ctx):
            # a minute (event time) after the tiny transaction: forget it
            self.last_small.clear()
            self.timer.clear()
            yield from ()  # PyFlink wants an iterable back, even an empty one

        def _clean_up(self, ctx) -> None:
            when = self.timer.value()
            if when is not None:
                ctx.timer_service().delete_event_time_timer(when)
            self.timer.clear()
            self.last_small.clear()

    return SmallThenLarge()


def _kafka_source(lab: Lab, topic: str, *, bounded: bool, group_id: str):
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    builder = (
        KafkaSource.builder()
        .set_bootstrap_servers(lab.flink_bootstrap_servers)
        .set_topics(topic)
        .set_group_id(group_id)
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_value_only_deserializer(SimpleStringSchema())
    )
    if bounded:  # stop at the end of the topic as it is when the job starts
        builder.set_bounded(lab.stopping_offsets(topic))
    return builder.build()


def _watermarks(out_of_order_ms: int = 0):
    from pyflink.common import Duration, WatermarkStrategy

    if out_of_order_ms <= 0:
        return WatermarkStrategy.for_monotonous_timestamps()
    return WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(out_of_order_ms))


def _env(lab: Lab):
    """A fresh StreamExecutionEnvironment for one job, submitted to the lab's JobManager."""
    return lab.stream_env()


def _detect_datastream(lab: Lab, topic: str, small: float, large: float, within_ms: int) -> list[dict]:
    from pyflink.common import Types

    env = _env(lab)
    source = _kafka_source(lab, topic, bounded=True, group_id=f"{topic}-ds")
    alerts = (
        env.from_source(source, _watermarks(), "transactions")
        .map(json.loads, output_type=Types.PICKLED_BYTE_ARRAY())
        .key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
        .process(small_then_large_function(small, large, within_ms), output_type=Types.PICKLED_BYTE_ARRAY())
    )
    with alerts.execute_and_collect(f"l09 detect (DataStream) {topic}") as results:
        return list(results)


# --- rule 2 as Flink SQL MATCH_RECOGNIZE ----------------------------------------------


TX_SCHEMA = """
  tx_id STRING,
  account_id STRING,
  amount DOUBLE,
  `row` BIGINT,
  ts BIGINT,
  event_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR event_time AS event_time - INTERVAL '0.001' SECOND
"""


def sql_interval(ms: int) -> str:
    """A Flink SQL interval literal of exactly ``ms`` milliseconds, for any length.

    ``INTERVAL '1740.000' SECOND`` is refused: a bare ``SECOND`` is ``SECOND(2)``, at most
    two digits before the point (99.999 s). The leading precision is given explicitly,
    as many digits as the number needs: ``INTERVAL '86400.000' SECOND(5, 3)`` is a day.
    """
    if isinstance(ms, bool) or not isinstance(ms, numbers.Integral) or ms <= 0:
        raise ValueError(f"an interval is a positive whole number of milliseconds, not {ms!r}")
    seconds, millis = divmod(int(ms), 1000)
    digits = max(2, len(str(seconds)))
    if digits > 9:
        raise ValueError(f"{ms} ms is longer than Flink's largest SECOND interval (SECOND(9))")
    return f"INTERVAL '{seconds}.{millis:03d}' SECOND({digits}, 3)"


def match_recognize_sql(table: str, small: float, large: float, within_ms: int) -> str:
    """Rule 2: the same pattern in Flink SQL. ``PATTERN (S L)`` means L is the row right
    after S in the account's rows ordered by event time; ``WITHIN`` drops a match whose
    last row is ``within`` or more after its first."""
    return f"""
SELECT *
FROM `{table}`
MATCH_RECOGNIZE (
  PARTITION BY account_id
  ORDER BY event_time
  MEASURES
    S.amount AS small_amount, S.ts AS small_ts, S.`row` AS small_row, S.tx_id AS small_tx_id,
    L.amount AS large_amount, L.ts AS large_ts, L.`row` AS large_row, L.tx_id AS large_tx_id
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S L) WITHIN {sql_interval(within_ms)}
  DEFINE
    S AS S.amount < {float(small)!r},
    L AS L.amount > {float(large)!r}
)"""


def _detect_sql(lab: Lab, topic: str, small: float, large: float, within_ms: int) -> list[dict]:
    return _run_sql_on_topic(lab, topic, match_recognize_sql("transactions", small, large, within_ms))


def _run_sql_on_topic(lab: Lab, topic: str, sql: str) -> list[dict]:
    """Run ``sql`` (over a table ``transactions`` with :data:`TX_SCHEMA`, bounded at the
    topic's current end) as a streaming job; its rows as dicts."""
    t_env = lab.table_env()
    lab.kafka_table(t_env, "transactions", TX_SCHEMA, topic=topic, bounded=True)
    result = t_env.execute_sql(sql)
    names = result.get_table_schema().get_field_names()
    with result.collect() as rows:
        return [dict(zip(names, row, strict=True)) for row in rows]


def run_sql(
    transactions: Iterable[Mapping] | pd.DataFrame, sql: str, *, lab: Lab | None = None
) -> pd.DataFrame:
    """Run your own Flink SQL over some transactions, the way ``detect(engine="sql")``
    runs rule 2: they are checked, sent through a fresh Kafka topic, and readable in
    ``sql`` as the table ``transactions`` (columns tx_id, account_id, amount, `row`, ts
    in epoch ms, and event_time, the event-time attribute). One Flink job; the rows come
    back as a DataFrame (TIMESTAMP columns are best returned as ``ts`` numbers)."""
    txs = _prepared(transactions)
    lab = lab or _connect()
    topic = scratch_topic_name()
    lab.create_topic(topic, partitions=1)
    try:
        lab.produce(topic, txs, key="account_id", timestamp="ts")
        return pd.DataFrame(_run_sql_on_topic(lab, topic, sql))
    finally:
        lab.delete_topic(topic)


SCRATCH_PREFIX = "l09-scratch-"


def scratch_topic_name() -> str:
    """A new name for the throw-away topic of one `detect` / `run_sql` call. Every call
    creates one such topic and deletes it when done: the prefix says so in
    ``lab.topics()`` and the Web UI, should a crash leave one behind."""
    return f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:10]}"


def _connect() -> Lab:
    from .lab import connect

    return connect(quiet=True)


def _prepared(transactions: Iterable[Mapping] | pd.DataFrame) -> list[dict]:
    """validate() plus each row's tx_id (if it has one), ready to send."""
    if isinstance(transactions, pd.DataFrame):
        originals = transactions.to_dict("records")
    else:
        transactions = list(transactions)
        originals = transactions
    txs = validate(originals)
    for tx in txs:
        tx_id = originals[tx["row"]].get("tx_id")
        tx["tx_id"] = None if _is_missing(tx_id) else str(tx_id)
    return txs


# --- detect() ----------------------------------------------------------------------


def detect(
    transactions: Iterable[Mapping] | pd.DataFrame,
    *,
    small: float = SMALL,
    large: float = LARGE,
    within: timedelta = WITHIN,
    engine: str = "datastream",
    lab: Lab | None = None,
) -> pd.DataFrame:
    """Run rule 1 ("a transaction under ``small`` immediately followed, on the same
    account, by one over ``large`` within ``within``") as a real Flink job.

    The transactions (dicts or a DataFrame with ``account_id``, ``amount``, ``timestamp``;
    a timestamp may be epoch ms, a datetime or an ISO string) are checked first, then
    sent in event-time order to a *scratch topic* (``l09-scratch-<random>``, one
    partition, keyed by account; see `scratch_topic_name`), read back by a bounded Flink
    job (``engine="datastream"``: KeyedProcessFunction with ValueState and an event-time
    timer; ``engine="sql"``: MATCH_RECOGNIZE), and the scratch topic is deleted again.

    Returns one row per alert: account_id, small_amount, small_time, large_amount,
    large_time (UTC), small_row and large_row (positions in the input).
    """
    if engine not in ("datastream", "sql"):
        raise ValueError(f"engine must be 'datastream' or 'sql', not {engine!r}")
    if not small >= 0 or not large >= 0:
        raise ValueError(f"thresholds must be amounts >= 0, not small={small!r}, large={large!r}")
    if small > large:
        # a transaction could then be both "tiny" and "large", and the two engines would
        # disagree on whether it may also start the next pattern
        raise ValueError(f"small ({small}) must not be more than large ({large})")
    within_ms = _within_ms(within)
    txs = _prepared(transactions)
    lab = lab or _connect()
    topic = scratch_topic_name()
    lab.create_topic(topic, partitions=1)
    try:
        lab.produce(topic, txs, key="account_id", timestamp="ts")
        run = _detect_datastream if engine == "datastream" else _detect_sql
        found = run(lab, topic, float(small), float(large), within_ms) if txs else []
    finally:
        lab.delete_topic(topic)
    return alerts_frame(found)


def alerts_frame(found: list[dict]) -> pd.DataFrame:
    """Alerts as a DataFrame in a fixed order (by large_time, then account)."""
    df = pd.DataFrame(found, columns=[*ALERT_COLUMNS, "small_tx_id", "large_tx_id", "small_ts", "large_ts"])
    df["small_time"] = pd.to_datetime(df["small_ts"], unit="ms", utc=True)
    df["large_time"] = pd.to_datetime(df["large_ts"], unit="ms", utc=True)
    for col in ("small_row", "large_row"):
        df[col] = df[col].astype("Int64")
    df = df.sort_values(["large_ts", "account_id"], kind="stable").reset_index(drop=True)
    cols = list(ALERT_COLUMNS)
    if df["large_tx_id"].notna().any():
        cols += ["small_tx_id", "large_tx_id"]
    return df[cols]


def same_alerts(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two alert tables hold the same alerts (order and extra columns ignored)."""
    key = ["account_id", "small_row", "large_row", "small_amount", "large_amount", "small_time", "large_time"]
    left = a[key].sort_values(key).reset_index(drop=True)
    right = b[key].sort_values(key).reset_index(drop=True)
    return left.equals(right)


def event_time():
    """A ``TimestampAssigner``: event time from a parsed transaction's ``ts`` field. A
    Kafka source needs none (it takes the record's timestamp); a socket carries only text."""
    from pyflink.common.watermark_strategy import TimestampAssigner

    class FromTs(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp) -> int:
            return value["ts"]

    return FromTs()


_ts_assigner = event_time


# --- rule 3: velocity (windows) and amount outliers (running statistics in state) ----------


class Rules:
    """The thresholds of every rule, as the dashboard's widgets set them."""

    def __init__(
        self,
        *,
        small: float = SMALL,
        large: float = LARGE,
        within: timedelta = WITHIN,
        velocity_n: int = 5,
        velocity_window: timedelta = timedelta(seconds=10),
        outlier_k: float = 4.0,
        outlier_history: int = 3,
    ) -> None:
        self.small = float(small)
        self.large = float(large)
        self.within = within
        self.velocity_n = int(velocity_n)
        self.velocity_window = velocity_window
        self.outlier_k = float(outlier_k)
        self.outlier_history = int(outlier_history)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def __repr__(self) -> str:
        return "Rules(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"


def velocity_window_function(n: int):
    """Velocity rule: more than ``n`` transactions of one account in one window."""
    from pyflink.datastream.functions import ProcessWindowFunction

    class MoreThanN(ProcessWindowFunction):
        def process(self, key, context, elements):
            txs = list(elements)
            if len(txs) > n:
                last = max(txs, key=lambda t: t["ts"])
                yield {
                    "rule": "velocity",
                    "account_id": key,
                    "tx_ids": [t.get("tx_id") for t in txs],
                    "amounts": [t["amount"] for t in txs],
                    "event_ts": last["ts"],
                    "window_end": context.window().end,
                    "detail": f"{len(txs)} transactions in one window (limit {n})",
                }

    return MoreThanN()


def velocity_function(n: int, size_ms: int, slide_ms: int):
    """Velocity rule: more than ``n`` transactions of one account in one sliding event-time
    window (``size_ms`` long, a new one every ``slide_ms``), as a ``KeyedProcessFunction``.

    It does what ``key_by(...).window(SlidingEventTimeWindows.of(size, slide))`` with
    `velocity_window_function` does - the same windows, the same alerts, fired when the
    watermark passes a window's end, late transactions dropped - but keeps each account's
    open windows in one ``ValueState`` (``{window end: [transactions]}``) with one
    event-time timer per window end. PyFlink's window operator runs its window assignment
    and keeps its window contents in Python for every element - about ten times slower.
    """
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    class Velocity(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext) -> None:
            descriptor = ValueStateDescriptor("windows", Types.PICKLED_BYTE_ARRAY())
            self.windows = runtime_context.get_state(descriptor)

        def process_element(self, tx, ctx):
            ts = tx["ts"]
            watermark = ctx.timer_service().current_watermark()
            windows = self.windows.value() or {}
            start = ts - ts % slide_ms  # the last window that holds ts; earlier ones every slide
            while start > ts - size_ms:
                end = start + size_ms
                if end - 1 > watermark:  # a window whose end the watermark passed has fired: late
                    if end not in windows:
                        windows[end] = []
                        ctx.timer_service().register_event_time_timer(end - 1)
                    windows[end].append((ts, tx.get("tx_id"), tx["amount"]))
                start -= slide_ms
            self.windows.update(windows)
            yield from ()

        def on_timer(self, timestamp, ctx):
            windows = self.windows.value() or {}
            txs = windows.pop(timestamp + 1, [])
            if windows:
                self.windows.update(windows)
            else:
                self.windows.clear()
            if len(txs) > n:
                yield {
                    "rule": "velocity",
                    "account_id": ctx.get_current_key(),
                    "tx_ids": [t[1] for t in txs],
                    "amounts": [t[2] for t in txs],
                    "event_ts": max(t[0] for t in txs),
                    "window_end": timestamp + 1,
                    "detail": f"{len(txs)} transactions in one window (limit {n})",
                }

    return Velocity()


def outlier_function(k: float, history: int, min_spread: float = 0.4):
    """Amount-outlier rule: per-account running statistics of log(amount) - mean and
    standard deviation by Welford's algorithm - kept in ValueState. Once an account has
    ``history`` transactions, one whose log(amount) is more than ``k`` standard deviations
    above its mean raises an alert. Logs, because spending varies by factors (a 10 EUR
    coffee buyer and a 100 EUR grocer are equally "normal"); ``min_spread`` keeps a few
    near-identical amounts from making every small change look suspicious. Flagged
    amounts are not learnt, so one fraud does not make the next one look normal."""
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    class AmountOutlier(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext) -> None:
            self.stats = runtime_context.get_state(ValueStateDescriptor("stats", Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, tx, ctx):
            count, mean, m2 = self.stats.value() or (0, 0.0, 0.0)
            x = math.log(max(tx["amount"], 0.01))
            if count >= history:
                std = max(math.sqrt(m2 / (count - 1)), min_spread)
                if x > mean + k * std:
                    yield {
                        "rule": "outlier",
                        "account_id": tx["account_id"],
                        "tx_ids": [tx.get("tx_id")],
                        "amounts": [tx["amount"]],
                        "event_ts": tx["ts"],
                        "detail": f"{tx['amount']:.2f}, usually about {math.exp(mean):.2f}",
                    }
                    return
            count += 1
            delta = x - mean
            mean += delta / count
            m2 += delta * (x - mean)
            self.stats.update((count, mean, m2))

    return AmountOutlier()


def _card_testing_alert(a: dict) -> dict:
    return {
        "rule": "card_testing",
        "account_id": a["account_id"],
        "tx_ids": [a.get("small_tx_id"), a.get("large_tx_id")],
        "amounts": [a["small_amount"], a["large_amount"]],
        "event_ts": a["large_ts"],
        "detail": f"{a['small_amount']:.2f} then {a['large_amount']:.2f} "
        f"{(a['large_ts'] - a['small_ts']) / 1000:.1f} s later",
    }


def rules_stream(stream, rules: Rules, generation: int = 0, *, windowed: bool = False):
    """All three rules on a DataStream of parsed transactions (dicts with ``ts``): one
    DataStream of alert dicts, each stamped with ``generation`` and the wall-clock time
    Flink raised it (``detected_at``, epoch ms). ``windowed=True`` runs the velocity rule
    on PyFlink's window operator (`velocity_window_function`) instead of
    `velocity_function`: the same alerts, slower (the benchmark compares them)."""
    from pyflink.common import Time, Types
    from pyflink.datastream.window import SlidingEventTimeWindows

    pickled = Types.PICKLED_BYTE_ARRAY()
    keyed = stream.key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
    within_ms = _within_ms(rules.within)
    card = keyed.process(
        small_then_large_function(rules.small, rules.large, within_ms), output_type=pickled
    ).map(_card_testing_alert, output_type=pickled)
    size = _within_ms(rules.velocity_window)
    if windowed:  # PyFlink's window operator: the same alerts, about ten times slower
        velocity = keyed.window(
            SlidingEventTimeWindows.of(Time.milliseconds(size), Time.milliseconds(max(1, size // 2)))
        ).process(velocity_window_function(rules.velocity_n), output_type=pickled)
    else:
        rule = velocity_function(rules.velocity_n, size, max(1, size // 2))
        velocity = keyed.process(rule, output_type=pickled)
    outlier = keyed.process(outlier_function(rules.outlier_k, rules.outlier_history), output_type=pickled)

    def stamp(alert: dict) -> dict:
        return {**alert, "generation": generation, "detected_at": int(time.time() * 1000)}

    return card.union(velocity, outlier).map(stamp, output_type=pickled)


def parse(raw: str) -> dict:
    """One transaction from its JSON text, with ``ts`` (event time, epoch ms) added."""
    tx = json.loads(raw)
    if "ts" not in tx:
        tx["ts"] = _to_ms(tx["timestamp"])
    return tx


_parse = parse


def replay(lab: Lab, topic: str, rules: Rules | None = None) -> pd.DataFrame:
    """Kafka + Flink: run every rule over *everything already in* ``topic`` (a bounded
    job from the earliest offset to the current end) and return the alerts. This is
    "replay yesterday's transactions through a new rule"."""
    env = _env(lab)
    source = _kafka_source(lab, topic, bounded=True, group_id=f"l09-replay-{uuid.uuid4().hex[:8]}")
    stream = env.from_source(source, _watermarks(), f"replay {topic}").map(_parse, output_type=_pickled())
    alerts = rules_stream(stream, rules or Rules())
    with alerts.execute_and_collect(f"l09 replay {topic}") as results:
        return common_alerts_frame(list(results))


def _pickled():
    from pyflink.common import Types

    return Types.PICKLED_BYTE_ARRAY()


COMMON_COLUMNS = [
    "rule",
    "account_id",
    "event_time",
    "tx_ids",
    "amounts",
    "detail",
    "generation",
    "detected_at",
]


def common_alerts_frame(alerts: list[dict]) -> pd.DataFrame:
    """Alerts of any rule as one table, ordered by event time."""
    df = pd.DataFrame(alerts, columns=[*COMMON_COLUMNS, "event_ts"])
    df["event_time"] = pd.to_datetime(df["event_ts"], unit="ms", utc=True)
    df = df.sort_values(["event_ts", "rule", "account_id"], kind="stable").reset_index(drop=True)
    return df[COMMON_COLUMNS]


def as_common(rule1_alerts: pd.DataFrame) -> pd.DataFrame:
    """detect()'s table in the common alert format (rule, account_id, tx_ids, ...)."""
    rows = []
    for a in rule1_alerts.to_dict("records"):
        a = {
            **a,
            "small_ts": int(a["small_time"].timestamp() * 1000),
            "large_ts": int(a["large_time"].timestamp() * 1000),
        }
        rows.append(_card_testing_alert(a))
    return common_alerts_frame(rows)


TARGET = {"card_testing": "card_testing", "velocity": "burst", "outlier": "outlier"}


def evaluate(alerts: pd.DataFrame, transactions: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall of each rule against the generator's labels.

    An alert is *true* when one of the transactions that caused it is labelled fraud (any
    pattern). A rule's recall is the share of the episodes of *its* pattern (velocity ->
    burst) with at least one alert on one of their transactions.
    """
    label = dict(zip(transactions["tx_id"], transactions["label"], strict=True))
    episode = dict(zip(transactions["tx_id"], transactions["episode"], strict=True))
    rows = []
    for rule, target in TARGET.items():
        mine = alerts[alerts["rule"] == rule] if len(alerts) else alerts
        true = sum(any(label.get(t) for t in ids) for ids in mine["tx_ids"])
        episodes = set(transactions.loc[transactions["label"] == target, "episode"])
        caught = {episode.get(t) for ids in mine["tx_ids"] for t in ids} & episodes
        rows.append(
            {
                "rule": rule,
                "alerts": len(mine),
                "true_alerts": true,
                "precision": true / len(mine) if len(mine) else float("nan"),
                "episodes": len(episodes),
                "caught": len(caught),
                "recall": len(caught) / len(episodes) if episodes else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("rule")


# --- the live pipeline: Kafka -> Flink (all rules) -> Kafka ---------------------------------


class _Pipeline:
    """An unbounded fraud job between two topics that can be restarted with new rules;
    each restart is a new ``generation`` (its alerts say which rules produced them)."""

    def __init__(
        self,
        lab: Lab,
        tx_topic: str,
        alerts_topic: str,
        rules: Rules | None = None,
        *,
        windowed: bool = False,
    ) -> None:
        self.windowed = windowed  # LivePipeline: velocity on PyFlink's window operator (slower)
        self.lab = lab
        self.tx_topic = tx_topic
        self.alerts_topic = alerts_topic
        self.rules = rules or Rules()
        self.generation = 0
        self.job = None

    def _next_generation(self, rules: Rules | None) -> None:
        # the new generation counts from now: the old job's alerts are old from this moment,
        # even while cancelling it takes a while
        self.generation += 1
        self.stop()
        if rules is not None:
            self.rules = rules

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()
            if self.job in self.lab.jobs:
                self.lab.jobs.remove(self.job)
            self.job = None


class LivePipeline(_Pipeline):
    """All three rules as one unbounded Flink job: reads ``tx_topic`` from its earliest
    offset, writes one JSON alert per line to ``alerts_topic``. Restarting with new
    rules (a new ``generation``) re-reads the topic from the start: Kafka kept it all."""

    def start(self, rules: Rules | None = None):
        """(Re)start the job with ``rules``; returns the labkit `Job`."""
        from pyflink.common import Duration, Types
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.base import DeliveryGuarantee
        from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

        self._next_generation(rules)
        env = _env(self.lab)
        source = _kafka_source(
            self.lab, self.tx_topic, bounded=False, group_id=f"{self.tx_topic}-g{self.generation}"
        )
        marks = _watermarks().with_idleness(Duration.of_seconds(2))
        stream = env.from_source(source, marks, self.tx_topic).map(_parse, output_type=_pickled())
        alerts = rules_stream(stream, self.rules, self.generation, windowed=self.windowed).map(
            lambda a: json.dumps(a, separators=(",", ":")), output_type=Types.STRING()
        )
        sink = (
            KafkaSink.builder()
            .set_bootstrap_servers(self.lab.flink_bootstrap_servers)
            .set_record_serializer(
                KafkaRecordSerializationSchema.builder()
                .set_topic(self.alerts_topic)
                .set_value_serialization_schema(SimpleStringSchema())
                .build()
            )
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .build()
        )
        alerts.sink_to(sink)
        name = f"l09 fraud rules g{self.generation}"
        self.job = self.lab.start(env.execute_async(name), name)
        return self.job


class SqlPipeline(_Pipeline):
    """Rule 2 alone as an unbounded Flink SQL job (``INSERT INTO alerts ... MATCH_RECOGNIZE``):
    the same card-testing alerts as `LivePipeline`, in the same JSON shape, but computed
    entirely inside the JVM - no Python operator. Used by `measure` to show what the
    Python operators cost. Its alerts wait for the watermark (MATCH_RECOGNIZE sorts rows
    by event time first), so they need later transactions on every partition."""

    SCHEMA = """
  tx_id STRING,
  account_id STRING,
  amount DOUBLE,
  `timestamp` BIGINT,
  event_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR event_time AS event_time - INTERVAL '0.001' SECOND
"""
    ALERTS = """
  rule STRING, account_id STRING, tx_ids ARRAY<STRING>, amounts ARRAY<DOUBLE>,
  event_ts BIGINT, detail STRING, generation INT, detected_at BIGINT
"""

    def sql(self) -> str:
        r = self.rules
        return f"""
INSERT INTO alerts
SELECT 'card_testing', account_id, ARRAY[small_tx_id, large_tx_id], ARRAY[small_amount, large_amount],
       large_ts, 'MATCH_RECOGNIZE', {self.generation}, UNIX_TIMESTAMP() * 1000
FROM transactions
MATCH_RECOGNIZE (
  PARTITION BY account_id
  ORDER BY event_time
  MEASURES S.tx_id AS small_tx_id, S.amount AS small_amount,
           L.tx_id AS large_tx_id, L.amount AS large_amount, L.`timestamp` AS large_ts
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S L) WITHIN {sql_interval(_within_ms(r.within))}
  DEFINE S AS S.amount < {r.small!r}, L AS L.amount > {r.large!r}
)"""

    def start(self, rules: Rules | None = None):
        self._next_generation(rules)
        t_env = self.lab.table_env()
        self.lab.kafka_table(
            t_env, "transactions", self.SCHEMA, topic=self.tx_topic, **{"scan.watermark.idle-timeout": "2 s"}
        )
        self.lab.kafka_table(t_env, "alerts", self.ALERTS, topic=self.alerts_topic)
        name = f"l09 card testing (SQL) g{self.generation}"
        self.job = self.lab.start(t_env.execute_sql(self.sql()), name)
        return self.job


class AlertWatcher:
    """A background thread reading an alerts topic from its beginning; ``alerts`` holds
    ``(alert dict, received_at epoch ms)`` pairs in arrival order."""

    def __init__(self, lab: Lab, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.alerts: list[tuple[dict, int]] = []
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(
            **lab.client_config({"enable_auto_commit": False, "fetch_max_wait_ms": 50})
        )
        parts = lab.partitions(topic)
        tps = [TopicPartition(topic, p) for p in parts]
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)
        self._thread = threading.Thread(target=self._run, name=f"alerts {topic}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._consumer.poll(100)
            except Exception:  # noqa: BLE001 - topic deleted or consumer closed while stopping
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            now = int(time.time() * 1000)
            for records in batch.values():
                for r in records:
                    try:
                        self.alerts.append((json.loads(r.value), now))
                    except ValueError:
                        pass

    def wait_for(self, predicate, timeout: float = 60.0) -> tuple[dict, int] | None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for item in self.alerts[seen:]:
                if predicate(item[0]):
                    return item
            seen = len(self.alerts)
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._consumer.close()
        except Exception:  # noqa: BLE001
            pass


def _sentinel_pair(account: str, ts: int) -> list[dict]:
    """A card-testing pair on its own account: its alert marks "everything before it is done"."""
    base = {"merchant": "bench", "country": "DE", "label": "card_testing", "episode": account}
    return [
        {**base, "tx_id": f"{account}-s", "account_id": account, "amount": 0.5, "timestamp": ts},
        {**base, "tx_id": f"{account}-l", "account_id": account, "amount": 900.0, "timestamp": ts + 1},
    ]


def marker_pair(account: str, ts: int) -> list[dict]:
    """Two transactions that raise one card-testing alert on their own ``account``: sent
    after a batch, the alert says "the job has read everything sent before it"."""
    base = {"merchant": "marker", "country": "DE", "label": None, "episode": None}
    return [
        {**base, "tx_id": f"{account}-s", "account_id": account, "amount": 0.5, "timestamp": ts},
        {**base, "tx_id": f"{account}-l", "account_id": account, "amount": 900.0, "timestamp": ts + 1},
    ]


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
    rule on PyFlink's window operator (how it was written before: the same alerts, slower).
    ``engine="sql"``: rule 2 alone as a Flink SQL job (`SqlPipeline`, all inside the JVM) -
    for comparison.

    1. start the three-rule job on fresh ``l09-bench-*`` topics, wait for a first alert;
    2. latency: send transactions at ``paced_rate``/s for ``paced_seconds``; for each
       card-testing alert, time from sending the large transaction to reading the alert
       back from the alerts topic;
    3. throughput: send ``n`` transactions as fast as the producer can, then a sentinel
       pair; throughput = ``n`` / (time from the first send to the sentinel's alert).

    Uses one Flink job; deletes its topics afterwards. Returns a dict of figures.
    """
    if engine not in ("datastream", "windowed", "sql"):
        raise ValueError(f"engine must be 'datastream', 'windowed' or 'sql', not {engine!r}")
    if lab is None:
        from .lab import connect

        lab = connect(quiet=True)
    uid = uuid.uuid4().hex[:8]
    tx_topic = lab.create_topic(f"l09-bench-{uid}-tx", partitions=partitions, config=FUTURE_TIMESTAMPS_OK)
    alerts_topic = lab.create_topic(f"l09-bench-{uid}-alerts", partitions=1, config=FUTURE_TIMESTAMPS_OK)
    gen = TransactionGenerator(seed=seed, accounts=100, rate=2.0, fraud_rate=0.03, start="now")
    producer = lab.producer(linger_ms=2, acks=1)
    sent_at: dict[str, float] = {}
    if engine == "sql":
        pipeline: _Pipeline = SqlPipeline(lab, tx_topic, alerts_topic)
    else:
        pipeline = LivePipeline(lab, tx_topic, alerts_topic, windowed=engine == "windowed")
    watcher = AlertWatcher(lab, alerts_topic)
    refused: list[Exception] = []

    def send(tx: dict) -> None:
        sent_at[tx["tx_id"]] = time.time() * 1000
        future = producer.send(tx_topic, key=tx["account_id"], value=tx, timestamp_ms=tx["timestamp"])
        future.add_errback(refused.append)

    def sentinel(name: str, timeout: float = 120.0) -> float | None:
        for tx in _sentinel_pair(f"{name}-{uid}", int(gen.t)):
            send(tx)
        producer.flush()
        account = f"{name}-{uid}"
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
        if sentinel("warmup") is None:
            raise RuntimeError(f"the fraud job raised no alert within 120 s: {pipeline.job!r}")
        startup_s = time.monotonic() - t0
        # latency at a steady, modest rate
        start_count = len(watcher.alerts)
        paced_txs = []
        begin = time.monotonic()
        for i, tx in enumerate(gen):
            due = begin + i / paced_rate
            if due - begin >= paced_seconds:
                break
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            send(tx)
            producer.flush() if i % 10 == 0 else None
            paced_txs.append(tx)
        producer.flush()
        sentinel("paced")
        latencies = [
            got - sent_at[a["tx_ids"][-1]]
            for a, got in watcher.alerts[start_count:]
            if a["rule"] == "card_testing"
            and a["tx_ids"][-1] in sent_at
            and not a["account_id"].startswith("paced-")
        ]
        # throughput: as fast as we can
        bulk = list(gen.take(n))
        t_send = time.time() * 1000
        for tx in bulk:
            send(tx)
        producer.flush()
        produce_s = (time.time() * 1000 - t_send) / 1000
        done = sentinel("bulk", timeout=300)
        if done is None:
            raise RuntimeError(
                "the sentinel alert did not arrive within 300 s"
                + (f"; Kafka refused {len(refused)} transaction(s): {refused[0]!r}" if refused else "")
            )
        total_s = (done - t_send) / 1000
    finally:
        pipeline.stop()
        watcher.stop()
        producer.close(timeout=5)
        lab.delete_topic(tx_topic, alerts_topic)
    lat = pd.Series(latencies, dtype=float)
    return {
        "engine": engine,
        "transactions": n,
        "produce_seconds": round(produce_s, 2),
        "end_to_end_seconds": round(total_s, 2),
        "throughput_tx_per_s": round(n / total_s, 1),
        "job_startup_seconds": round(startup_s, 1),
        "paced_rate": paced_rate,
        "paced_transactions": len(paced_txs),
        "latency_alerts": len(lat),
        "latency_ms_p50": round(float(lat.median()), 1) if len(lat) else None,
        "latency_ms_p95": round(float(lat.quantile(0.95)), 1) if len(lat) else None,
        "latency_ms_max": round(float(lat.max()), 1) if len(lat) else None,
    }


#: The name the benchmark looks for.
measure_throughput = measure
