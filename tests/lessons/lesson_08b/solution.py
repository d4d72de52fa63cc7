"""Reference solution of lesson 08b's exercise (checked by labkit.checks.lesson_08b_billing).

Bill each shipped order at its product's price when it shipped: join each order to its
shipment, then look the price up AS OF the shipment's time. Shipments leave at most 12 hours
after their order, so an interval join of 12 hours finds them all; a plain join gives the
same rows (Flink 2.3 keeps both event times through an inner join of two append-only
streams), but keeps every order in state forever, as the lesson shows.
"""

ANSWER = """
SELECT o.order_id, o.qty * p.price AS total
FROM orders AS o
JOIN shipments AS s
  ON o.order_id = s.order_id
 AND s.ship_time BETWEEN o.order_time AND o.order_time + INTERVAL '12' HOUR
JOIN prices FOR SYSTEM_TIME AS OF s.ship_time AS p
  ON o.product = p.product
"""

#: A time column that is not the table's event time: Flink refuses it.
NOT_EVENT_TIME = ANSWER.replace("AS OF s.ship_time", "AS OF TO_TIMESTAMP_LTZ(s.ts, 3)")

#: The lesson's own enrichment (section 2): the price when the order was placed.
AT_ORDER_TIME = ANSWER.replace("AS OF s.ship_time", "AS OF o.order_time")

#: Section 1's bound: slow shipments (over 4 hours) are left out.
TOO_SHORT = ANSWER.replace("'12' HOUR", "'4' HOUR")

#: A plain join: the same rows (and state that never shrinks).
PLAIN_JOIN = """
SELECT o.order_id, o.qty * p.price AS total
FROM orders AS o
JOIN shipments AS s ON o.order_id = s.order_id
JOIN prices FOR SYSTEM_TIME AS OF s.ship_time AS p ON o.product = p.product
"""

WRONG_COLUMNS = ANSWER.replace("AS total", "AS amount")
