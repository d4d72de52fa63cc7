"""The Flink lessons' panels, driven from code, and the pandas references they are
checked against (pure logic: no broker, no Flink)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from labkit import events  # noqa: E402
from labkit import flink_panels as fp  # noqa: E402

T0 = events.start_ms(None)


def ev(*seconds: float, user: str = "u") -> list[dict]:
    return [{"event_id": f"e{i}", "user_id": user, "ts": T0 + int(s * 1000)} for i, s in enumerate(seconds)]


def test_tumbling_hopping_cumulative_windows_by_hand():
    data = ev(0, 1, 9.999, 10, 25)
    tumble = fp.windows_pandas(data, "tumble", 10)
    assert tumble["n"].tolist() == [3, 1, 1]
    hop = fp.windows_pandas(data, "hop", 10, slide=5)
    # windows starting every 5 s, each 10 s long: [-5,5) [0,10) [5,15) [10,20) [20,30) [25,35)
    assert hop["n"].tolist() == [2, 3, 2, 1, 1, 1]
    cum = fp.windows_pandas(data, "cumulate", 20, slide=10)
    ends = cum["window_end"].dt.second.tolist()
    assert list(zip(ends, cum["n"], strict=True)) == [(10, 3), (20, 4), (30, 1), (40, 1)]


def test_session_windows_split_on_the_gap_per_key():
    data = ev(0, 2, 4, 10, user="a") + ev(1, user="b")
    s = fp.windows_pandas(data, "session", gap=3, key="user_id")
    assert s[["user_id", "n"]].values.tolist() == [["a", 3], ["b", 1], ["a", 1]]
    first = s.iloc[0]
    assert (first.window_end - first.window_start).total_seconds() == 7  # last event + gap


def test_window_sql_names_each_table_function():
    assert "TUMBLE(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '10' SECOND)" in fp.window_sql("tumble", 10)
    hop = fp.window_sql("hop", 10, 5)
    assert "HOP(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '5' SECOND, INTERVAL '10' SECOND)" in hop
    assert "PARTITION BY user_id" in fp.window_sql("session", 10, gap=2)


def test_watermark_sim_marks_events_behind_a_closed_window_as_late():
    # arrival order: 1 s, 6 s (watermark 6-1=5 closes [0,5)), then 2 s arrives: late
    arrived = ev(1, 6, 2, 7)
    events_, windows = fp.watermark_sim(arrived, bound=1, size=5)
    assert events_["late"].tolist() == [False, False, True, False]
    assert windows["n"].tolist() == [1, 2]
    # a bound of 5 s keeps [0,5) open long enough: nothing late
    assert not fp.watermark_sim(arrived, bound=5, size=5)[0]["late"].any()


def test_tradeoff_bigger_bound_fewer_late_events_more_delay():
    arrived = fp.arrival_order(events.clicks(300, seed=3, rate=10), disorder=3, seed=1)
    table = fp.tradeoff(arrived, [0, 1, 2, 4], size=5)
    assert table["late_events"].is_monotonic_decreasing and table["late_events"].iloc[-1] == 0
    assert table["mean_delay_s"].is_monotonic_increasing


def test_window_explorer_recomputes_when_its_controls_move():
    data = list(events.clicks(120, seed=2, rate=4, users=5))
    asked = []

    def fake_flink(sql, kind):
        asked.append((kind, sql))
        return fp.windows_pandas(data, "tumble", 10)

    ex = fp.WindowExplorer(data, run_flink=fake_flink)
    assert ex.windows["n"].sum() == len(data)
    ex.kind.value = "hop"
    ex.size.value = 20
    ex.slide.value = 5
    assert ex.windows["n"].sum() == 4 * len(data)
    assert "HOP(" in ex.sql.value
    ex.slide.value = 7  # not a divisor of 20: refused with a message, windows unchanged
    assert "multiple" in ex.info.value and ex.windows["n"].sum() == 4 * len(data)
    ex.kind.value = "tumble"
    ex.size.value = 10
    ex.flink_button.click()
    assert asked and asked[-1][0] == "tumble" and ex.agrees is True
    ex.kind.value = "session"
    assert ex.agrees is None  # a new setting forgets the old verdict
    ex.flink_button.click()
    assert ex.agrees is False and "DIFFER" in ex.info.value


def test_disorder_panel_counts_late_events_as_the_sliders_move():
    panel = fp.DisorderPanel(list(events.clicks(200, seed=4, rate=10)), size=5)
    panel.disorder.value = 0
    panel.bound.value = 0
    assert panel.late == 0  # in order: nothing is late even with no slack
    panel.disorder.value = 4
    late_tight = panel.late
    panel.bound.value = 4
    assert late_tight > 0 and panel.late == 0
    assert "late" in panel.info.value


class FakeJob:
    def __init__(self):
        self.status = "RUNNING"
        self.job_id = "abcdef0123456789"
        self.started = 0.0

    def stop(self):
        self.status = "CANCELED"


def test_job_panel_start_and_stop_buttons():
    jobs = []
    panel = fp.JobPanel(lambda: jobs.append(FakeJob()) or jobs[-1], "demo")
    assert "not started" in panel.status.value and panel.stop_button.disabled
    panel.start_button.click()
    assert len(jobs) == 1 and "RUNNING" in panel.status.value and panel.start_button.disabled
    panel.start_button.click()  # a running job is not started twice
    assert len(jobs) == 1
    panel.stop_button.click()
    assert jobs[0].status == "CANCELED" and "CANCELED" in panel.status.value
    assert not panel.start_button.disabled


def test_same_windows_ignores_order_dtype_and_time_zone():
    ref = fp.windows_pandas(ev(0, 1, 12), "tumble", 10)
    shuffled = ref.iloc[::-1].copy()
    shuffled["window_start"] = shuffled["window_start"].dt.tz_localize("UTC").astype(str)
    shuffled["n"] = shuffled["n"].astype("int32")
    assert fp.same_windows(shuffled, ref)
    assert not fp.same_windows(ref.assign(n=ref["n"] + 1), ref)
    assert isinstance(ref["window_start"].iloc[0], pd.Timestamp)


def test_replay_panel_shows_the_state_as_of_each_output_record():
    payments = list(events.payments(40, seed=8, accounts=3))
    totals, records = {}, []
    for p in payments:
        totals[p["account_id"]] = round(totals.get(p["account_id"], 0.0) + p["amount"], 2)
        records.append({**p, "total": totals[p["account_id"]], "attempt": 0})
    # a crash after record 30, restored from a checkpoint after record 20: 21..30 written twice
    out = pd.DataFrame(records[:31] + [{**r, "attempt": 1} for r in records[21:]])
    panel = fp.ReplayPanel(out)
    assert panel.state == fp.running_totals(payments)  # starts at the last record: final state
    panel.record.value = 31  # the restarted attempt's first record
    assert "attempt <b>1</b>" in panel.info.value
    acct = out.loc[31, "account_id"]
    assert panel.state[acct] == records[21]["total"]  # fell back to the checkpoint's value
    fp.plot_totals(out)  # draws without a notebook too


def _at(seconds: float) -> pd.Timestamp:
    return pd.to_datetime(T0 + int(seconds * 1000), unit="ms")


def _seen(ts: list[float], wm: list[float | None]) -> pd.DataFrame:
    """Rows as a live job writes them: each event and Flink's watermark as it processed it."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(ts))],
            "ts": [T0 + int(s * 1000) for s in ts],
            "watermark_at": [None if w is None else str(_at(w)) for w in wm],
        }
    )


def _windows(*spans: tuple[float, float, int]) -> pd.DataFrame:
    rows = [{"window_start": _at(a), "window_end": _at(b), "n": n} for a, b, n in spans]
    return pd.DataFrame(rows)


def test_watermark_timeline_finds_the_event_that_fires_each_window():
    # bound 1 s, windows of 5 s, read in this order: 1, 6 (watermark 5 s: fires [0,5)),
    # 2 (late), 7, 9; the watermark is then 8 s, so [5,10) is still open
    seen = _seen([1, 6, 2, 7, 9], [None, 0, 5, 5, 6])  # newest before - 1 s
    fired = fp.watermark_timeline(seen, _windows((0, 5, 1)), bound=1)
    assert fired["fired_after"].tolist() == [1]  # after the click at 6 s
    # a later event at 11 s: after it the watermark (rule: 11 - 1) fires [5,10)
    later = _seen([1, 6, 2, 7, 9, 11], [None, 0, 5, 5, 6, 8])
    both = _windows((0, 5, 1), (5, 10, 3))
    assert fp.watermark_timeline(later, both, bound=1)["fired_after"].tolist() == [1, 5]
    fp.plot_watermark_timeline(seen, _windows((0, 5, 1)), bound=1, size=5, late=["e2"])  # [5,10) open
    fp.plot_watermark_timeline(later, both, bound=1, size=5, late=["e2"], later=["e5"])
