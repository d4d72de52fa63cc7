"""The plain-pandas truths the Flink lessons are checked against (`labkit.reference`):
windows, watermarks and late events, the tradeoff, comparing window tables. Pure logic: no
broker, no Flink. `ev`, `seen_rows` and `window_rows` build inputs for the panel tests too."""

from __future__ import annotations

import pandas as pd

from labkit import events, reference

T0 = events.start_ms(None)


def ev(*seconds: float, user: str = "u") -> list[dict]:
    return [{"event_id": f"e{i}", "user_id": user, "ts": T0 + int(s * 1000)} for i, s in enumerate(seconds)]


def at(seconds: float) -> pd.Timestamp:
    return pd.to_datetime(T0 + int(seconds * 1000), unit="ms")


def seen_rows(ts: list[float], wm: list[float | None]) -> pd.DataFrame:
    """Rows as a live job writes them: each event and Flink's watermark as it processed it."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(ts))],
            "ts": [T0 + int(s * 1000) for s in ts],
            "watermark_at": [None if w is None else str(at(w)) for w in wm],
        }
    )


def window_rows(*spans: tuple[float, float, int]) -> pd.DataFrame:
    rows = [{"window_start": at(a), "window_end": at(b), "n": n} for a, b, n in spans]
    return pd.DataFrame(rows)


def test_tumbling_hopping_cumulative_windows_by_hand():
    data = ev(0, 1, 9.999, 10, 25)
    tumble = reference.windows_pandas(data, "tumble", 10)
    assert tumble["n"].tolist() == [3, 1, 1]
    hop = reference.windows_pandas(data, "hop", 10, slide=5)
    # windows starting every 5 s, each 10 s long: [-5,5) [0,10) [5,15) [10,20) [20,30) [25,35)
    assert hop["n"].tolist() == [2, 3, 2, 1, 1, 1]
    cum = reference.windows_pandas(data, "cumulate", 20, slide=10)
    ends = cum["window_end"].dt.second.tolist()
    assert list(zip(ends, cum["n"], strict=True)) == [(10, 3), (20, 4), (30, 1), (40, 1)]


def test_session_windows_split_on_the_gap_per_key():
    data = ev(0, 2, 4, 10, user="a") + ev(1, user="b")
    s = reference.windows_pandas(data, "session", gap=3, key="user_id")
    assert s[["user_id", "n"]].values.tolist() == [["a", 3], ["b", 1], ["a", 1]]
    first = s.iloc[0]
    assert (first.window_end - first.window_start).total_seconds() == 7  # last event + gap


def test_watermark_sim_marks_events_behind_a_closed_window_as_late():
    # arrival order: 1 s, 6 s (watermark 6-1=5 closes [0,5)), then 2 s arrives: late
    arrived = ev(1, 6, 2, 7)
    events_, windows = reference.watermark_sim(arrived, bound=1, size=5)
    assert events_["late"].tolist() == [False, False, True, False]
    assert windows["n"].tolist() == [1, 2]
    # a bound of 5 s keeps [0,5) open long enough: nothing late
    assert not reference.watermark_sim(arrived, bound=5, size=5)[0]["late"].any()


def test_tradeoff_bigger_bound_fewer_late_events_more_delay():
    arrived = reference.arrival_order(events.clicks(300, seed=3, rate=10), disorder=3, seed=1)
    table = reference.tradeoff(arrived, [0, 1, 2, 4], size=5)
    assert table["late_events"].is_monotonic_decreasing and table["late_events"].iloc[-1] == 0
    assert table["mean_delay_s"].is_monotonic_increasing


def test_same_windows_ignores_order_dtype_and_time_zone():
    ref = reference.windows_pandas(ev(0, 1, 12), "tumble", 10)
    shuffled = ref.iloc[::-1].copy()
    shuffled["window_start"] = shuffled["window_start"].dt.tz_localize("UTC").astype(str)
    shuffled["n"] = shuffled["n"].astype("int32")
    assert reference.same_windows(shuffled, ref)
    assert not reference.same_windows(ref.assign(n=ref["n"] + 1), ref)
    assert isinstance(ref["window_start"].iloc[0], pd.Timestamp)


def test_watermark_timeline_finds_the_event_that_fires_each_window():
    # bound 1 s, windows of 5 s, read in this order: 1, 6 (watermark 5 s: fires [0,5)),
    # 2 (late), 7, 9; the watermark is then 8 s, so [5,10) is still open
    seen = seen_rows([1, 6, 2, 7, 9], [None, 0, 5, 5, 6])  # newest before - 1 s
    fired = reference.watermark_timeline(seen, window_rows((0, 5, 1)), bound=1)
    assert fired["fired_after"].tolist() == [1]  # after the click at 6 s
    # a later event at 11 s: after it the watermark (rule: 11 - 1) fires [5,10)
    later = seen_rows([1, 6, 2, 7, 9, 11], [None, 0, 5, 5, 6, 8])
    both = window_rows((0, 5, 1), (5, 10, 3))
    assert reference.watermark_timeline(later, both, bound=1)["fired_after"].tolist() == [1, 5]


def test_watermark_after_is_the_next_events_watermark_then_the_rule():
    seen = seen_rows([1, 6, 2, 7], [None, None, 5, 5])  # Flink had no watermark at first
    after = reference.watermark_after(seen, 1)
    assert pd.isna(after[0])  # after event 0, shown by event 1: none yet
    assert after[1:] == [T0 + 5000, T0 + 5000, T0 + 6000]  # the last: newest (7 s) - 1 s
