"""How an event becomes a Kafka record, and a record becomes a row of a DataFrame.

Values are JSON (what Flink's ``json`` format reads); a value that is not valid JSON is
kept as text with the reason, never dropped. Timestamps are epoch milliseconds (Kafka's
CreateTime, which Flink can use as event time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import pandas as pd

FieldOrFn = str | Callable[[Mapping], Any] | None


def to_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def decode(raw: bytes | None) -> tuple[Any, str | None]:
    """Decode a JSON value; a malformed one is kept as text with an error, never dropped."""
    if raw is None:
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return raw.decode("utf-8", "replace"), f"not valid JSON: {exc}"


def _pick(spec: FieldOrFn, event: Mapping) -> Any:
    if spec is None:
        return None
    if callable(spec):
        return spec(event)
    return event.get(spec)


def timestamp_ms(value: Any) -> int | None:
    """Accept epoch milliseconds, a datetime, a pandas Timestamp or an ISO string."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)  # whole nanoseconds: exact, no float of seconds in between
        if ts.tzinfo is None:
            ts = ts.tz_localize(timezone.utc)
        return int(ts.value // 1_000_000)
    raise ValueError(f"cannot use {value!r} as a timestamp")


def encode(
    index: int, event: Any, key: FieldOrFn, timestamp: FieldOrFn, headers: Any
) -> tuple[bytes | None, bytes, int | None, list[tuple[str, bytes]] | None]:
    """Event number ``index`` as (key, value, timestamp ms, headers) bytes for
    ``producer.send``, or a ValueError naming the event and what is wrong with it."""
    if not isinstance(event, Mapping):
        raise ValueError(f"event #{index} is a {type(event).__name__}, not a dict: {event!r:.200}")
    try:
        value = json.dumps(dict(event), separators=(",", ":"), allow_nan=False, default=_json_default)
        k = _pick(key, event)
        ts = timestamp_ms(_pick(timestamp, event))
        hdrs = headers(event) if callable(headers) else headers
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event #{index} cannot be sent: {exc}. The event: {event!r:.300}") from None
    if key is not None and k is None:
        raise ValueError(f"event #{index} has no key field {key!r}: {event!r:.300}")
    header_list = [(str(h), str(v).encode()) for h, v in hdrs.items()] if hdrs else None
    return (None if k is None else str(k).encode()), value.encode(), ts, header_list


def record_row(record: Any) -> dict:
    """One consumed record as a row of `read`'s DataFrame (metadata columns, then the JSON fields)."""
    value, error = decode(record.value)
    row: dict[str, Any] = {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": pd.Timestamp(record.timestamp, unit="ms", tz="UTC"),
        "key": None if record.key is None else record.key.decode("utf-8", "replace"),
    }
    if record.headers:
        row["headers"] = {h: v.decode("utf-8", "replace") for h, v in record.headers}
    if error:
        row.update(_raw=value, _error=error)
    elif isinstance(value, dict):
        row.update({k: v for k, v in value.items() if k not in row} | _clashes(value, row))
    else:
        row["value"] = value
    return row


def _clashes(value: dict, row: dict) -> dict:
    """Value fields named like record metadata (e.g. a ``timestamp`` field) get a
    ``value.`` prefix instead of silently overwriting the record's own column."""
    return {f"value.{k}": v for k, v in value.items() if k in row}


def records_frame(rows: list[dict]) -> pd.DataFrame:
    base = ["partition", "offset", "timestamp", "key"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=base)
    return df


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")
