"""Lesson 08b's exercise (notebooks/08b_joins.ipynb, "Exercise": the cell
``checks.lesson_08b_billing(lab, my_sql)``): bill each shipped order at the price its
product had when it *shipped* - an interval join and a temporal join in one query.

The check makes a fresh shop each time (orders, their shipments, price changes: new random
seeds, in topics of its own), declares the lesson's three tables over them (`SHOP_DDL`: the
same ``CREATE TABLE`` statements the lesson shows), runs the learner's query as a bounded
streaming job and compares ``order_id, total`` with `labkit.reference.billed_at_shipping`
(pandas). A query copied from the lesson bills at the order's time and fails on the orders
whose price changed before they shipped; answers typed in from the lesson's data fail on
the new data.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import events
from ..reference import billed_at_shipping, price_at_order
from .result import Result, failed, passed
from .sql import could_not_run

if TYPE_CHECKING:
    from ..lab import Lab

#: The lesson's three tables (its %%flink_sql cells show the same text): orders and
#: shipments as append-only streams, prices as a versioned table from a compacted topic.
SHOP_DDL = (
    """CREATE TABLE orders (
  order_id STRING, product STRING, qty INT, ts BIGINT,
  order_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR order_time AS order_time - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'kafka', 'topic' = '{orders}', 'format' = 'json',
  'properties.bootstrap.servers' = '{bootstrap}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'
)""",
    """CREATE TABLE shipments (
  shipment_id STRING, order_id STRING, carrier STRING, ts BIGINT,
  ship_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR ship_time AS ship_time - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'kafka', 'topic' = '{shipments}', 'format' = 'json',
  'properties.bootstrap.servers' = '{bootstrap}',
  'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'
)""",
    """CREATE TABLE prices (
  product STRING, price DECIMAL(10, 2), ts BIGINT,
  valid_from AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR valid_from AS valid_from,
  PRIMARY KEY (product) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{prices}',
  'key.format' = 'raw', 'value.format' = 'json',
  'properties.bootstrap.servers' = '{bootstrap}',
  'scan.bounded.mode' = 'latest-offset'
)""",
)
#: Where the check puts its shop (each call replaces them).
TOPICS = {"orders": "l08b-bill-orders", "shipments": "l08b-bill-shipments", "prices": "l08b-bill-prices"}


def fresh_shop(seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    """A day of a shop whose prices change often (12 changes a product): orders,
    shipments, prices - so that billing at the order's time and at the shipping time
    differ for many orders."""
    orders = list(events.orders(150, seed=seed, rate=1 / 576))  # ~one day
    return orders, events.shipments(orders, seed=seed + 1), events.prices(seed=seed + 2, changes=12)


def run_billing(lab: Lab, sql: str, shop: tuple[list[dict], list[dict], list[dict]]) -> pd.DataFrame:
    """Put ``shop`` in the check's topics, declare the lesson's tables over them and run
    ``sql`` as a bounded streaming job (temporal joins need streaming mode)."""
    for (name, topic), rows, key in zip(
        TOPICS.items(), shop, ("order_id", "order_id", "product"), strict=True
    ):
        compacted = {"cleanup.policy": "compact"} if name == "prices" else None
        lab.create_topic(topic, partitions=1, replace=True, config=compacted)
        lab.produce(topic, rows, key=key, timestamp="ts")
    t_env = lab.table_env(streaming=True)
    for ddl in SHOP_DDL:
        t_env.execute_sql(ddl.format(bootstrap=lab.flink_bootstrap_servers, **TOPICS))
    return t_env.sql_query(sql).to_pandas()


def lesson_08b_billing(lab: Lab, sql: Any, *, seed: int | None = None) -> Result:
    """Every shipped order with ``total``: its ``qty`` times the price its product had when
    the order shipped (the latest price change at or before the shipment). Columns
    ``order_id, total``. Shipments leave at most 12 hours after their order."""
    if not isinstance(sql, str) or not sql.strip():
        return failed("No query yet.", 'Write your query as a string: my_sql = """SELECT ..."""')
    seed = random.randrange(1, 10**6) if seed is None else seed
    shop = fresh_shop(seed)
    try:
        got = run_billing(lab, sql, shop)
    except Exception as exc:  # noqa: BLE001 - show Flink's own complaint
        result = could_not_run(exc)
        said = " ".join(result.hints).lower()
        if "time attribute" in said or "rowtime" in said:
            result.hints.append(
                "FOR SYSTEM_TIME AS OF needs a table's event-time column (the one its WATERMARK names), "
                "not a value computed in the query."
            )
        return result
    if list(got.columns) != ["order_id", "total"]:
        return failed(
            f"Your columns are {list(got.columns)}.", "Select exactly order_id, total - in that order."
        )
    want = billed_at_shipping(*shop)
    mine = {(str(o), round(float(t), 2)) for o, t in zip(got["order_id"], got["total"], strict=True)}
    truth = set(zip(want["order_id"], want["total"], strict=True))
    if mine == truth and len(got) == len(want):
        return passed(
            f"{len(want)} shipped orders, each billed at its price when it shipped - as pandas does."
        )
    if set(got["order_id"]) != set(want["order_id"]) or len(got) != len(want):
        missing = len(set(want["order_id"]) - set(got["order_id"]))
        extra = len(got) - len(set(got["order_id"]))
        return failed(
            f"Your query gives {len(got)} rows for the {len(want)} shipped orders ({missing} missing, "
            f"{extra} repeated).",
            "Each shipped order once: how far after its order can a shipment leave, at most?",
        )
    at_order = price_at_order(shop[0], shop[2]).set_index("order_id")["total"]
    if all(abs(at_order[o] - t) < 0.005 for o, t in mine):
        return failed(
            "Every total is the price when the order was placed.",
            "The shop bills when the parcel leaves: whose time should FOR SYSTEM_TIME AS OF use?",
        )
    wrong = len(truth - mine)
    return failed(
        f"{wrong} of {len(want)} totals differ from the price at shipping time.",
        "Look at one wrong order: its product's price changes, and when it shipped.",
    )
