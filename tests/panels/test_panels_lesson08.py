"""Lesson 08's totals panel (`labkit.panels.lesson08`): a slider over a job's output records,
fed a made-up output with a restart in it. No broker, no Flink."""

from __future__ import annotations

import pandas as pd

from labkit import events
from labkit.panels.lesson08 import TotalsPanel, plot_totals
from labkit.reference import running_totals


def test_totals_panel_shows_the_state_as_of_each_output_record():
    payments = list(events.payments(40, seed=8, accounts=3))
    totals, records = {}, []
    for p in payments:
        totals[p["account_id"]] = round(totals.get(p["account_id"], 0.0) + p["amount"], 2)
        records.append({**p, "total": totals[p["account_id"]], "attempt": 0})
    # a crash after record 30, restored from a checkpoint after record 20: 21..30 written twice
    out = pd.DataFrame(records[:31] + [{**r, "attempt": 1} for r in records[21:]])
    panel = TotalsPanel(out)
    assert panel.state == running_totals(payments)  # starts at the last record: final state
    panel.record.value = 31  # the restarted attempt's first record
    assert "attempt <b>1</b>" in panel.info.value
    acct = out.loc[31, "account_id"]
    assert panel.state[acct] == records[21]["total"]  # fell back to the checkpoint's value
    plot_totals(out)  # draws without a notebook too


def test_results_of_gives_each_payment_its_accounts_running_count():
    from labkit.panels.lesson08 import results_of

    payments = [{"account_id": a} for a in ("a", "b", "a", "a", "b")]
    assert results_of(payments) == [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]
    assert dict(results_of(payments)) == {"a": 3, "b": 2}  # the lesson's counts: the last running count
