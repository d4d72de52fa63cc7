"""Lesson 09's exercises (notebooks/09_fraud_detection.ipynb).

``lesson_09_replay`` - "Exercise: yesterday, through tomorrow's rule" (the cell
``checks.lesson_09_replay(lab, answer)``), the lesson's exercise on its thesis: a new rule
arrives (`LESSON_09_NEW_RULE`: more than 3 payments of one account in a 10 s window); run
it as a new Flink job that reads ``l09-transactions`` from its first offset, and find the
new rule's alerts the socket job ("Flink alone") could never raise: those with a payment
sent while it was down (the day's `LESSON_09_OUTAGE` rows, the lesson's ``midday``). The
check runs the new rule itself, as a real Flink job over the same topic, and compares.

``lesson_09_two_tiny`` - the optional "Exercise: card testing, twice" (imported from this
module, not on the course map): a Flink SQL MATCH_RECOGNIZE query over the table
``transactions`` (see `labkit.fraud.run_sql`); the check runs it on a fixed hand-made
sequence with one account per case (`LESSON_09_CASES`) and compares which accounts alert
with `LESSON_09_ALERTS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import fraud
from .result import Result, failed, passed
from .sql import could_not_run

if TYPE_CHECKING:
    from ..lab import Lab

T09 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, ms
LESSON_09_CASES: dict[str, list[tuple[float, int]]] = {  # account -> [(amount, seconds)]
    "x1-two-tiny-then-large": [(0.50, 0), (0.40, 5), (900.00, 10)],
    "x2-one-tiny-only": [(0.50, 0), (900.00, 5)],
    "x3-broken": [(0.50, 0), (0.40, 5), (20.00, 6), (900.00, 10)],
    "x4-too-slow": [(0.50, 0), (0.40, 30), (900.00, 61)],
    "x5-three-tiny": [(0.50, 0), (0.40, 1), (0.30, 2), (800.00, 3)],
    "x6-just-large": [(0.50, 0), (0.40, 2), (500.01, 3)],
    "x7-not-large": [(0.50, 0), (0.40, 2), (500.00, 3)],
}
LESSON_09_ALERTS = {"x1-two-tiny-then-large", "x5-three-tiny", "x6-just-large"}

#: The accounts that must not alert, each with the hint for the mistake that makes it alert.
_WRONG_ALERT_HINTS = {
    "x2-one-tiny-only": "It fires after a single tiny charge: how many tiny rows does your PATTERN ask for "
    "before the large one?",
    "x3-broken": "A normal transaction between the tiny ones and the large one must break the pattern: "
    "does your PATTERN let other rows in between?",
    "x4-too-slow": "Account x4's large charge comes 61 s after its first tiny one: where does your query "
    "say 'within a minute'?",
    "x7-not-large": "500.00 is not *over* 500.00: look at the comparison in the DEFINE of a large charge.",
}


def lesson_09_rows() -> list[dict]:
    """The transactions `lesson_09_two_tiny` runs an answer on."""
    return [
        {"tx_id": f"{acct}-{i}", "account_id": acct, "amount": amount, "timestamp": T09 + sec * 1000}
        for acct, txs in LESSON_09_CASES.items()
        for i, (amount, sec) in enumerate(txs)
    ]


def lesson_09_two_tiny(lab: Lab, answer: Any) -> Result:
    """Two transactions under 1.00 in a row, then one over 500.00, all within one minute
    of the first: a MATCH_RECOGNIZE query over `transactions` with an account_id column."""
    if not isinstance(answer, str) or "MATCH_RECOGNIZE" not in answer.upper():
        return failed(
            "No query yet.",
            "Start from print(fraud.match_recognize_sql('transactions', 1.00, 500.00, 60_000)) "
            "and change its PATTERN and DEFINE.",
        )
    try:
        df = fraud.run_sql(lesson_09_rows(), answer, lab=lab)
    except Exception as exc:  # noqa: BLE001 - show Flink's own complaint
        return could_not_run(exc)
    if "account_id" not in df.columns:
        return failed(f"Your columns are {list(df.columns)}.", "Keep account_id: PARTITION BY account_id.")
    got = list(df["account_id"]) if len(df) else []
    for acct, hint in _WRONG_ALERT_HINTS.items():
        if acct in got:
            return failed(f"Account {acct!r} should not alert.", hint)
    missing = sorted(LESSON_09_ALERTS - set(got))
    if missing:
        return failed(
            f"Account {missing[0]!r} should alert, and does not.",
            "Check each DEFINE against the exercise's thresholds, and whether your PATTERN still matches "
            "when more tiny charges come before the large one.",
        )
    if len(got) != len(set(got)):
        return failed(
            "Some accounts alert more than once.",
            "How many rows does one match give, and where does the next match start looking? The lesson's "
            "query says both.",
        )
    return passed("Right: two tiny charges, then a large one, within a minute - and nothing else alerts.")


# --- the lesson's exercise: yesterday, through tomorrow's rule ------------------------------

#: The lesson's day of payments (its ``txs``: n, seed, fraud_rate) and the rows of it the
#: socket job never received (its ``midday``).
LESSON_09_DAY = (3000, 9, 0.03)
LESSON_09_OUTAGE = (1000, 2000)
#: Tomorrow's rule: the velocity rule with a lower threshold (more than 3, not 5).
LESSON_09_NEW_RULE_N = 3


def lesson_09_day() -> pd.DataFrame:
    """The lesson's day of payments, as its section 1 makes them."""
    n, seed, fraud_rate = LESSON_09_DAY
    return fraud.transactions(int(n), seed=int(seed), fraud_rate=fraud_rate)


def lesson_09_outage_ids() -> set[str]:
    """The tx_ids of the payments sent while the socket job was down."""
    first, last = LESSON_09_OUTAGE
    return set(lesson_09_day()["tx_id"].iloc[first:last])


def _alert_sets(answer: Any) -> tuple[list[tuple[str, ...]], set[str]] | None:
    """The answer's alerts, each as its sorted tx_ids, and the rules it names (if it says);
    None if it is not alerts."""
    rules: set[str] = set()
    if isinstance(answer, pd.DataFrame):
        if "tx_ids" not in answer.columns:
            return None
        if "rule" in answer.columns:
            rules = set(answer["rule"])
        rows: Iterable[Any] = list(answer["tx_ids"])
    elif isinstance(answer, Iterable) and not isinstance(answer, (str, bytes, dict)):
        rows = list(answer)
    else:
        return None
    alerts = []
    for ids in rows:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            return None
        alerts.append(tuple(sorted(str(i) for i in ids)))
    return alerts, rules


def _account(alert: tuple[str, ...], accounts: dict[str, str]) -> str:
    return accounts.get(alert[0], "?") if alert else "?"


def lesson_09_replay(lab: Lab, answer: Any, *, transactions: str = "l09-transactions") -> Result:
    """The new rule's alerts on yesterday that the socket job lost: the alerts of a job with
    `LESSON_09_NEW_RULE_N` over ``transactions`` (from offset 0) with a payment in the outage."""
    found = _alert_sets(answer)
    if found is None or not found[0]:
        return failed(
            "No alerts yet.",
            "Section 6 starts a Flink job that reads a topic from its first offset: start one like it "
            "with the new rule, and keep the alerts that hold a payment the socket job never received.",
        )
    alerts, rules = found
    others = sorted(rules - {"velocity"})
    if others:
        return failed(
            f"Your answer holds alerts of the rule(s) {', '.join(others)}.",
            "Only the new rule's alerts count: the table your job returned says which rule raised each.",
        )
    outage = lesson_09_outage_ids()
    seen_by_socket = [a for a in alerts if not set(a) & outage]
    if seen_by_socket:
        return failed(
            f"{len(seen_by_socket)} of your alerts hold no payment of the outage: the socket job received "
            "all of their payments.",
            "Which payments did the socket job never receive? Section 5 stopped it for part of the day.",
        )
    stored = lab.read(transactions)
    day = lesson_09_day()
    if len(stored) != len(day) or set(stored.get("tx_id", [])) != set(day["tx_id"]):
        return failed(
            f"{transactions} does not hold the lesson's {len(day)} payments (it has {len(stored)} records).",
            "Run section 2's cell that sends them again (it starts from an empty topic), then your job.",
        )
    # the check runs the new rule itself, as a real Flink job over the same topic
    replayed = fraud.replay(lab, transactions, fraud.Rules(velocity_n=LESSON_09_NEW_RULE_N))
    new_rule = replayed[replayed["rule"] == "velocity"]
    # two overlapping windows can hold the same payments: an alert is counted as often as raised
    expected = Counter(tuple(sorted(ids)) for ids in new_rule["tx_ids"] if set(ids) & outage)
    got = Counter(alerts)
    accounts = dict(zip(day["tx_id"], day["account_id"], strict=True))
    wrong = [a for a in got if a not in expected]
    if wrong:
        return failed(
            f"{len(wrong)} of your alerts (one on {_account(wrong[0], accounts)}) are not alerts of the new "
            "rule on yesterday's payments.",
            "Did your job run the new rule's threshold, over the whole topic?",
        )
    if got - expected:
        return failed(
            "Some alerts are in your answer more often than the new rule raised them.",
            "Keep each row of your job's table once.",
        )
    missing = sorted((expected - got).elements())
    if missing:
        return failed(
            f"{len(missing)} lost alerts are missing (one on {_account(missing[0], accounts)}).",
            "Did your job read the topic from its first offset, with the new rule's threshold? A job that "
            "starts at the end sees nothing of yesterday; one with the old threshold misses the new alerts.",
        )
    return passed(
        f"Right: tomorrow's rule raises {len(new_rule)} alerts on yesterday; {expected.total()} of them "
        "needed a payment the socket job never received. Only Kafka still had those payments, so only a "
        "job that replays the topic could find them."
    )
