"""Kafka brokers as local processes (labkit/runtime/kafka_proc.py): what the state file keeps
of a broker, and the server.properties each broker gets."""

from __future__ import annotations

from labkit.runtime import kafka_proc


def test_a_broker_is_read_back_from_its_record():
    broker = kafka_proc.Broker(2, 29092, 29093)
    record = {"pid": 1, "create_time": 0.0, "log": "kafka-2.log", **broker.fields()}
    assert kafka_proc.Broker.of(record) == broker


def test_server_properties_name_the_broker_and_the_quorum(tmp_path):
    cluster = [kafka_proc.Broker(i, 29000 + i, 29100 + i) for i in (1, 2, 3)]
    text = kafka_proc.server_properties(cluster[1], cluster, tmp_path, controllers=[1])
    lines = text.splitlines()
    assert "node.id=2" in lines and f"log.dirs={tmp_path / 'broker-2'}" in lines
    assert "controller.quorum.voters=1@127.0.0.1:29101" in lines
    assert "min.insync.replicas=2" in lines  # three brokers
    assert lines[-2:] == ["process.roles=broker", "listeners=PLAINTEXT://127.0.0.1:29002"]  # not a controller
