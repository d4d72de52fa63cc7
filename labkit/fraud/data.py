"""Lesson 09's data: labelled card transactions, the checks they pass, and how Flink reads them.

* `TransactionGenerator` / `transactions` - card payments with fraud patterns injected at a
  chosen rate and labelled with the ground truth (``label``):

  - ``card_testing``: a tiny charge (< 1.00) and, a few seconds later, a large one
    (> 500.00) on the same account, nothing else on that account in between;
  - ``burst``: many ordinary-looking charges on one account within a few seconds;
  - ``outlier``: one amount far above what that account usually spends.

* `validate` / `prepared` - a list of dicts or a DataFrame checked row by row before any
  job runs (`BadTransaction` names the bad row).
* `TX_SCHEMA` - the one schema Flink SQL reads transactions with; `parse` - the one way a
  DataStream job reads one. Both read event time from ``ts`` (epoch ms): `prepared` and
  `with_ts` add it to what is sent (a SQL job needs it there); `parse` derives it from
  ``timestamp`` when the text has none.
* `marker_pair` - two transactions whose alert says "the job has read everything before".
"""

from __future__ import annotations

import heapq
import json
import math
import numbers
import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from ..events import COUNTRIES, COUNTRY_WEIGHTS, MERCHANTS, start_ms, zipf_weights

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

#: Transactions as Flink SQL reads them from Kafka (JSON values): the one schema of every
#: fraud SQL job - `detect(engine="sql")`, `run_sql` and the live `SqlPipeline`. ``ts`` is
#: the event time in epoch ms as a number, ``event_time`` the same instant as the Kafka
#: record's timestamp (the event-time attribute); ``row`` is the position in `detect`'s
#: input (NULL for live transactions).
TX_SCHEMA = """
  tx_id STRING,
  account_id STRING,
  amount DOUBLE,
  `row` BIGINT,
  ts BIGINT,
  event_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR event_time AS event_time - INTERVAL '0.001' SECOND
"""


# --- the generator ----------------------------------------------------------------------


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


def marker_pair(account: str, ts: int) -> list[dict]:
    """Two transactions that raise one card-testing alert on their own ``account``: sent
    after a batch, the alert says "the job has read everything sent before it"."""
    base = {"merchant": "marker", "country": "DE", "label": None, "episode": None}
    return [
        {**base, "tx_id": f"{account}-s", "account_id": account, "amount": 0.5, "timestamp": ts},
        {**base, "tx_id": f"{account}-l", "account_id": account, "amount": 900.0, "timestamp": ts + 1},
    ]


# --- checking the input ----------------------------------------------------------------


class BadTransaction(ValueError):
    """A transaction handed to `detect` cannot be used; the message names the row."""


REQUIRED = ("account_id", "amount", "timestamp")


def to_ms(value: Any) -> int:
    """A time as epoch milliseconds: a number (already ms), a datetime (naive = UTC) or
    an ISO string. ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, numbers.Real):  # epoch milliseconds (numpy numbers too)
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a time")
        return int(float(value))
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


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


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
    clean: list[dict[str, Any]] = []
    for i, tx in enumerate(rows):
        if not isinstance(tx, Mapping):
            raise BadTransaction(f"row {i} is a {type(tx).__name__}, not a dict: {tx!r:.200}")
        missing = [f for f in REQUIRED if f not in tx or is_missing(tx[f])]
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
            ts = to_ms(tx["timestamp"])
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


def prepared(transactions: Iterable[Mapping] | pd.DataFrame) -> list[dict]:
    """`validate` plus each row's tx_id (if it has one): ready to send to a fraud job."""
    if isinstance(transactions, pd.DataFrame):
        originals = transactions.to_dict("records")
    else:
        originals = list(transactions)
    txs = validate(originals)
    for tx in txs:
        tx_id = originals[tx["row"]].get("tx_id")
        tx["tx_id"] = None if is_missing(tx_id) else str(tx_id)
    return txs


# --- how a job reads one ----------------------------------------------------------------


def with_ts(tx: Mapping[str, Any]) -> dict:
    """A generated transaction as it travels to a live fraud job: its fields plus ``ts``
    (the event time in epoch ms, which `TX_SCHEMA` and `parse` read)."""
    return {**tx, "ts": tx["timestamp"]}


def parse(raw: str) -> dict:
    """One transaction from its JSON text, with ``ts`` (event time, epoch ms) added."""
    tx = json.loads(raw)
    if "ts" not in tx:
        tx["ts"] = to_ms(tx["timestamp"])
    return tx
