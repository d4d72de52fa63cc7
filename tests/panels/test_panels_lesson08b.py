"""Lesson 08b's panel and pictures (`labkit.panels.lesson08b`) and its plain-pandas joins
(`labkit.reference`), on generated orders: no broker, no Flink."""

from __future__ import annotations

import pandas as pd

from labkit import events
from labkit.panels.lesson08b import WithinPanel, join_state, plot_prices, plot_state
from labkit.reference import billed_at_shipping, interval_join, price_at_order, same_rows

ORDERS = list(events.orders(120, seed=3))
SHIPMENTS = events.shipments(ORDERS, seed=4)
PRICES = events.prices(seed=5)


def test_the_slider_keeps_what_the_interval_join_keeps():
    panel = WithinPanel(ORDERS, SHIPMENTS, hours=4)
    assert panel.kept == len(interval_join(ORDERS, SHIPMENTS, hours=4))
    panel.hours.value = 12
    assert panel.kept == len(SHIPMENTS)  # every shipment leaves within 10 hours
    panel.hours.value = 0.5
    assert 0 < panel.kept < len(interval_join(ORDERS, SHIPMENTS, hours=4))
    assert "within 0.5 h" in panel.out.outputs[0]["data"]["text/plain"]


def test_the_interval_join_is_inclusive_at_both_ends_and_keeps_only_shipped_orders():
    order = {"order_id": "o1", "product": "mug", "qty": 1, "ts": 0}
    at_bound = {"order_id": "o1", "carrier": "ups", "ts": 4 * 3_600_000}
    too_late = {"order_id": "o1", "carrier": "dhl", "ts": 4 * 3_600_000 + 1}
    joined = interval_join([order, {**order, "order_id": "o2"}], [at_bound, too_late], hours=4)
    assert joined.to_dict("records") == [
        {"order_id": "o1", "product": "mug", "carrier": "ups", "minutes": 240}
    ]


def test_as_of_prices_take_the_latest_change_at_or_before_the_event():
    prices = [{"product": "mug", "price": 2.0, "ts": 10}, {"product": "mug", "price": 3.0, "ts": 20}]
    orders = [{"order_id": f"o{t}", "product": "mug", "qty": 2, "ts": t} for t in (5, 10, 19, 20)]
    priced = price_at_order(orders, prices)
    assert priced["order_id"].tolist() == ["o10", "o19", "o20"]  # o5 came before the first price
    assert priced["total"].tolist() == [4.0, 4.0, 6.0]
    shipments = [{"order_id": "o10", "ts": 25}]
    billed = billed_at_shipping(orders, shipments, prices)
    assert billed.to_dict("records") == [{"order_id": "o10", "total": 6.0}]  # at the price when it shipped


def test_same_rows_ignores_order_and_number_types_but_not_values():
    truth = price_at_order(ORDERS, PRICES)
    flink = truth.sample(frac=1, random_state=1).astype({"price": "object"})
    assert same_rows(flink, truth)
    assert not same_rows(flink.assign(total=flink["total"] + 0.01), truth)
    assert not same_rows(flink.iloc[1:], truth)


def test_join_state_adds_each_join_operator_s_bytes():
    class FakeLab:
        def flink_api(self, path: str) -> dict:
            names = ["Source: orders", "Join[7] -> Calc[8]", "IntervalJoin[14] -> Calc", "TemporalJoin[3]"]
            return {"vertices": [{"id": str(i), "name": n} for i, n in enumerate(names)]}

    class FakeJob:
        job_id = "0" * 32

    checkpoint = {"tasks": {str(i): {"state_size": size} for i, size in enumerate((300, 5000, 700, 90))}}
    assert join_state(FakeLab(), FakeJob(), checkpoint) == {"plain join": 5000, "interval join": 700,
                                                             "temporal join": 90}  # fmt: skip


def test_the_pictures_draw_without_a_notebook():
    assert "orders of lamp" in plot_prices(PRICES, price_at_order(ORDERS, PRICES), ORDERS, "lamp").summary
    table = pd.DataFrame({"interval join": [30_000, 29_000], "plain join": [50_000, 99_000]}, index=[1, 2])
    assert "99000" in plot_state(table).summary
