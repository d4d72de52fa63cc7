"""labkit.kafka_python_fix: a consumer that polls with short timeouts gets its partitions.

Without the fix (kafka-python 3.0.12), a new group consumer polling with
``timeout_ms=0`` held no partition after 10 s in 3 of 5 tries on the suite's Kafka (the
join it gave up on finished unclaimed; the others after 2-4 s); with it each got all of them
in about 0.1 s. The test allows 6 s each, six times.
"""

from __future__ import annotations

import uuid

import kafka.version
from kafka import KafkaConsumer

from labkit import kafka_python_fix
from labkit.waiting import wait_for


def test_the_fix_is_for_the_pinned_kafka_python_and_labkit_installs_it(lab):
    # a new kafka-python: read its BaseCoordinator.join_group_async, then delete the fix or add the version
    assert kafka.version.__version__ in kafka_python_fix.FOR_VERSIONS
    assert kafka_python_fix.installed()  # importing labkit's Kafka helpers installed it


def owns_all(consumer: KafkaConsumer, partitions: set[int]) -> bool:
    consumer.poll(timeout_ms=0)  # gives up at once, every time: the join goes on meanwhile
    return {tp.partition for tp in consumer.assignment()} == partitions


def test_consumers_polling_with_no_timeout_get_every_partition(lab, topic):
    for _ in range(6):
        name = topic("fix", partitions=3)
        consumer = KafkaConsumer(name, group_id=f"fix-{uuid.uuid4().hex[:8]}", **lab.client_config({}))
        try:
            what = f"a consumer of {name} polling with timeout_ms=0 to own its 3 partitions"
            wait_for(lambda c=consumer: owns_all(c, {0, 1, 2}), what, 6, 0.01)
        finally:
            consumer.close()
