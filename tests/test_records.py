"""Pure logic of labkit.records: events to record bytes, records back to rows (no broker)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from uuid import UUID

import numpy as np
import pandas as pd
import pytest

from labkit.records import decode, encode, key_bytes, record_row, records_frame, timestamp_ms, value_bytes


def test_encode_names_the_bad_event_and_what_is_wrong():
    with pytest.raises(ValueError, match="event #2 is a list"):
        encode(2, [1, 2], None, None, None)
    with pytest.raises(ValueError, match="event #0 cannot be sent.*NaN|event #0 cannot be sent"):
        encode(0, {"x": float("nan")}, None, None, None)
    with pytest.raises(ValueError, match="event #1 has no key field 'user'"):
        encode(1, {"page": "/"}, "user", None, None)


def test_encode_turns_key_time_and_headers_into_bytes():
    key, value, ts, headers = encode(
        0, {"user": "ada", "at": "2026-01-01T00:00:00Z"}, "user", "at", {"source": "test"}
    )
    assert (key, ts, headers) == (b"ada", 1_767_225_600_000, [("source", b"test")])
    assert value == b'{"user":"ada","at":"2026-01-01T00:00:00Z"}'


def test_timestamps_in_every_accepted_form_agree():
    ms = 1_767_225_600_000
    forms = [ms, float(ms), "2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=timezone.utc),
             datetime(2026, 1, 1), pd.Timestamp("2026-01-01", tz="UTC")]
    assert {timestamp_ms(f) for f in forms} == {ms}
    assert timestamp_ms(None) is None
    # exact to the millisecond (whole nanoseconds, no float of seconds in between)
    exact = [pd.Timestamp(ms + k, unit="ms", tz="UTC") for k in range(1, 1000, 7)]
    assert [timestamp_ms(t) for t in exact] == [ms + k for k in range(1, 1000, 7)]
    assert timestamp_ms(datetime(2026, 1, 1, 0, 0, 0, 123000)) == ms + 123
    with pytest.raises(ValueError, match="timestamp"):
        timestamp_ms(object())


def test_malformed_value_is_kept_with_the_reason():
    assert decode(b'{"a": 1}') == ({"a": 1}, None)
    text, error = decode(b"{oops")
    assert text == "{oops" and error.startswith("not valid JSON")


def test_record_row_keeps_metadata_and_prefixes_clashing_fields():
    record = SimpleNamespace(partition=1, offset=7, timestamp=1_767_225_600_000, key=b"k",
                             headers=[("h", b"v")], value=b'{"timestamp": 5, "n": 1}')
    row = record_row(record)
    assert row["partition"] == 1 and row["offset"] == 7 and row["key"] == "k"
    assert row["timestamp"] == pd.Timestamp("2026-01-01", tz="UTC")
    assert row["value.timestamp"] == 5 and row["n"] == 1 and row["headers"] == {"h": "v"}
    assert list(records_frame([]).columns) == ["partition", "offset", "timestamp", "key"]


# --- the one encoding rule: lab.producer()'s serializers and lab.produce ----------------------


@pytest.mark.parametrize("raw", [b"raw", b"", b"\x00\xff{oops", bytearray(b"\x01\x02"), memoryview(b"mv")])
def test_bytes_pass_through_unchanged_as_value_and_as_key(raw):
    assert value_bytes(raw) == bytes(raw) and type(value_bytes(raw)) is bytes
    assert key_bytes(raw) == bytes(raw)


def test_none_is_a_tombstone_or_no_key_and_text_is_utf8():
    assert value_bytes(None) is None and key_bytes(None) is None
    assert value_bytes("héllo") == "héllo".encode() == key_bytes("héllo")
    assert value_bytes("hello") == b"hello"  # raw text, as Kafka's StringSerializer sends it: no JSON quotes
    assert value_bytes("") == b""


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": 1, "b": [1, "x"]}, b'{"a":1,"b":[1,"x"]}'),
    ([1, "x", None], b'[1,"x",null]'),
    ((1, 2), b"[1,2]"),
    (7, b"7"), (1.5, b"1.5"), (True, b"true"), (False, b"false"),
    ({"nested": {"ok": None}}, b'{"nested":{"ok":null}}'),
])
def test_dicts_lists_and_numbers_become_compact_json(value, expected):
    assert value_bytes(value) == expected


def test_what_default_str_used_to_rescue_is_kept_explicitly():
    value = {
        "at": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "ts": pd.Timestamp("2026-01-01 00:00:00.5", tz="UTC"),
        "day": date(2026, 1, 1),
        "dt64": np.datetime64("2026-01-01T00:00:00"),
        "n": np.int64(3), "f": np.float32(0.5), "yes": np.bool_(True), "arr": np.arange(3),
        "price": Decimal("1.50"), "id": UUID(int=1),
    }
    assert json.loads(value_bytes(value)) == {
        "at": "2026-01-01T00:00:00+00:00", "ts": "2026-01-01T00:00:00.500000+00:00", "day": "2026-01-01",
        "dt64": "2026-01-01T00:00:00", "n": 3, "f": 0.5, "yes": True, "arr": [0, 1, 2],
        "price": "1.50", "id": "00000000-0000-0000-0000-000000000001",
    }
    assert type(json.loads(value_bytes({"n": np.int64(3)}))["n"]) is int  # a number, not the text "3"


@pytest.mark.parametrize(("bad", "why"), [
    ({1, 2}, "JSON has no sets"),
    ({"tags": {"a"}}, "JSON has no sets"),
    ({"blob": b"\x00"}, "bytes inside JSON"),
    ({"x": float("nan")}, "Out of range float"),
    ({"t": pd.NaT}, "missing value"),
    ({"v": pd.NA}, "missing value"),
    (object(), "has no JSON form"),
    ({"when": Exception("boom")}, "Exception boom.*has no JSON form|Exception.*has no JSON form"),
])
def test_a_value_with_no_faithful_form_is_refused_naming_it(bad, why):
    # ValueError, not TypeError: kafka-python retries a serializer's TypeError the old way and hides it
    with pytest.raises(ValueError, match=why) as caught:
        value_bytes(bad)
    assert f"cannot send the value {bad!r:.40}" in str(caught.value)


@pytest.mark.parametrize(("key", "expected"), [
    (7, b"7"), (np.int64(7), b"7"), (1.5, b"1.5"), (True, b"True"), (Decimal("2.0"), b"2.0"),
    (UUID(int=1), b"00000000-0000-0000-0000-000000000001"),
    (datetime(2026, 1, 1, tzinfo=timezone.utc), b"2026-01-01T00:00:00+00:00"),
])
def test_a_key_that_is_a_number_or_a_time_becomes_its_text(key, expected):
    assert key_bytes(key) == expected


@pytest.mark.parametrize("bad", [(1, 2), ["a"], {"a": 1}, {1}, object()])
def test_a_key_with_no_single_text_form_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match=f"cannot use {type(bad).__name__} .* as a key"):
        key_bytes(bad)


def test_encode_sends_bytes_events_as_they_are_and_none_as_a_tombstone():
    key, value, ts, headers = encode(0, b"\x00raw", lambda e: b"k\xff", lambda e: 1_767_225_600_000,
                                     {"h": b"\x01", "s": "text"})
    assert (key, value, ts) == (b"k\xff", b"\x00raw", 1_767_225_600_000)
    assert headers == [("h", b"\x01"), ("s", b"text")]  # a bytes header value as it is, too
    assert encode(1, None, lambda e: "acct-06", None, None) == (b"acct-06", None, None, None)
    assert encode(2, {"n": 1}, "n", None, None)[0] == b"1"  # an int field as key: its text, as before
    assert encode(3, {"n": 1}, lambda e: b"\x00", None, None)[0] == b"\x00"  # a bytes key: as it is


def test_encode_refuses_what_it_cannot_send_naming_the_event():
    with pytest.raises(ValueError, match="event #4 is None, a tombstone.*needs a key"):
        encode(4, None, None, None, None)
    with pytest.raises(ValueError, match="event #5 cannot be sent: a bytes has no field 'user'"):
        encode(5, b"raw", "user", None, None)
    with pytest.raises(ValueError, match=r"event #6 cannot be sent: set \{1\} has no JSON form.*\{'s'"):
        encode(6, {"s": {1}}, None, None, None)
    with pytest.raises(ValueError, match=r"event #7 cannot be sent: cannot use tuple \(1, 2\) as a key"):
        encode(7, {"k": (1, 2)}, "k", None, None)
    with pytest.raises(ValueError, match="event #8 is a str, not a dict.*bytes as they are"):
        encode(8, "text", None, None, None)  # text as an event is a slip (a DataFrame's column names)
    long_event = {"x": "y" * 1000, "bad": object()}
    with pytest.raises(ValueError) as caught:
        encode(9, long_event, None, None, None)
    assert len(str(caught.value)) < 600  # a short repr, not the whole event
