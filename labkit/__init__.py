"""labkit: drive Apache Kafka and an Apache Flink cluster from notebooks.

import labkit
lab = labkit.connect()          # starts Kafka + Flink, or finds the running lab
lab.create_topic("clicks", partitions=3, replace=True)
lab.produce("clicks", [{"user": "ada", "page": "/"}], key="user")
lab.read("clicks")              # a pandas DataFrame
"""

from . import checks, events, replication, widgets
from .errors import BrokerUnavailable, LabError, UnknownTopic
from .lab import Lab, connect

__version__ = "0.1.0"
__all__ = [
    "checks",
    "events",
    "replication",
    "widgets",
    "BrokerUnavailable",
    "Lab",
    "LabError",
    "UnknownTopic",
    "connect",
    "__version__",
]
