"""`labkit join` / `leave` (labkit.runtime.join) between two "machines": two network
namespaces this test makes, joined by a veth pair with private addresses (10.77.24.1 and
.2), each with its own LABKIT_HOME; nothing else on the host is used. Machine A runs a
secured three-node cluster (SASL_SSL, ACLs on) on its namespace address and writes a join
bundle for B; B's broker joins over TLS, takes a replica of an RF 3 topic with
``min.insync.replicas=2``, and is killed with SIGKILL: every record acknowledged with
``acks=all`` is still there, and producing goes on. Then B joins again and leaves: its
replicas are moved to the brokers that stay before it stops, and the cluster no longer lists
it. Every listener of B's broker is on B's address, TLS with logins; `labkit down` in each
home leaves nothing running. Root only (namespaces)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from netns import LISTENERS, Machine, needs_root, two_machines
from privatelab import gone

from labkit.errors import LabError
from labkit.runtime import secure_kafka

A_IP, B_IP = "10.77.24.1", "10.77.24.2"
CLUSTER = "room"
TOPIC = "acked"
JOINED_ID = 4

START = f"""
from labkit.runtime import secure_kafka
layout = secure_kafka.Layout({CLUSTER!r}, nodes=3, acls=True, host={A_IP!r})
handle = secure_kafka.start_cluster(layout, [])
bundle = secure_kafka.join_bundle(layout, {B_IP!r})
print(json.dumps({{"bundle": str(bundle), "pids": [i["pid"] for i in handle.infos]}}))
"""

JOIN = """
from labkit.runtime import join
joined = join.join(sys.argv[1])
print(json.dumps({"pid": joined.pid, "port": joined.port, "node": joined.node_id}))
"""

#: `JOIN` as `labkit join BUNDLE` runs it (labkit/join_cli.py's subcommand).
JOIN_CLI = f"""
import argparse
from labkit import join_cli
from labkit.runtime import join
parser = argparse.ArgumentParser()
join_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(["join", sys.argv[1]])
assert args.fn(args) == 0
joined = join.current({CLUSTER!r})
print(json.dumps({{"pid": joined.pid, "port": joined.port, "node": joined.node_id}}))
"""

LEAVE = f"""
from labkit.runtime import join
moved = join.leave({CLUSTER!r})
print(json.dumps([[t, p, r] for (t, p), r in moved.items()]))
"""

#: Every listening TCP socket (address, port) of the processes named by pid and their children.
#: Client code run in A's namespace as ``admin`` (which reaches both machines).
CLIENT = f"""
from pathlib import Path
import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from labkit.runtime import profile
from labkit.waiting import wait_for
options = profile.kafka_python_options(profile.load(Path({{home!r}}) / {CLUSTER!r} / "admin.json"))
admin = KafkaAdminClient(**options, request_timeout_ms=10000)

def partition():
    # partition 0 of the topic as the metadata says, once it has one; asked again when the
    # admin client picked a broker that is down (the killed one, still in its metadata)
    def ask():
        try:
            parts = admin.describe_topics([{TOPIC!r}])[0]["partitions"]
        except Errors.KafkaConnectionError:
            return None
        return parts[0] if parts else None
    return wait_for(ask, "the topic's metadata", 60)

def produce(prefix, n):
    producer = KafkaProducer(**options, acks="all", max_block_ms=60000, request_timeout_ms=10000)
    acked = []
    for i in range(n):
        value = f"{{{{prefix}}}}-{{{{i}}}}"
        try:
            producer.send({TOPIC!r}, value.encode()).get(timeout=90)
        except Exception as exc:
            print(f"not acknowledged: {{{{value}}}} {{{{exc!r}}}}", file=sys.stderr)
            continue
        acked.append(value)
    producer.close()
    return acked

def read_all():
    consumer = KafkaConsumer(**options, enable_auto_commit=False)
    tp = TopicPartition({TOPIC!r}, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    out = []
    while consumer.position(tp) < end:
        for records in consumer.poll(timeout_ms=1000).values():
            out += [r.value.decode() for r in records]
    consumer.close()
    return out
"""


class JoinMachine(Machine):
    """A machine that also runs `CLIENT` code."""

    def client(self, code: str, timeout: float = 240) -> object:
        """`run` with `CLIENT`'s helpers, reading A's ``admin`` profile."""
        return self.run(CLIENT.format(home=str(self.home)) + code, timeout=timeout)


@pytest.fixture(scope="module")
def machines() -> Iterator[tuple[JoinMachine, JoinMachine]]:
    with two_machines(JoinMachine, "lkj", A_IP, B_IP) as pair:
        yield pair


@pytest.fixture(scope="module")
def room(machines) -> dict:
    """A's cluster started on A's address and its join bundle for B copied into B's home."""
    a, b = machines
    started = time.monotonic()
    made = a.run(START)
    print(f"cluster of 3 on {A_IP} started in {time.monotonic() - started:.1f} s")
    bundle = Path(made["bundle"])
    assert oct(bundle.stat().st_mode & 0o777) == "0o700"
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in bundle.iterdir())
    assert not (bundle / "ca.key").exists()
    copy = b.home / "join-bundle"
    shutil.copytree(bundle, copy)
    return {**made, "copy": str(copy)}


def join_b(b: JoinMachine, room: dict, code: str = JOIN) -> dict:
    started = time.monotonic()
    joined = b.run(code, room["copy"])
    print(f"broker {joined['node']} joined from {B_IP} in {time.monotonic() - started:.1f} s")
    return joined


@needs_root
def test_a_joined_broker_takes_replicas_and_its_crash_loses_no_acknowledged_record(machines, room) -> None:
    a, b = machines
    joined = join_b(b, room)
    assert joined["node"] == JOINED_ID

    # B's broker: one listener on B's address (SASL_SSL), nothing else; A's on A's address
    # (psutil reads a process's sockets from the reader's namespace: asked inside each)
    assert b.run(LISTENERS, str(joined["pid"])) == [[B_IP, joined["port"]]]
    config = (b.home / f"joined-{CLUSTER}" / "server.properties").read_text().splitlines()
    assert f"listeners=SASL_SSL://{B_IP}:{joined['port']}" in config
    assert "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL" in config
    assert "process.roles=broker" in config
    cluster_listeners = a.run(LISTENERS, *map(str, room["pids"]))
    assert len(cluster_listeners) == 6  # each node: SASL_SSL and its TLS controller listener
    assert all(addr == A_IP for addr, _ in cluster_listeners), cluster_listeners

    # an RF 3 topic led by the joined broker; everything acknowledged before and after it dies
    before = a.client(f"""
admin.create_topics({{{TOPIC!r}: {{"assignments": {{0: [{JOINED_ID}, 1, 2]}},
                                   "configs": {{"min.insync.replicas": "2"}}}}}})
wait_for(lambda: sorted(partition()["isr_nodes"]) == [1, 2, {JOINED_ID}], "all three in sync", 60)
assert partition()["leader_id"] == {JOINED_ID}, partition()
print(json.dumps(produce("before", 200)))
""")
    assert len(before) == 200

    psutil.Process(joined["pid"]).kill()
    deadline = time.monotonic() + 30
    while not gone(joined["pid"]):
        assert time.monotonic() < deadline, "the joined broker did not die"
        time.sleep(0.05)

    after = a.client(f"""
acked = produce("after", 100)
p = partition()
assert p["leader_id"] in (1, 2) and {JOINED_ID} not in p["isr_nodes"], p
print(json.dumps({{"acked": acked, "read": read_all()}}))
""")
    assert len(after["acked"]) == 100, "producing stopped with two of three replicas in sync"
    missing = set(before + after["acked"]) - set(after["read"])
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:5]}"


@needs_root
def test_leave_moves_the_replicas_away_first(machines, room) -> None:
    a, b = machines
    joined = join_b(b, room, JOIN_CLI)  # started again (`labkit join`): same node id, port, log folder
    a.client(f"""
wait_for(lambda: {JOINED_ID} in partition()["isr_nodes"], "the rejoined broker back in sync", 60)
print(json.dumps(partition()))
""")
    started = time.monotonic()
    moved = b.run(LEAVE)
    print(f"left in {time.monotonic() - started:.1f} s: {moved}")
    assert [TOPIC, 0, [3, 1, 2]] in moved
    assert gone(joined["pid"])
    assert not (b.home / f"joined-{CLUSTER}").exists()
    assert b.lab.leftovers(timeout=5) == []

    after = a.client("""
brokers = sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"])
print(json.dumps({"brokers": brokers, "partition": partition(), "read": read_all()}))
""")
    assert after["brokers"] == [1, 2, 3]  # kafka-python lists fenced brokers too: 4 is unregistered
    assert sorted(after["partition"]["replica_nodes"]) == [1, 2, 3]
    assert sorted(after["partition"]["isr_nodes"]) == [1, 2, 3]  # moved, caught up, then stopped
    assert len(set(after["read"])) == 300


def test_a_cluster_on_loopback_cannot_be_joined() -> None:
    """A join bundle names an address other machines reach: not 127.0.0.1, on either side."""
    with pytest.raises(LabError, match="cannot reach it"):
        secure_kafka.join_bundle(secure_kafka.Layout("room", nodes=3), B_IP)
    with pytest.raises(LabError, match="cannot reach it"):
        secure_kafka.join_bundle(secure_kafka.Layout("room", nodes=3, host=A_IP), "127.0.0.1")
    with pytest.raises(LabError, match="IP address"):
        secure_kafka.join_bundle(secure_kafka.Layout("room", nodes=3, host=A_IP), "some-laptop")
