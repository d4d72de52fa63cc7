"""Event generators: clicks, payments and sensor readings that look like the real thing.

Every generator is deterministic for a given ``seed`` (the same events, in the same
order, with the same timestamps), so a lesson can assert exact results. Event time is
carried in ``ts`` (epoch milliseconds, UTC) and advances by random gaps whose mean is
``1 / rate`` seconds; it starts at ``start`` (a fixed instant by default, so runs repeat;
pass ``start="now"`` for live demos). Use :func:`paced` to *send* events at a wall-clock
rate.

    from labkit import events
    list(events.clicks(3, seed=1))
    for e in events.paced(events.sensors(seed=2), per_second=50): ...
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)

PAGES = ["/", "/search", "/product/1", "/product/2", "/product/3", "/cart", "/checkout", "/help"]
PAGE_WEIGHTS = [30, 20, 12, 10, 8, 9, 6, 5]
DEVICES = ["mobile", "desktop", "tablet"]
DEVICE_WEIGHTS = [60, 33, 7]
MERCHANTS = ["grocer", "coffee", "fuel", "books", "electronics", "travel", "pharmacy", "fashion"]
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "US", "GB", "PL"]
COUNTRY_WEIGHTS = [40, 15, 12, 10, 8, 6, 5, 4]


def start_ms(start: datetime | str | int | None) -> int:
    """Epoch milliseconds for ``start``: None -> the fixed EPOCH, "now" -> wall clock."""
    if start is None:
        return int(EPOCH.timestamp() * 1000)
    if start == "now":
        return int(time.time() * 1000)
    if isinstance(start, int):
        return start
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return int(start.timestamp() * 1000)


def zipf_weights(n: int, skew: float) -> list[float]:
    """Weights for ``n`` keys where key *k* is ``1/k**skew`` as popular as key 1.

    ``skew=0`` is uniform; ``skew`` around 1 is what real user activity looks like
    (a few heavy users, a long tail); larger values make one key "hot".
    """
    if n < 1:
        raise ValueError(f"need at least one key, not {n}")
    if skew < 0:
        raise ValueError(f"skew must be >= 0, not {skew}")
    return [1.0 / (k**skew) for k in range(1, n + 1)]


def _check_rate(rate: float) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be a positive number of events per second, not {rate!r}")


def _times(rng: random.Random, start: int, rate: float) -> Iterator[int]:
    """Event times with exponential gaps (a Poisson process), in epoch ms."""
    t = float(start)
    while True:
        yield int(t)
        t += rng.expovariate(rate) * 1000


def _take(gen: Iterator[dict], n: int | None) -> Iterator[dict]:
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    return gen if n is None else itertools.islice(gen, n)


def clicks(
    n: int | None = None,
    *,
    seed: int = 0,
    users: int = 50,
    skew: float = 1.1,
    rate: float = 20.0,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Page views on a web shop: ``user_id`` (Zipf-popular), ``page``, ``device``, ``ts``."""
    _check_rate(rate)
    rng = random.Random(seed)
    ids = [f"user-{i:03d}" for i in range(1, users + 1)]
    weights = zipf_weights(users, skew)

    def gen() -> Iterator[dict]:
        for i, ts in enumerate(_times(rng, start_ms(start), rate)):
            yield {
                "event_id": f"c{seed}-{i}",
                "user_id": rng.choices(ids, weights)[0],
                "page": rng.choices(PAGES, PAGE_WEIGHTS)[0],
                "device": rng.choices(DEVICES, DEVICE_WEIGHTS)[0],
                "ts": ts,
            }

    return _take(gen(), n)


def payments(
    n: int | None = None,
    *,
    seed: int = 0,
    accounts: int = 20,
    skew: float = 0.8,
    rate: float = 5.0,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Card payments: ``tx_id``, ``account_id``, ``amount`` (log-normal around each
    account's own typical spend), ``merchant``, ``country``, ``ts``."""
    _check_rate(rate)
    rng = random.Random(seed)
    ids = [f"acct-{i:03d}" for i in range(1, accounts + 1)]
    weights = zipf_weights(accounts, skew)
    typical = {a: rng.uniform(15, 120) for a in ids}  # each account's usual spend
    home = {a: rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0] for a in ids}

    def gen() -> Iterator[dict]:
        for i, ts in enumerate(_times(rng, start_ms(start), rate)):
            acct = rng.choices(ids, weights)[0]
            amount = round(typical[acct] * math.exp(rng.gauss(0, 0.5)), 2)
            yield {
                "tx_id": f"t{seed}-{i}",
                "account_id": acct,
                "amount": max(amount, 0.5),
                "currency": "EUR",
                "merchant": rng.choice(MERCHANTS),
                "country": home[acct] if rng.random() < 0.95 else rng.choice(COUNTRIES),
                "ts": ts,
            }

    return _take(gen(), n)


def sensors(
    n: int | None = None,
    *,
    seed: int = 0,
    sensors: int = 5,
    rate: float = 10.0,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Temperature/humidity readings: each sensor drifts (random walk) around its own
    level, with a daily cycle. ``sensor_id``, ``temperature`` (C), ``humidity`` (%), ``ts``."""
    _check_rate(rate)
    rng = random.Random(seed)
    ids = [f"sensor-{i}" for i in range(1, sensors + 1)]
    level = {s: rng.uniform(18, 24) for s in ids}
    drift = dict.fromkeys(ids, 0.0)

    def gen() -> Iterator[dict]:
        for ts in _times(rng, start_ms(start), rate):
            s = rng.choice(ids)
            drift[s] = max(-3.0, min(3.0, drift[s] + rng.gauss(0, 0.15)))
            day = math.sin(2 * math.pi * ((ts / 3_600_000) % 24) / 24)
            yield {
                "sensor_id": s,
                "temperature": round(level[s] + drift[s] + 2.5 * day + rng.gauss(0, 0.2), 2),
                "humidity": round(min(100.0, max(0.0, 45 - 8 * day + rng.gauss(0, 2))), 1),
                "ts": ts,
            }

    return _take(gen(), n)


def paced(events: Iterable[dict], per_second: float, *, seconds: float | None = None) -> Iterator[dict]:
    """Yield events at about ``per_second`` of wall-clock time (for live demos).

    Stops after ``seconds`` if given. Keeps the long-run rate right even when the
    consumer of the events is sometimes slow (it catches up rather than drifting).
    """
    _check_rate(per_second)
    begin = time.monotonic()
    for i, event in enumerate(events):
        due = begin + i / per_second
        now = time.monotonic()
        if seconds is not None and now - begin >= seconds:
            return
        if due > now:
            time.sleep(due - now)
        yield event


# --- lessons 01-04 (Kafka moves data): deliveries and a ledger ---------------------

DELIVERY_STEPS = ["placed", "packed", "shipped", "out_for_delivery", "delivered"]


def deliveries(
    n: int | None = None,
    *,
    seed: int = 0,
    orders: int = 12,
    rate: float = 5.0,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Delivery status changes: each order walks ``placed -> ... -> delivered``, orders
    interleaved at random. ``order_id``, ``status``, ``step`` (0-4), ``courier``, ``ts``.

    The point of this stream is its per-order order: a reader that sees "delivered"
    before "shipped" for one order is wrong, so lesson 02 uses it to choose a key.
    """
    _check_rate(rate)
    rng = random.Random(seed)
    couriers = ["dhl", "ups", "bike"]

    def gen() -> Iterator[dict]:
        next_order = 1
        active: dict[str, int] = {}  # order_id -> next step
        courier: dict[str, str] = {}
        for ts in _times(rng, start_ms(start), rate):
            if len(active) < orders:
                oid = f"order-{next_order:04d}"
                next_order += 1
                active[oid] = 0
                courier[oid] = rng.choice(couriers)
            oid = rng.choice(sorted(active))
            step = active[oid]
            status = DELIVERY_STEPS[step]
            yield {"order_id": oid, "status": status, "step": step, "courier": courier[oid], "ts": ts}
            if step + 1 == len(DELIVERY_STEPS):
                del active[oid]
            else:
                active[oid] = step + 1

    return _take(gen(), n)


def ledger(
    n: int | None = None,
    *,
    seed: int = 0,
    accounts: int = 6,
    rate: float = 5.0,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Account transactions with whole-cent amounts: ``tx_id``, ``account_id``, ``kind``
    ("deposit" or "payment"), ``amount_cents`` (signed: deposits add, payments take away),
    ``ts``. Cents are integers so a balance rebuilt by replay is *exactly* equal, whatever
    order the partitions are read in (float sums depend on the order of addition)."""
    _check_rate(rate)
    rng = random.Random(seed)
    ids = [f"acct-{i:02d}" for i in range(1, accounts + 1)]

    def gen() -> Iterator[dict]:
        for i, ts in enumerate(_times(rng, start_ms(start), rate)):
            acct = rng.choice(ids)
            deposit = rng.random() < 0.25
            cents = rng.randint(2000, 20000) if deposit else -int(rng.lognormvariate(7.5, 0.6))
            yield {
                "tx_id": f"l{seed}-{i}",
                "account_id": acct,
                "kind": "deposit" if deposit else "payment",
                "amount_cents": cents,
                "ts": ts,
            }

    return _take(gen(), n)


PRODUCTS = ["kettle", "lamp", "mug", "chair", "desk", "rug"]
CARRIERS = ["dhl", "ups", "bike"]
HOUR_MS = 3_600_000


def orders(
    n: int | None = None,
    *,
    seed: int = 0,
    rate: float = 1 / 240,
    start: datetime | str | int | None = None,
) -> Iterator[dict]:
    """Web-shop orders: ``order_id``, ``product`` (one of `PRODUCTS`), ``qty`` (1-3), ``ts``.

    The default ``rate`` is one order every 4 minutes of event time on average (360 a day),
    so that joins "within 4 hours" or "the price at the time of the order" mean something."""
    _check_rate(rate)
    rng = random.Random(seed)

    def gen() -> Iterator[dict]:
        for i, ts in enumerate(_times(rng, start_ms(start), rate)):
            product, qty = rng.choice(PRODUCTS), rng.randint(1, 3)
            yield {"order_id": f"o{seed}-{i:04d}", "product": product, "qty": qty, "ts": ts}

    return _take(gen(), n)


def shipments(placed: Iterable[dict], *, seed: int = 0, unshipped: float = 0.1) -> list[dict]:
    """The shipments of ``placed`` orders, in event-time order: ``shipment_id``,
    ``order_id``, ``carrier``, ``ts``. Most leave 10 minutes to 4 hours after their order;
    about one in eight takes longer (up to 10 hours), and a share ``unshipped`` of the
    orders never ships - so a join "shipped within 4 hours" keeps some orders and not others."""
    rng = random.Random(seed)
    out = []
    for order in placed:
        if rng.random() < unshipped:
            continue
        slow = rng.random() < 0.125
        delay = rng.uniform(4.0, 10.0) if slow else rng.uniform(1 / 6, 4.0)
        out.append({"shipment_id": f"s-{order['order_id']}", "order_id": order["order_id"],
                    "carrier": rng.choice(CARRIERS), "ts": order["ts"] + int(delay * HOUR_MS)})
    return sorted(out, key=lambda s: s["ts"])


def prices(
    *, seed: int = 0, hours: float = 24, changes: int = 4, start: datetime | str | int | None = None
) -> list[dict]:
    """Price changes, in event-time order: ``product``, ``price`` (euros, 2 decimals), ``ts``.

    Every product gets a first price at ``start`` and about ``changes`` changes in the
    ``hours`` after it, each 5-25 % up or down: a changelog keyed by product, the kind a
    compacted topic keeps."""
    rng = random.Random(seed)
    t0 = start_ms(start)
    out = []
    for product in PRODUCTS:
        price = round(rng.uniform(10, 200), 2)
        out.append({"product": product, "price": price, "ts": t0})
        for ts in sorted(t0 + int(rng.uniform(0, hours) * HOUR_MS) for _ in range(changes)):
            price = round(price * rng.choice([-1, 1]) * rng.uniform(0.05, 0.25) + price, 2)
            out.append({"product": product, "price": price, "ts": ts})
    return sorted(out, key=lambda p: (p["ts"], p["product"]))
