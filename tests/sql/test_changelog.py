"""The changelog applied: pure logic, checked against pandas on random changelogs."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from labkit.sql.changelog import ChangelogError, ChangelogTable


def test_a_group_by_updates_its_row_in_place():
    table = ChangelogTable(["word", "n"])
    table.apply_all([("+I", ["a", 1]), ("+I", ["b", 1]), ("-U", ["a", 1]), ("+U", ["a", 2])])
    assert table.rows() == [("a", 2), ("b", 1)]  # a stays first: updated, not moved or piled up
    assert table.counts == {"+I": 2, "-U": 1, "+U": 1, "-D": 0}
    assert table.changes == 4


def test_the_gateway_s_row_kind_names_work_too():
    table = ChangelogTable(["k"])
    table.apply_all([("INSERT", ["x"]), ("UPDATE_BEFORE", ["x"]), ("UPDATE_AFTER", ["y"]), ("DELETE", ["y"])])
    assert table.rows() == [] and len(table) == 0


def test_a_delete_removes_one_equal_row_and_duplicates_are_kept():
    table = ChangelogTable(["k"])
    table.apply_all([("+I", ["x"]), ("+I", ["x"]), ("+I", ["y"]), ("-D", ["x"])])
    assert sorted(table.rows()) == [("x",), ("y",)]


def test_nested_values_are_rows_too():
    table = ChangelogTable(["k", "tags"])
    table.apply_all([("+I", ["a", [1, 2]]), ("+I", ["b", {"m": 1}]), ("-D", ["a", [1, 2]])])
    assert table.rows() == [("b", (("m", 1),))]


@pytest.mark.parametrize("change", [("-D", ["nope"]), ("-U", ["nope"])])
def test_retracting_a_row_that_is_not_there_is_an_error(change):
    table = ChangelogTable(["k"])
    table.apply("+I", ["x"])
    with pytest.raises(ChangelogError, match="does not hold"):
        table.apply(*change)


def test_an_unknown_row_kind_is_an_error():
    with pytest.raises(ChangelogError, match="unknown row kind"):
        ChangelogTable(["k"]).apply("+X", ["x"])


def group_by_changelog(events: list[tuple[str, str | None]]) -> list[tuple[str, list]]:
    """What Flink emits for SELECT city, COUNT(*) FROM accounts GROUP BY city over an upsert
    source (id -> city, None deletes): the changes, as an independent model of it."""
    where: dict[str, str] = {}
    counts: dict[str, int] = {}
    out: list[tuple[str, list]] = []

    def change(city: str, delta: int) -> None:
        old = counts.get(city, 0)
        new = old + delta
        if old:
            out.append(("-U" if new else "-D", [city, old]))
        if new:
            out.append(("+U" if old else "+I", [city, new]))
        counts[city] = new

    for account, city in events:
        if account in where:
            change(where.pop(account), -1)
        if city is not None:
            where[account] = city
            change(city, +1)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_the_table_equals_pandas_recomputation_after_every_change(seed):
    rng = random.Random(seed)
    events = [(f"acc{rng.randrange(12)}", rng.choice(["Oslo", "Rome", "Lima", None])) for _ in range(200)]
    table = ChangelogTable(["city", "n"])
    state: dict[str, str] = {}
    for i, (account, city) in enumerate(events):
        for kind, fields in group_by_changelog(events[: i + 1])[len(group_by_changelog(events[:i])) :]:
            table.apply(kind, fields)
        if city is None:
            state.pop(account, None)
        else:
            state[account] = city
        expected = pd.Series(state, dtype=object).value_counts().rename_axis("city").reset_index(name="n")
        got = table.frame().sort_values("city").reset_index(drop=True)
        assert got.to_dict("records") == expected.sort_values("city").reset_index(drop=True).to_dict(
            "records"
        )
    assert len(table.rows()) == len(set(table.rows()))


def test_places_are_compacted_after_many_deletes_and_order_is_kept():
    table = ChangelogTable(["k"])
    for i in range(200):
        table.apply("+I", [i])
    for i in range(0, 200, 2):
        table.apply("-D", [i])
    table.apply("-U", [1])
    table.apply("+U", [1001])  # still in place after the compaction
    assert table.rows()[:3] == [(1001,), (3,), (5,)]
    assert len(table) == 100


def test_timestamps_come_back_as_datetimes_whatever_their_fraction():
    table = ChangelogTable(["t", "d", "n"], ["TIMESTAMP_WITHOUT_TIME_ZONE", "DATE", "BIGINT"])
    table.apply_all(
        [("+I", ["2026-01-01T00:00:00", "2026-01-02", 1]), ("+I", ["2026-01-01T00:00:01.5", "2026-01-03", 2])]
    )
    frame = table.frame()
    assert frame["t"].tolist() == [
        pd.Timestamp("2026-01-01 00:00:00"),
        pd.Timestamp("2026-01-01 00:00:01.500"),
    ]
    assert str(frame["d"].dtype).startswith("datetime64") and frame["n"].tolist() == [1, 2]


def test_the_first_rows_only_for_a_live_table():
    table = ChangelogTable(["k"], ["BIGINT"])
    table.apply_all([("+I", [i]) for i in range(50)] + [("-D", [0]), ("-D", [2])])
    assert table.frame(first=3)["k"].tolist() == [1, 3, 4] and len(table.frame()) == 48
    assert table.frame(first=0).empty
