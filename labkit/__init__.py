"""labkit: drive Apache Kafka and an Apache Flink cluster from notebooks.

import labkit
lab = labkit.connect()          # starts Kafka + Flink, or finds the running lab
lab.create_topic("clicks", partitions=3, replace=True)
lab.produce("clicks", [{"user": "ada", "page": "/"}], key="user")
lab.read("clicks")              # a pandas DataFrame

This package exports the entry point (`connect`, `Lab`), the errors a learner can act on,
and the modules lessons use as ``labkit.<name>``: `checks` (exercise checks), `events`
(event generators) and `replication` (lesson 04b's three brokers). What runs where lives in
:mod:`labkit.runtime`; each lesson's widgets in :mod:`labkit.panels`.
"""

from . import checks, events, replication
from .errors import BrokerUnavailable, LabError, UnknownTopic
from .lab import Lab, connect

__version__ = "0.1.0"
__all__ = [
    "checks",
    "events",
    "replication",
    "BrokerUnavailable",
    "Lab",
    "LabError",
    "UnknownTopic",
    "connect",
    "__version__",
]
