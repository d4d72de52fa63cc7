"""labkit: drive Apache Kafka and an Apache Flink cluster from notebooks.

import labkit
lab = labkit.connect()          # starts Kafka + Flink, or finds the running lab
lab.create_topic("clicks", partitions=3, replace=True)
lab.produce("clicks", [{"user": "ada", "page": "/"}], key="user")
lab.read("clicks")              # a pandas DataFrame

This package exports the entry point (`connect`, `Lab`), the errors a learner can act on,
and the modules lessons use as ``labkit.<name>``: `checks` (exercise checks), `events`
(event generators), `progress` (the exercises passed: the course map) and `replication`
(lesson 04b's three brokers), and `predict` (a learner's guess, locked in before the cell that
shows the answer). What runs where lives in
:mod:`labkit.runtime`; each lesson's widgets in :mod:`labkit.panels`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BrokerUnavailable, LabError, UnknownTopic

if TYPE_CHECKING:
    from . import checks, events, progress, replication
    from .lab import Lab, connect
    from .panels.predict import predict

#: Loaded on first use (PEP 562): `import labkit` stays light for the lab's own small
#: processes (the Web UI's front door, the CLI), which need none of pandas or kafka-python.
_LAZY = {"checks": "checks", "events": "events", "progress": "progress", "replication": "replication"}
_LAZY.update(Lab="lab", connect="lab", predict="panels.predict")


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module if _LAZY[name] == name else getattr(module, name)
    globals()[name] = value
    return value


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext labkit``: the ``%%flink_sql`` cell (:mod:`labkit.sql.magic`)."""
    from .sql.magic import load_ipython_extension as load

    load(shell)


__version__ = "0.1.0"
__all__ = [
    "checks",
    "events",
    "progress",
    "replication",
    "BrokerUnavailable",
    "Lab",
    "LabError",
    "UnknownTopic",
    "connect",
    "predict",
    "__version__",
]
