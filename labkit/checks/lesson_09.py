"""Lesson 09's exercise (notebooks/09_fraud_detection.ipynb, "Exercise: card testing,
twice": the cell ``checks.lesson_09_two_tiny(lab, answer)``).

The answer is a Flink SQL MATCH_RECOGNIZE query over the table ``transactions`` (see
`labkit.fraud.run_sql`); the check runs it on a fixed hand-made sequence with one account
per case (`LESSON_09_CASES`) and compares which accounts alert with `LESSON_09_ALERTS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
