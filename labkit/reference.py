"""The plain-pandas truths lessons and checks compare Flink against.

Written independently of Flink, so a lesson can assert that Flink's answer is right:
`windows_pandas` (tumbling, hopping, cumulative and session windows), `arrival_order` +
`watermark_sim` (bounded out-of-orderness watermarks and which events a window drops as
late), `watermark_after` + `watermark_timeline` (a real job's watermark after each
event, and when its windows fired), `running_totals`, `apply_transaction` (lesson 04's
derived balances), and lesson 08b's joins: `interval_join`, `price_at_order` (an as-of
join), `billed_at_shipping`, with `same_rows` (a Flink result equal to one of these, row
for row), and lesson 09b's `sales_per_product` (what its database table and its lake
should both say). No Kafka, no Flink, no widgets here: checks import these without
pulling in a UI module.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

MS = 1000


def event_frame(events: Iterable[dict] | pd.DataFrame, ts: str = "ts") -> pd.DataFrame:
    """Events as a DataFrame with ``ts`` (epoch ms) and ``time`` (naive UTC timestamp)."""
    df = pd.DataFrame(list(events) if not isinstance(events, pd.DataFrame) else events).copy()
    df["time"] = pd.to_datetime(df[ts], unit="ms")
    return df


def windows_pandas(
    events: Iterable[dict] | pd.DataFrame,
    kind: str = "tumble",
    size: float = 10,
    slide: float | None = None,
    gap: float | None = None,
    *,
    key: str | None = None,
    ts: str = "ts",
) -> pd.DataFrame:
    """Count events per window, the way Flink's window TVFs define the windows.

    ``kind`` is tumble, hop, cumulate or session; sizes are seconds. ``slide`` is the
    hop's slide or the cumulate's step; ``gap`` the session gap. Session windows are per
    ``key`` (as ``SESSION(... PARTITION BY key ...)``); the others per key if given.
    Returns window_start, window_end (naive UTC timestamps), [key], n - sorted.
    """
    df = event_frame(events, ts)
    keys = [key] if key else []
    rows: list[dict] = []
    size_ms = int(size * MS)
    if kind == "session":
        if not gap:
            raise ValueError("a session window needs a gap")
        gap_ms = int(gap * MS)
        groups = df.groupby(key) if key else [(None, df)]
        for k, g in groups:
            times = sorted(g[ts])
            start = last = times[0]
            n = 1
            for t in times[1:]:
                if t >= last + gap_ms:  # the event's own window [t, t+gap) does not overlap
                    rows.append({"start": start, "end": last + gap_ms, "key": k, "n": n})
                    start, n = t, 0
                last = max(last, t)
                n += 1
            rows.append({"start": start, "end": last + gap_ms, "key": k, "n": n})
    else:
        for t, k in zip(df[ts], df[key] if key else [None] * len(df), strict=True):
            for start, end in _windows_of(int(t), kind, size_ms, int((slide or size) * MS)):
                rows.append({"start": start, "end": end, "key": k})
    out = pd.DataFrame(rows)
    if kind != "session":
        out = (
            out.groupby(["start", "end", "key"] if key else ["start", "end"]).size().rename("n").reset_index()
        )
    out["window_start"] = pd.to_datetime(out["start"], unit="ms")
    out["window_end"] = pd.to_datetime(out["end"], unit="ms")
    if key:
        out = out.rename(columns={"key": key})
    cols = ["window_start", "window_end", *keys, "n"]
    return out[cols].sort_values(cols[:-1]).reset_index(drop=True).astype({"n": "int64"})


def _windows_of(t: int, kind: str, size: int, slide: int) -> list[tuple[int, int]]:
    if kind == "tumble":
        start = t - t % size
        return [(start, start + size)]
    if kind == "hop":  # windows of `size` starting every `slide` that contain t
        last = t - t % slide
        return [(s, s + size) for s in range(last, t - size, -slide)]
    if kind == "cumulate":  # windows [start, start+k*step) of the max-size period holding t
        start = t - t % size
        first_end = t - t % slide + slide
        return [(start, end) for end in range(first_end, start + size + 1, slide)]
    raise ValueError(f"kind must be tumble, hop, cumulate or session, not {kind!r}")


def same_windows(flink: pd.DataFrame, reference: pd.DataFrame) -> bool:
    """True when two window tables hold the same rows (order and dtypes aside)."""
    cols = list(reference.columns)
    if not set(cols) <= set(flink.columns) or len(flink) != len(reference):
        return False

    def norm(df: pd.DataFrame) -> pd.DataFrame:
        df = df[cols].copy()
        for c in ("window_start", "window_end"):
            times = pd.to_datetime(df[c])  # Flink gives datetimes; a Kafka topic gives text
            if times.dt.tz is not None:
                times = times.dt.tz_convert("UTC").dt.tz_localize(None)
            df[c] = times.astype("datetime64[ms]")
        df["n"] = df["n"].astype("int64")
        return df.sort_values(cols[:-1]).reset_index(drop=True)

    return norm(flink).equals(norm(reference))


def arrival_order(events: Iterable[dict], disorder: float, *, seed: int = 0) -> list[dict]:
    """The events as they would *arrive*: each one delayed by a random 0..``disorder``
    seconds after it happened, then sorted by arrival. Adds ``arrival`` (epoch ms)."""
    rng = random.Random(seed)
    out = [{**e, "arrival": e["ts"] + int(rng.uniform(0, disorder * MS))} for e in events]
    return sorted(out, key=lambda e: (e["arrival"], e["ts"]))


def watermark_sim(arrived: Sequence[dict], bound: float, size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay what Flink does with ``WATERMARK FOR t AS t - INTERVAL 'bound' SECOND`` and
    tumbling windows of ``size`` seconds, one event at a time in arrival order.

    The watermark after an event is (largest event time seen) - bound; a window closes
    (its result is emitted) once the watermark reaches its end - 1 ms; an event whose
    window has already closed is *late* and the window aggregate drops it.

    Returns (events, windows): events with ``watermark`` (before the event arrived),
    ``window_end`` and ``late``; windows with ``n`` (events counted), ``closed_at`` (the
    arrival time that closed it; None if only the end of input closes it) and ``delay_s``.
    """
    size_ms, bound_ms = int(size * MS), int(bound * MS)
    wm: int | None = None
    highest: int | None = None
    rows, closed = [], {}
    for i, e in enumerate(arrived):
        end = e["ts"] - e["ts"] % size_ms + size_ms
        late = wm is not None and end - 1 <= wm
        rows.append({**e, "arrival_index": i, "watermark": wm, "window_end": end, "late": late})
        highest = e["ts"] if highest is None else max(highest, e["ts"])
        wm = highest - bound_ms
        for r in rows:  # windows this watermark closes now
            if r["window_end"] - 1 <= wm and r["window_end"] not in closed:
                closed[r["window_end"]] = e.get("arrival", e["ts"])
    ev = pd.DataFrame(rows)
    kept = ev[~ev["late"]]
    win = kept.groupby("window_end").size().rename("n").reset_index()
    win["window_start"] = win["window_end"] - size_ms
    win["closed_at"] = win["window_end"].map(closed)
    win["delay_s"] = (win["closed_at"] - win["window_end"]) / MS
    win = win[["window_start", "window_end", "n", "closed_at", "delay_s"]]
    return ev, win


def tradeoff(arrived: Sequence[dict], bounds: Iterable[float], size: float) -> pd.DataFrame:
    """A simulation, per watermark bound (`watermark_sim`, no Flink): how many events would
    be dropped as late, and how long after a window's end its result would appear (mean
    and max, seconds on the events' ``arrival`` clock - simulated arrivals, not a
    measurement of a running job)."""
    rows = []
    for b in bounds:
        ev, win = watermark_sim(arrived, b, size)
        rows.append(
            {
                "bound_s": b,
                "late_events": int(ev["late"].sum()),
                "mean_delay_s": round(float(win["delay_s"].mean()), 3),
                "max_delay_s": round(float(win["delay_s"].max()), 3),
            }
        )
    return pd.DataFrame(rows)


def running_totals(
    events: Iterable[dict], key: str = "account_id", value: str = "amount"
) -> dict[str, float]:
    """The final total of ``value`` per ``key`` (rounded to cents)."""
    totals: dict[str, float] = {}
    for e in events:
        totals[e[key]] = totals.get(e[key], 0.0) + e[value]
    return {k: round(v, 2) for k, v in sorted(totals.items())}


def epoch_ms(values: Any) -> pd.Series:
    """Epoch milliseconds of timestamps (text or datetime, naive = UTC); None stays NaN."""
    times = pd.to_datetime(pd.Series(values), utc=True, format="mixed")
    ms = times.astype("int64", copy=False) // 1_000_000
    return ms.where(times.notna()).astype("float")


def watermark_after(seen: pd.DataFrame, bound: float) -> list[float]:
    """The watermark (epoch ms) after each event of ``seen`` (in the order Flink read it,
    with ``ts`` and ``watermark_at``, Flink's ``CURRENT_WATERMARK`` as it processed the
    event): Flink shows the watermark *after* event i as the ``watermark_at`` of event
    i + 1; after the last event nothing shows it, so the rule (newest event time -
    ``bound``) fills in. NaN where Flink had no watermark yet."""
    ts = seen["ts"].astype("int64")
    return epoch_ms(seen["watermark_at"]).tolist()[1:] + [int(ts.max()) - int(bound * MS)]


def watermark_timeline(seen: pd.DataFrame, windows: pd.DataFrame, *, bound: float) -> pd.DataFrame:
    """When each window fired, from what a real job wrote: ``seen`` has every event in the
    order Flink read it (``ts`` and ``watermark_at``, Flink's ``CURRENT_WATERMARK`` as it
    processed that event, i.e. the watermark left by the events before it), ``windows``
    the window results (window_start, window_end, n).

    Returns one row per window: start/end (epoch ms), n, and ``fired_after``: the position
    of the event after which the watermark first reached end - 1 ms (the window's last
    millisecond), the watermark after each event being `watermark_after`'s. NaN: the
    watermark has not reached the window's end yet.
    """
    after = watermark_after(seen, bound)
    rows = []
    for w in windows.itertuples():
        start, end = int(epoch_ms([w.window_start])[0]), int(epoch_ms([w.window_end])[0])
        fired = next((i for i, wm in enumerate(after) if wm == wm and wm >= end - 1), None)
        rows.append({"start": start, "end": end, "n": int(w.n), "fired_after": fired})
    out = pd.DataFrame(rows, columns=["start", "end", "n", "fired_after"])
    return out.sort_values("end").reset_index(drop=True)


def apply_transaction(balances: dict[str, int], tx: dict) -> None:
    """The derived result a service keeps: each account's balance in cents."""
    balances[tx["account_id"]] = balances.get(tx["account_id"], 0) + tx["amount_cents"]


def interval_join(orders: Iterable[dict], shipments: Iterable[dict], hours: float) -> pd.DataFrame:
    """Each order with each of its shipments that left within ``hours`` of it (event time,
    both ends included, as Flink's ``BETWEEN``): order_id, product, carrier, minutes (whole
    minutes from order to shipment). Sorted by order_id."""
    o = pd.DataFrame(list(orders))[["order_id", "product", "ts"]]
    s = pd.DataFrame(list(shipments))[["order_id", "carrier", "ts"]]
    both = o.merge(s, on="order_id", suffixes=("_o", "_s"))
    both = both[(both["ts_s"] >= both["ts_o"]) & (both["ts_s"] <= both["ts_o"] + int(hours * 3_600_000))]
    both = both.assign(minutes=(both["ts_s"] - both["ts_o"]) // 60_000)
    return both[["order_id", "product", "carrier", "minutes"]].sort_values("order_id").reset_index(drop=True)


def _priced(left: pd.DataFrame, prices: Iterable[dict]) -> pd.DataFrame:
    """``left`` (with ``product``, ``qty`` and ``ts``) with the price its product had at
    ``ts``: the latest price change at or before it (`pandas.merge_asof`, backward), and
    ``total`` = qty x price rounded to cents. Rows before their product's first price are
    left out, as an inner join leaves them."""
    p = pd.DataFrame(list(prices)).sort_values("ts")[["product", "price", "ts"]]
    joined = pd.merge_asof(left.sort_values("ts"), p, on="ts", by="product", direction="backward")
    return joined.dropna(subset=["price"]).assign(total=lambda d: (d["qty"] * d["price"]).round(2))


def price_at_order(orders: Iterable[dict], prices: Iterable[dict]) -> pd.DataFrame:
    """Each order with the price its product had when the order was placed (an as-of
    join): order_id, product, qty, price, total. Sorted by order_id."""
    joined = _priced(pd.DataFrame(list(orders)), prices)
    out = joined[["order_id", "product", "qty", "price", "total"]]
    return out.sort_values("order_id").reset_index(drop=True)


def billed_at_shipping(
    orders: Iterable[dict], shipments: Iterable[dict], prices: Iterable[dict]
) -> pd.DataFrame:
    """Each shipped order billed at the price its product had when it *shipped* (the
    shipment's ``ts``): order_id, total. Sorted by order_id."""
    o = pd.DataFrame(list(orders))[["order_id", "product", "qty"]]
    shipped = o.merge(pd.DataFrame(list(shipments))[["order_id", "ts"]], on="order_id")
    joined = _priced(shipped, prices)
    return joined[["order_id", "total"]].sort_values("order_id").reset_index(drop=True)


def sales_per_product(orders: Iterable[dict]) -> pd.DataFrame:
    """Orders and items (sum of ``qty``) per product, one row per product, sorted by
    product: the table lesson 09b's Flink job keeps in PostgreSQL."""
    df = pd.DataFrame(list(orders), columns=["order_id", "product", "qty", "ts"])
    out = df.groupby("product").agg(orders=("order_id", "count"), items=("qty", "sum")).reset_index()
    return out.astype({"orders": "int64", "items": "int64"})


def same_rows(flink: pd.DataFrame, truth: pd.DataFrame) -> bool:
    """Flink's rows are ``truth``'s, row for row (order aside): the same columns, and the
    same multiset of rows, numbers compared as numbers (Flink's DECIMAL comes back as
    ``decimal.Decimal``, pandas has floats) to the cent and below."""
    if list(flink.columns) != list(truth.columns) or len(flink) != len(truth):
        return False

    def canonical(df: pd.DataFrame) -> list[tuple]:
        cols = []
        for name in df.columns:
            numbers = pd.to_numeric(df[name], errors="coerce")
            cols.append(numbers.astype(float).round(6) if numbers.notna().all() else df[name].astype(str))
        return sorted(zip(*cols, strict=True))

    return canonical(flink) == canonical(truth)
