"""Pure logic of labkit.records: events to record bytes, records back to rows (no broker)."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pandas as pd
import pytest

from labkit.records import decode, encode, record_row, records_frame, timestamp_ms


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
