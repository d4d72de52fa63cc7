"""Fraud detection end to end (lesson 09): labelled transactions, rules as real Flink jobs.

``from labkit import fraud`` gives the names a lesson uses; each lives in one module:

* :mod:`~labkit.fraud.data` - the generator (`transactions`, `TransactionGenerator`),
  checking input (`validate`, `BadTransaction`), the one transaction schema of the SQL
  jobs (`TX_SCHEMA`), `parse`, `marker_pair`;
* :mod:`~labkit.fraud.rules` - rule 1 as a DataStream function
  (`small_then_large_function`), rule 2 as MATCH_RECOGNIZE (`match_recognize_sql`),
  rule 3 (`velocity_function`, `outlier_function`), `Rules`, `rules_stream`;
* :mod:`~labkit.fraud.alerts` - the alert tables (`alerts_frame`, `common_alerts_frame`),
  `evaluate` against the labels, `AlertWatcher`;
* :mod:`~labkit.fraud.jobs` - the Flink jobs: `detect`, `run_sql`, `replay` (bounded),
  `LivePipeline` and `SqlPipeline` (unbounded, Kafka to Kafka);
* :mod:`~labkit.fraud.bench` - `measure` (``scripts/bench_fraud.py``);
* imported on their own, as the lesson does: :mod:`~labkit.fraud.live` (the "Flink
  alone" socket feed and savepoints), :mod:`~labkit.fraud.session` and
  :mod:`~labkit.fraud.dashboard` (the live `Dashboard` panel).

Dependencies point one way: data <- alerts <- rules <- jobs <- bench, session <- dashboard.
"""

from __future__ import annotations

from .alerts import (
    ALERT_COLUMNS,
    COMMON_COLUMNS,
    TARGET,
    AlertWatcher,
    alerts_frame,
    as_common,
    card_testing_alert,
    common_alerts_frame,
    evaluate,
    latency_figures,
    same_alerts,
)
from .bench import measure
from .data import (
    FUTURE_TIMESTAMPS_OK,
    LABELS,
    LARGE,
    SMALL,
    TX_SCHEMA,
    WITHIN,
    BadTransaction,
    TransactionGenerator,
    marker_pair,
    parse,
    prepared,
    to_ms,
    transactions,
    validate,
    with_ts,
)
from .jobs import (
    SCRATCH_PREFIX,
    LivePipeline,
    Pipeline,
    SqlPipeline,
    detect,
    kafka_source,
    replay,
    run_sql,
    watermarks,
)
from .rules import (
    Rules,
    event_time,
    match_recognize_sql,
    outlier_function,
    rules_stream,
    small_then_large_function,
    sql_interval,
    velocity_function,
    velocity_window_function,
    within_ms,
)

__all__ = [
    "ALERT_COLUMNS",
    "COMMON_COLUMNS",
    "FUTURE_TIMESTAMPS_OK",
    "LABELS",
    "LARGE",
    "SCRATCH_PREFIX",
    "SMALL",
    "TARGET",
    "TX_SCHEMA",
    "WITHIN",
    "AlertWatcher",
    "BadTransaction",
    "LivePipeline",
    "Pipeline",
    "Rules",
    "SqlPipeline",
    "TransactionGenerator",
    "alerts_frame",
    "as_common",
    "card_testing_alert",
    "common_alerts_frame",
    "detect",
    "evaluate",
    "event_time",
    "kafka_source",
    "latency_figures",
    "marker_pair",
    "match_recognize_sql",
    "measure",
    "outlier_function",
    "parse",
    "prepared",
    "replay",
    "rules_stream",
    "run_sql",
    "same_alerts",
    "small_then_large_function",
    "sql_interval",
    "to_ms",
    "transactions",
    "validate",
    "velocity_function",
    "velocity_window_function",
    "watermarks",
    "with_ts",
    "within_ms",
]
