"""Lesson 09b's exercise, checked on the real stack: Flink copies fresh orders into the lab's
PostgreSQL through a TaskManager kill. The reference (a key that names one order, in both
systems) passes; no key, a key in one system only, the wrong key, refused statements and
the placeholder each get a hint that says where to look - and no message shows the
database's password."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from labkit import checks, events
from labkit.checks import lesson_09b
from labkit.checks.lesson_09b import HIDDEN, ORDERS_DDL


def shape(lab) -> tuple[int, int]:
    overview = lab.flink_api("overview")
    return overview["taskmanagers"], overview["slots-total"]


def test_lesson_09b_reference_passes_through_a_taskmanager_kill(lab, solution):
    """Each order once, and the replay measured: PostgreSQL updated the replayed quarter in
    place. The cluster is as it was afterwards."""
    before = shape(lab)
    result = checks.lesson_09b_orders_once(lab, solution.POSTGRES_TABLE, solution.FLINK_TABLE)
    assert result.ok, result
    assert "through a TaskManager kill" in result.message
    assert "counted 50 rows updated in place: the 50 replayed orders overwrote themselves" in result.message
    assert shape(lab) == before


def test_lesson_09b_wrong_keys_get_hints_as_soon_as_they_show(lab, solution):
    """Measured for real: no key appends the replay; a key in Flink only, PostgreSQL refuses
    at the first write (and the sink's failure takes its TaskManager down: the check starts
    one again). A key in PostgreSQL only is refused the same way after the restore (measured
    once live: "duplicate key value violates unique constraint"); its hint is below."""
    before = shape(lab)
    no_key = checks.lesson_09b_orders_once(lab, *solution.NO_KEY)
    assert not no_key.ok and "50 orders are in order_copies twice" in no_key.message, no_key
    assert "what names one order?" in no_key.hints[0]
    flink_only = checks.lesson_09b_orders_once(lab, *solution.KEY_IN_FLINK_ONLY)
    assert not flink_only.ok and "no unique or exclusion constraint" in flink_only.message, flink_only
    assert "a table that has the same key" in flink_only.hints[0]
    assert shape(lab) == before  # the TaskManagers the refusal and the kill took are back


def test_a_key_in_postgres_only_is_told_that_flink_upserts_only_with_its_own_key():
    said = ['ERROR: duplicate key value violates unique constraint "order_copies_pkey"']
    result = lesson_09b.explain("java.sql.BatchUpdateException: Batch entry 0 INSERT ...", said)
    assert not result.ok and "After the restore PostgreSQL refused the replayed orders" in result.message
    assert "NOT ENFORCED" in result.hints[0]


def test_a_key_several_orders_share_keeps_one_row_each():
    """The wrong key (the lesson's product), as the check reads the table it leaves (measured
    live: 6 rows, each its product's last order)."""
    orders = list(events.orders(40, seed=2))
    last = {o["product"]: o for o in orders}
    rows = pd.DataFrame(
        [(o["order_id"], o["product"], o["qty"]) for o in last.values()],
        columns=["order_id", "product", "qty"],
    )
    verdict = lesson_09b.compare(orders, rows, replayed=10)
    assert verdict is not None and f"{len(last)} rows for 40 orders: one per product" in verdict.message
    assert "different for every order" in verdict.hints[0]
    assert (
        lesson_09b.compare(
            orders,
            pd.DataFrame(
                [(o["order_id"], o["product"], o["qty"]) for o in orders],
                columns=["order_id", "product", "qty"],
            ),
            10,
        )
        is None
    )


def test_lesson_09b_answers_that_show_their_gap_get_hints_before_anything_runs(untouchable, solution):
    check = lambda pg, flink: checks.lesson_09b_orders_once(untouchable, pg, flink)  # noqa: E731
    assert check(None, None).message == "No answer yet."
    assert "is empty" in check("", solution.FLINK_TABLE).message
    assert "is empty" in check(solution.POSTGRES_TABLE, "  ").message
    assert (
        "does not create a table order_copies"
        in check("CREATE TABLE copies (x INT)", solution.FLINK_TABLE).message
    )
    other = solution.FLINK_TABLE.replace("CREATE TABLE order_copies", "CREATE TABLE copies")
    assert "does not declare a table order_copies" in check(solution.POSTGRES_TABLE, other).message
    kafka = solution.FLINK_TABLE.replace("'jdbc'", "'kafka'")
    assert "not a JDBC table" in check(solution.POSTGRES_TABLE, kafka).message
    elsewhere = check(
        solution.POSTGRES_TABLE,
        solution.FLINK_TABLE.replace("'table-name' = 'order_copies'", "'table-name' = 'sales'"),
    )
    assert "'table-name' is 'sales'" in elsewhere.message and "inside PostgreSQL" in elsewhere.hints[0]


def test_lesson_09b_refusals_in_postgres_and_flinks_words_never_show_the_password(lab, solution):
    """Statements PostgreSQL or Flink refuse come back in their words, quickly - with the
    password blanked even where their words quote it."""
    secret = lab.postgres().password
    check = lambda pg, flink: checks.lesson_09b_orders_once(lab, pg, flink)  # noqa: E731
    typo = check(solution.POSTGRES_TABLE.replace("INT", "INTEGR"), solution.FLINK_TABLE)
    assert not typo.ok and 'type "integr" does not exist' in typo.message
    quoted = check(solution.POSTGRES_TABLE + f"; SELECT '{secret}'::int", solution.FLINK_TABLE)
    assert not quoted.ok and "invalid input syntax" in quoted.message and HIDDEN in quoted.message
    columns = check(
        "CREATE TABLE order_copies (order_id TEXT PRIMARY KEY, product TEXT)", solution.FLINK_TABLE
    )
    assert not columns.ok and "['order_id', 'product']" in columns.message
    parse = check(solution.POSTGRES_TABLE, solution.FLINK_TABLE.replace("qty INT,", "qty INT,,"))
    assert (
        not parse.ok and "Flink refused my_flink_table" in parse.message and "Encountered" in parse.hints[0]
    )
    url = check(solution.POSTGRES_TABLE, solution.FLINK_TABLE.replace("{pg.jdbc_url}", "{pg.password}"))
    assert not url.ok and f"'url'='{HIDDEN}'" in url.hints[0]  # Flink quotes the url it cannot use
    unfilled = check(solution.POSTGRES_TABLE, solution.FLINK_TABLE.replace("{pg.password}", "{pg.pasword}"))
    assert not unfilled.ok and "placeholder" in unfilled.message
    login = check(solution.POSTGRES_TABLE, solution.FLINK_TABLE.replace("{pg.password}", "not-the-password"))
    assert (
        not login.ok
        and "password authentication failed" in login.message
        and "{pg.password}" in login.hints[0]
    )
    for result in (typo, quoted, columns, parse, url, unfilled, login):
        assert secret not in str(result) and secret[:8] not in str(result), result


def test_the_check_declares_the_orders_table_the_lesson_shows():
    """The exercise runs over "the lesson's orders": the check's DDL is the lesson's, word for
    word (its topic aside)."""
    nb = json.loads((Path(__file__).parents[3] / "notebooks" / "09b_out_of_kafka.ipynb").read_text())
    shown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    words = lambda sql: " ".join(sql.split())  # noqa: E731
    lesson_topic = re.search(r"CREATE TABLE orders \(.*?'topic' = '([\w-]+)'", shown, re.S)
    assert lesson_topic, "the lesson shows no CREATE TABLE orders"
    assert words(ORDERS_DDL.replace("{topic}", lesson_topic.group(1))) in words(shown)


def test_lesson_09b_off_the_local_lab_says_it_needs_the_lab_s_postgres(solution):
    """On compose or remote, ``lab.postgres()`` refuses (its database runs beside a local lab
    only): the check is a failed Result with that message, not an exception."""
    from labkit.errors import LabError

    class Remote:
        backend = "remote"

        def postgres(self):
            raise LabError("The lab's PostgreSQL runs beside a local lab only; this lab runs on 'remote'.")

    result = checks.lesson_09b_orders_once(Remote(), solution.POSTGRES_TABLE, solution.FLINK_TABLE)
    assert (
        not result.ok
        and "runs beside a local lab only" in result.message
        and "local backend" in result.hints[0]
    )
