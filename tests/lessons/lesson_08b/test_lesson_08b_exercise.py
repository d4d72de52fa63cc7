"""Lesson 08b's exercise, checked on Flink with a fresh shop each time: billing at the
shipping time passes; the lesson's own order-time price, a bound that drops slow shipments,
a time that is not an event time, wrong columns, a broken query and the placeholder each
get a hint that says where to look - never the query."""

from __future__ import annotations

from labkit import checks


def test_lesson_08b_reference_passes_and_wrong_answers_get_hints(lab, solution):
    right = checks.lesson_08b_billing(lab, solution.ANSWER, seed=5)
    assert right.ok, right
    at_order = checks.lesson_08b_billing(lab, solution.AT_ORDER_TIME, seed=5)
    assert not at_order.ok and "placed" in at_order.message and "AS OF" in at_order.hints[0]
    short = checks.lesson_08b_billing(lab, solution.TOO_SHORT, seed=5)
    assert not short.ok and "missing" in short.message and "how far after" in short.hints[0]
    assert checks.lesson_08b_billing(lab, solution.PLAIN_JOIN, seed=5).ok  # the same rows
    plain = checks.lesson_08b_billing(lab, solution.NOT_EVENT_TIME, seed=5)
    assert not plain.ok and "Flink could not run" in plain.message
    assert any("event-time column" in h for h in plain.hints), plain
    columns = checks.lesson_08b_billing(lab, solution.WRONG_COLUMNS, seed=5)
    assert not columns.ok and "amount" in columns.message
    broken = checks.lesson_08b_billing(lab, "SELECT nope FROM orders", seed=5)
    assert not broken.ok and "nope" in " ".join(broken.hints)
    assert not checks.lesson_08b_billing(lab, None).ok
    told = " ".join(h for r in (at_order, short, plain, columns) for h in r.hints)
    assert "INTERVAL '12' HOUR" not in told and "s.ship_time" not in told  # where to look, not the query


def test_the_check_declares_the_tables_the_lesson_shows():
    """The exercise says "this lesson's tables": the check's DDL is the lesson's, word for word
    (topics and the broker address aside)."""
    import json
    import re
    from pathlib import Path

    from labkit.checks.lesson_08b import SHOP_DDL

    nb = json.loads((Path(__file__).parents[3] / "notebooks" / "08b_joins.ipynb").read_text())
    shown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    norm = lambda sql: re.sub(r"'l08b-\w+'|'\{[\w.]+\}'", "'?'", " ".join(sql.split()))  # noqa: E731
    for ddl in SHOP_DDL:
        assert norm(ddl) in norm(shown), ddl.splitlines()[0]
