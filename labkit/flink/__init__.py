"""Flink for the lab: PyFlink environments wired to the lab's Kafka and Flink cluster.

* :mod:`labkit.flink.client` - the PyFlink client JVM in this kernel: its configuration
  (`flink_config`, and why each setting), `prepare_jvm`, waiting on PyFlink futures with a
  deadline (`bounded`), the JobManager's REST API (`rest_api`), PyFlink's Java errors made
  short (`flink_error`);
* :mod:`labkit.flink.errors` - in a notebook, PyFlink's own Java errors shown as Flink's
  message, the Java trace folded under it;
* :mod:`labkit.flink.jobs` - the `Job` handle, the jobs this kernel started (`stop_jobs`),
  a query with a deadline (`collect`);
* :mod:`labkit.flink.named_kafka` - on a classroom's Kafka, PyFlink's Kafka builders a
  lesson writes by hand get the learner's login and names;
* :mod:`labkit.flink.helpers` - `FlinkHelpers`, the Flink methods of the lab handle
  (``lab.table_env()``, ``lab.kafka_table(...)``, ``lab.query(...)``, ``lab.start(...)``,
  ``lab.checkpoints(job)``, ...).

Every job goes to the lab's JobManager (``lab.flink_rest``, the Web UI's address) and
runs on its TaskManager: locally, in Docker or on a remote cluster, the same code path.
"""

from __future__ import annotations

from .client import bounded, flink_config, prepare_jvm, rest_api
from .helpers import FlinkHelpers
from .jobs import Job, stop_jobs

__all__ = ["FlinkHelpers", "Job", "bounded", "flink_config", "prepare_jvm", "rest_api", "stop_jobs"]
