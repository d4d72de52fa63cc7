"""The explorer's pure parts: how values, sizes and settings are written, and the brokers
picture's cells, summary and change key (no cluster needed)."""

from __future__ import annotations

import pandas as pd

from labkit.explorer import brokers
from labkit.explorer.cluster import BROKER_COLUMNS, GROUP_COLUMNS, LAG_COLUMNS, TOPIC_COLUMNS, Snapshot
from labkit.explorer.messages import show_bytes, show_key
from labkit.explorer.panel import VALUE_CHARS, duration_ms, retention_bytes, size, value_cell


def test_values_are_json_pretty_printed_or_shown_as_the_bytes_they_are():
    assert show_bytes(b'{"a": [1, 2]}') == ('{\n  "a": [\n    1,\n    2\n  ]\n}', "json")
    assert show_bytes(b"\xff\x00") == ("b'\\xff\\x00'", "bytes")
    assert show_bytes(b"hello") == ("b'hello'", "bytes")  # text, but not JSON
    assert show_bytes(b'"caf\xc3\xa9"') == ('"café"', "json")
    assert show_bytes(None) == ("null", "null")
    assert show_key(b"card-1") == "card-1" and show_key(b"\xff") == "b'\\xff'" and show_key(None) is None


def test_a_long_value_is_cut_and_says_how_long_it_was():
    text = "x" * (VALUE_CHARS + 50)
    shown = value_cell(text, "json")
    assert f"({VALUE_CHARS + 50} characters)" in shown and "x" * VALUE_CHARS in shown
    assert "&lt;b&gt;" in value_cell("<b>", "bytes")  # escaped, never rendered


def test_sizes_and_retention_are_written_for_people():
    assert [size(0), size(2048), size(5 * 1024**2)] == ["0 B", "2.0 KB", "5.0 MB"]
    assert [duration_ms("-1"), duration_ms("604800000"), duration_ms("3600000"), duration_ms("1500")] == [
        "forever",
        "7 d",
        "1 h",
        "1500 ms",
    ]
    assert retention_bytes("-1") == "no limit" and retention_bytes(None) == ""


def snap(partitions: list[dict], alive: list[int], controller: int = 1) -> Snapshot:
    ids = sorted({b for p in partitions for b in p["replicas"]} | set(alive))
    broker_rows = [
        {"broker": b, "address": "", "alive": b in alive, "controller": b == controller, "leaders": 0}
        | {"replicas": 0}
        for b in ids
    ]
    parts = pd.DataFrame(partitions)
    parts["leader"] = parts["leader"].astype(object).where(parts["leader"].notna(), None)
    empty = pd.DataFrame
    return Snapshot(
        0.0,
        pd.DataFrame(broker_rows, columns=BROKER_COLUMNS),
        empty(columns=TOPIC_COLUMNS),
        parts,
        empty(columns=GROUP_COLUMNS),
        empty(columns=LAG_COLUMNS),
        controller,
    )


def test_the_brokers_picture_says_who_leads_who_is_in_sync_and_who_fell_behind():
    s = snap(
        [
            {"topic": "t", "partition": 0, "leader": 1, "replicas": [1, 2, 3], "isr": [1, 2]},
            {"topic": "t", "partition": 1, "leader": None, "replicas": [3], "isr": []},
            {"topic": "u", "partition": 0, "leader": 2, "replicas": [2], "isr": [2]},
        ],
        alive=[1, 2],
    )
    row = s.partitions.iloc[0]
    assert [brokers.cell(row, b) for b in (1, 2, 3)] == ["leader", "in sync", "behind"]
    assert brokers.cell(s.partitions.iloc[2], 1) == ""
    # every topic, the replicated ones first (where there is most to see); or one picked
    assert list(brokers.shown_partitions(s).topic) == ["t", "t", "u"]
    assert list(brokers.shown_partitions(s, "u").topic) == ["u"]
    assert brokers.summary(s) == (
        "brokers up [1, 2], down [3], controller 1; 3 partitions, 1 offline, 2 replicas out of the ISR"
    )
    assert brokers.summary(s, "u").endswith("1 partitions, 0 offline, 0 replicas out of the ISR")
    assert brokers.draw(s).axes  # draws, dead broker and all


def test_the_picture_changes_key_only_when_what_it_draws_changes():
    base = [{"topic": "t", "partition": 0, "leader": 1, "replicas": [1, 2], "isr": [1, 2]}]
    moved = [{"topic": "t", "partition": 0, "leader": 2, "replicas": [1, 2], "isr": [2]}]
    assert brokers.key(snap(base, [1, 2]), None) == brokers.key(snap(base, [1, 2]), None)
    assert brokers.key(snap(base, [1, 2]), None) != brokers.key(snap(moved, [2]), None)
