"""How an event becomes a Kafka record, and a record becomes a row of a DataFrame.

Values are JSON (what Flink's ``json`` format reads) unless they are bytes already: one
rule (`value_bytes`, `key_bytes`) serves ``lab.producer()`` and ``lab.produce``, so bytes a
learner made (kafka-python's own examples send ``b"raw"``) reach Kafka unchanged. A value
read back that is not valid JSON is kept as text with the reason, never dropped.
Timestamps are epoch milliseconds (Kafka's CreateTime, which Flink can use as event time).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd

FieldOrFn = str | Callable[[Mapping], Any] | None

#: Already serialised: sent exactly as they are (kafka-python accepts these three).
BYTES_LIKE = (bytes, bytearray, memoryview)


def value_bytes(value: Any) -> bytes | None:
    """A record's value as bytes, the one rule of ``lab.producer()`` and ``lab.produce``.

    * ``None`` -> None: no value, a tombstone (compaction's "delete this key");
    * bytes, bytearray, memoryview -> the same bytes: already serialised (Avro, a JSON
      text made elsewhere, kafka-python's examples' ``b"raw"``), so never touched;
    * str -> its UTF-8, as Kafka's ``StringSerializer`` sends text;
    * anything else (dict, list, number, bool) -> compact JSON, what Flink's ``json``
      format and `decode` read; inside it see `json_bytes` for datetimes, numpy, Decimal.

    A value with no faithful form (a set, an object, NaN, bytes inside a dict) raises a
    ValueError naming it: ``json.dumps(default=str)`` used to send its Python repr, which
    no reader parses back. ValueError and not TypeError: kafka-python answers a
    serializer's TypeError by calling it again the pre-3.0 way, which hides the message.
    """
    if value is None:
        return None
    if isinstance(value, BYTES_LIKE):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    try:
        return json_bytes(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot send the value {value!r:.200}: {exc}") from None


def key_bytes(key: Any) -> bytes | None:
    """A record's key as bytes: None (no key), bytes as they are, text as UTF-8.

    Keys are compared byte for byte (same key, same partition; compaction keeps the
    last per key), so they are never JSON: a number becomes its text (``7`` -> ``b"7"``,
    as ``str(k)`` always did), a datetime its ISO text, a UUID its canonical text. A
    dict, list, tuple, set or other object raises a ValueError naming it: its Python
    repr would be a key nothing else could reproduce.
    """
    if key is None:
        return None
    if isinstance(key, BYTES_LIKE):
        return bytes(key)
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, np.generic):
        return key_bytes(key.item())
    if isinstance(key, (numbers.Number, UUID)):
        return str(key).encode()
    if isinstance(key, (datetime, date, time)) and key is not pd.NaT:
        return key.isoformat().encode()
    raise ValueError(
        f"cannot use {type(key).__name__} {key!r:.200} as a key: a key is text, bytes or a number"
        " (pass str(...) or bytes of your own making)"
    )


def json_bytes(value: Any) -> bytes:
    """Compact JSON; besides JSON's own types, what a DataFrame or the standard library
    hands a learner: datetimes as ISO text, numpy numbers as numbers, numpy arrays as
    lists, Decimal and UUID as text (exact). NaN, NaT, sets and other objects raise."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def decode(raw: bytes | None) -> tuple[Any, str | None]:
    """Decode a JSON value; a malformed one is kept as text with an error, never dropped."""
    if raw is None:
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return raw.decode("utf-8", "replace"), f"not valid JSON: {exc}"


def _pick(spec: FieldOrFn, event: Any) -> Any:
    if spec is None:
        return None
    if callable(spec):
        return spec(event)
    if not isinstance(event, Mapping):
        raise ValueError(f"a {type(event).__name__} has no field {spec!r} (pass a function of the event)")
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
) -> tuple[bytes | None, bytes | None, int | None, list[tuple[str, bytes]] | None]:
    """Event number ``index`` as (key, value, timestamp ms, headers) bytes for
    ``producer.send``, or a ValueError naming the event and what is wrong with it.

    An event is a dict (sent as JSON, by `json_bytes`), bytes (sent as they are) or None
    (a tombstone, which needs a key). Bytes and None have no fields, so ``key`` and
    ``timestamp`` must then be functions. Text, lists and numbers are refused although
    `value_bytes` could send them: here they are nearly always a slip (iterating a
    DataFrame yields its column names), and text is sent on purpose as ``s.encode()``.
    """
    if event is not None and not isinstance(event, (Mapping, *BYTES_LIKE)):
        raise ValueError(
            f"event #{index} is a {type(event).__name__}, not a dict: {event!r:.200}"
            " (lab.produce sends dicts as JSON and bytes as they are)"
        )
    try:
        value = json_bytes(dict(event)) if isinstance(event, Mapping) else value_bytes(event)
        k = _pick(key, event)
        key_raw = key_bytes(k)
        ts = timestamp_ms(_pick(timestamp, event))
        hdrs = headers(event) if callable(headers) else headers
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event #{index} cannot be sent: {exc}. The event: {event!r:.300}") from None
    if key is not None and k is None:
        raise ValueError(f"event #{index} has no key field {key!r}: {event!r:.300}")
    if value is None and key_raw is None:
        raise ValueError(f"event #{index} is None, a tombstone (\"delete this key\"), and needs a key")
    header_list = [(str(h), _header_bytes(v)) for h, v in hdrs.items()] if hdrs else None
    return key_raw, value, ts, header_list


def _header_bytes(value: Any) -> bytes:
    """A header value: bytes as they are (kafka-python's own form), anything else as its text."""
    return bytes(value) if isinstance(value, BYTES_LIKE) else str(value).encode()


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
    """What `json_bytes` does with a value JSON has no type for (see its docstring)."""
    if value is pd.NaT or value is pd.NA:
        raise ValueError(f"{value!r} (a missing value) has no JSON form: use None for null")
    if isinstance(value, np.datetime64):
        return _json_default(pd.Timestamp(value))
    if isinstance(value, (datetime, date, time)):  # pd.Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()  # numpy int64 -> int, float32 -> float, bool_ -> bool
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        hint = "JSON has no sets: send sorted(...) or list(...)"
    elif isinstance(value, BYTES_LIKE):
        hint = "bytes inside JSON: decode them, or send the bytes as the whole value"
    else:
        hint = "convert it to a dict, list, str or number first"
    raise TypeError(f"{type(value).__name__} {value!r:.100} has no JSON form ({hint})")
