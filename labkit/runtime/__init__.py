"""What runs where: starting, finding, checking and stopping the lab's Kafka and Flink.

One stack everywhere - Apache Kafka (KRaft) and a Flink session cluster - and only the
addresses differ between the backends (local processes, Docker compose, a remote cluster).
Read in this order:

- ``state``: `Endpoints` (where Kafka and Flink are) and `State`, the state file every
  kernel and the CLI share, its lock, and the registry of labs for ``labkit down --all``.
- ``lifecycle``: ``up`` / ``down`` / ``reset`` - the verbs of ``labkit up`` and ``connect()``.
- ``backends``: which backend (local, compose, remote) and how many brokers.
- ``kafka_proc`` / ``flink_proc``: Kafka brokers and the Flink cluster as local processes.
- ``compose``: the same services in Docker (``docker compose``).
- ``processes``: what the lab started - recorded, found again, stopped.
- ``status``: what is running, as data and as the lines of ``labkit status``.
- ``drills``: the failure drills of lessons 04 and 08 (restart a broker, kill a TaskManager).
- ``net`` (ports, who answers), ``jvm`` (finding Java), ``artifacts`` (the verified jars).
- ``trio`` (lesson 04b's three scratch brokers) and ``streams_proc`` (lesson 10's Kafka
  Streams apps): more processes the lab starts and tracks.

Lessons never import from here: they hold a `labkit.Lab` (``labkit.connect()``).
"""
