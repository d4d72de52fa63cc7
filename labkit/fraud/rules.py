"""Lesson 09's fraud rules, each the way Flink runs it; no job is started here.

* rule 1, `small_then_large_function` - the Flink fraud-detection walkthrough's
  ``FraudDetector`` ("a transaction under 1.00 immediately followed by one over 500.00
  within one minute") as a DataStream ``KeyedProcessFunction`` on event time;
* rule 2, `match_recognize_sql` - the same pattern as Flink SQL ``MATCH_RECOGNIZE`` (the
  one builder of that query: `detect`, the live `SqlPipeline` and the exercise's hint use
  it), with `sql_interval` for its ``WITHIN``;
* rule 3, `velocity_function` (more than N transactions of an account in a sliding
  event-time window; `velocity_window_function` is the same on PyFlink's window operator)
  and `outlier_function` (amounts far from the account's running statistics);
* `Rules` (every threshold, as the dashboard's widgets set them) and `rules_stream`, all
  three rules on one DataStream.

Boundary semantics (the same in both engines, pinned by tests/fraud/test_fraud_jobs.py):
``amount < small`` (strictly), ``amount > large`` (strictly), and the large one must be
the *next* transaction of that account in event-time order with
``large.timestamp - small.timestamp < within`` (strictly less, as Flink CEP's
``WITHIN`` does: a gap of exactly one minute is too late).

PyFlink is imported inside the functions, so ``import labkit.fraud`` needs no JVM.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from .alerts import card_testing_alert
from .data import LARGE, SMALL, WITHIN


def within_ms(within: timedelta | float | int) -> int:
    """A positive duration (a timedelta, or seconds) as whole milliseconds."""
    # exact integer arithmetic: int(total_seconds() * 1000) can lose a millisecond to
    # floating point (59.999 s * 1000 = 59998.99...), and the boundary is exactly there
    ms = within // timedelta(milliseconds=1) if isinstance(within, timedelta) else round(within * 1000)
    if ms <= 0:
        raise ValueError(f"within must be a positive duration, not {within!r}")
    return ms


# --- rule 1 as a DataStream KeyedProcessFunction -----------------------------------------


def small_then_large_function(small: float, large: float, within_ms: int) -> Any:
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

        def process_element(self, tx: dict, ctx: Any) -> Iterator[dict]:
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

        def on_timer(self, timestamp: int, ctx: Any) -> Iterator[dict]:
            # a minute (event time) after the tiny transaction: forget it
            self.last_small.clear()
            self.timer.clear()
            yield from ()  # PyFlink wants an iterable back, even an empty one

        def _clean_up(self, ctx: Any) -> None:
            when = self.timer.value()
            if when is not None:
                ctx.timer_service().delete_event_time_timer(when)
            self.timer.clear()
            self.last_small.clear()

    return SmallThenLarge()


# --- rule 2 as Flink SQL MATCH_RECOGNIZE ----------------------------------------------


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

    def __repr__(self) -> str:
        return "Rules(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"


def velocity_window_function(n: int) -> Any:
    """Velocity rule: more than ``n`` transactions of one account in one window."""
    from pyflink.datastream.functions import ProcessWindowFunction

    class MoreThanN(ProcessWindowFunction):
        def process(self, key: str, context: Any, elements: Any) -> Iterator[dict]:
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


def velocity_function(n: int, size_ms: int, slide_ms: int) -> Any:
    """Velocity rule: more than ``n`` transactions of one account in one sliding event-time
    window (``size_ms`` long, a new one every ``slide_ms``), as a ``KeyedProcessFunction``.

    It does what ``key_by(...).window(SlidingEventTimeWindows.of(size, slide))`` with
    `velocity_window_function` does - the same windows, the same alerts, fired when the
    watermark passes a window's end, late transactions dropped - but keeps each account's
    open windows in one ``ValueState`` (``{window end: [transactions]}``) with one
    event-time timer per window end. PyFlink's window operator runs its window assignment
    and keeps its window contents in Python for every element: in PyFlink's process mode
    several times slower; in the lab's thread mode about as fast (scripts/bench_fraud.py).
    """
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    class Velocity(KeyedProcessFunction):
        def open(self, runtime_context: RuntimeContext) -> None:
            descriptor = ValueStateDescriptor("windows", Types.PICKLED_BYTE_ARRAY())
            self.windows = runtime_context.get_state(descriptor)

        def process_element(self, tx: dict, ctx: Any) -> Iterator[dict]:
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

        def on_timer(self, timestamp: int, ctx: Any) -> Iterator[dict]:
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


def outlier_function(k: float, history: int, min_spread: float = 0.4) -> Any:
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

        def process_element(self, tx: dict, ctx: Any) -> Iterator[dict]:
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


# --- all rules on one stream ----------------------------------------------------------------


def event_time() -> Any:
    """A ``TimestampAssigner``: event time from a parsed transaction's ``ts`` field. A
    Kafka source needs none (it takes the record's timestamp); a socket carries only text."""
    from pyflink.common.watermark_strategy import TimestampAssigner

    class FromTs(TimestampAssigner):
        def extract_timestamp(self, value: dict, record_timestamp: int) -> int:
            return value["ts"]

    return FromTs()


def rules_stream(stream: Any, rules: Rules, generation: int = 0, *, windowed: bool = False) -> Any:
    """All three rules on a DataStream of parsed transactions (dicts with ``ts``): one
    DataStream of alert dicts, each stamped with ``generation`` and the wall-clock time
    Flink raised it (``detected_at``, epoch ms). ``windowed=True`` runs the velocity rule
    on PyFlink's window operator (`velocity_window_function`) instead of
    `velocity_function`: the same alerts; in thread mode about as fast, in process mode
    several times slower (scripts/bench_fraud.py compares them)."""
    from pyflink.common import Time, Types
    from pyflink.datastream.window import SlidingEventTimeWindows

    pickled = Types.PICKLED_BYTE_ARRAY()
    keyed = stream.key_by(lambda tx: tx["account_id"], key_type=Types.STRING())
    card = keyed.process(
        small_then_large_function(rules.small, rules.large, within_ms(rules.within)), output_type=pickled
    ).map(card_testing_alert, output_type=pickled)
    size = within_ms(rules.velocity_window)
    if windowed:  # PyFlink's window operator: the same alerts (speed: see the docstring)
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
