"""Reference solution of lesson 09b's exercise (checked by labkit.checks.lesson_09b_orders_once).

Every order once in PostgreSQL through a crash: the JDBC sink is at-least-once (a restored
job writes again what it wrote since the checkpoint), so the table must turn a repeated
write into the same row - an upsert by a key that names one order. The key is declared in
both systems: PostgreSQL's PRIMARY KEY makes ``INSERT ... ON CONFLICT (order_id) DO UPDATE``
possible, and Flink's ``PRIMARY KEY ... NOT ENFORCED`` makes the sink write that statement.
"""

POSTGRES_TABLE = (
    "CREATE TABLE order_copies (order_id TEXT PRIMARY KEY, product TEXT NOT NULL, qty INT NOT NULL)"
)

FLINK_TABLE = """CREATE TABLE order_copies (
  order_id STRING, product STRING, qty INT,
  PRIMARY KEY (order_id) NOT ENFORCED
) WITH (
  'connector' = 'jdbc', 'url' = '{pg.jdbc_url}', 'table-name' = 'order_copies',
  'username' = '{pg.user}', 'password' = '{pg.password}'
)"""

# Wrong answers and the hint each must get.
#: No key anywhere: the sink appends, and the replayed orders are there twice.
NO_KEY = (
    POSTGRES_TABLE.replace(" PRIMARY KEY", ""),
    FLINK_TABLE.replace(",\n  PRIMARY KEY (order_id) NOT ENFORCED", ""),
)
#: A key in Flink only: the sink upserts (ON CONFLICT), PostgreSQL has no key to conflict on.
KEY_IN_FLINK_ONLY = (NO_KEY[0], FLINK_TABLE)
#: A key in PostgreSQL only: plain INSERTs, and the replayed ones collide with the key.
KEY_IN_POSTGRES_ONLY = (POSTGRES_TABLE, NO_KEY[1])
#: The lesson's key (product) on both sides: one row per product, each its last order.
KEY_PRODUCT = (
    "CREATE TABLE order_copies (order_id TEXT NOT NULL, product TEXT PRIMARY KEY, qty INT NOT NULL)",
    FLINK_TABLE.replace("PRIMARY KEY (order_id)", "PRIMARY KEY (product)"),
)
