"""What the course says survives a crash, proved on a private three-broker lab:

* Kafka: replication factor 3, min.insync.replicas=2, an idempotent producer with
  acks=all - kill the partition's leader while producing, and every acknowledged event
  is in the topic exactly once;
* Flink: kill the TaskManager under a stateful job with checkpoints - it restarts from its
  last checkpoint, and the counts it writes through an exactly-once Kafka sink are right,
  with nothing counted twice.
"""

from __future__ import annotations

import collections
import threading
import time

import psutil
import pytest
from kafka import TopicPartition
from privatelab import PrivateLab, describe, wait_for

from labkit.flink import Job
from labkit.kafka import closing


@pytest.fixture(scope="module")
def priv(tmp_path_factory):
    lab = PrivateLab(tmp_path_factory.mktemp("failures") / "home")
    try:
        lab.up("--brokers", "3")
        yield lab
    finally:
        lab.stop()


def partition_info(lab, topic: str) -> dict | None:
    """Partition 0's leader and in-sync replicas; None while the broker asked has no metadata yet."""
    with closing(lab.admin()) as admin:
        partitions = admin.describe_topics([topic])[0]["partitions"]
    return partitions[0] if partitions else None


def in_sync(lab, topic: str, replicas: int) -> dict | None:
    info = partition_info(lab, topic)
    return info if info and len(info["isr_nodes"]) == replicas else None


def kill(pid: int) -> None:
    psutil.Process(pid).kill()
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", f"{pid} to die")


def test_every_acknowledged_event_survives_the_partition_leader_being_killed(priv):
    priv.up("--brokers", "3")
    lab = priv.lab()
    assert lab.brokers == 3
    topic = lab.scratch_topic("replicated", replication_factor=3, config={"min.insync.replicas": "2"})
    leader = wait_for(lambda: in_sync(lab, topic, 3), "all three replicas in sync")["leader_id"]
    leader_pid = priv.pid(f"kafka-{leader}")

    n = 3000
    producer = lab.producer(acks="all", enable_idempotence=True, linger_ms=2, delivery_timeout_ms=180_000)
    futures = []

    def produce() -> None:  # at a steady pace, so that requests are in flight at the kill
        for i in range(n):
            futures.append(producer.send(topic, key=f"k{i % 10}", value={"n": i}))
            if i % 50 == 49:
                time.sleep(0.02)

    sender = threading.Thread(target=produce)
    sender.start()
    try:
        wait_for(
            lambda: sum(f.succeeded() for f in list(futures)) >= n // 3, "a third of the events acknowledged"
        )
        kill(leader_pid)  # mid-produce
        sender.join(120)
        producer.flush(timeout=180)
    finally:
        producer.close(timeout=10)
    assert not sender.is_alive()
    acked = [i for i, f in enumerate(futures) if f.succeeded()]
    errors = {repr(f.exception) for f in futures if f.failed()}
    assert len(acked) == n, f"{n - len(acked)} events were not acknowledged: {errors}"
    # another replica took over (the events acknowledged after the kill prove it; the
    # broker asked may take a moment to have the news)
    after = wait_for(
        lambda: (i := partition_info(lab, topic)) and i["leader_id"] not in (leader, -1) and i,
        "the new leader",
    )
    assert leader not in after["isr_nodes"]
    status = describe(priv.status())
    assert "2 of 3 broker(s) up" in status and "a broker is DOWN: `labkit up` restarts it" in status
    doctor = priv.run("doctor", "--quick")
    assert doctor.returncode == 1 and "[FAIL] kafka: 2 of 3 brokers up" in doctor.stdout

    numbers = collections.Counter(lab.read(topic, timeout=120)["n"])
    assert set(acked) <= set(numbers), f"lost: {sorted(set(acked) - set(numbers))[:20]}"
    assert max(numbers.values()) == 1, f"written twice: {[k for k, c in numbers.items() if c > 1][:20]}"
    assert sum(numbers.values()) == n

    up = priv.up()  # brings the killed broker back
    assert f"Kafka broker {leader} had stopped; starting again." in up.stdout
    assert lab.brokers == 3
    wait_for(lambda: in_sync(lab, topic, 3), "the broker to catch up (ISR of 3)", 120)


def committed_counts(lab, topic: str) -> dict[str, list[int]]:
    """Every count the sink committed, per key, in order (what a read_committed reader sees)."""
    with closing(lab.reader(topic, start="beginning", isolation_level="read_committed")) as c:
        tp = TopicPartition(topic, 0)
        end = c.end_offsets([tp])[tp]  # the last stable offset
        seen: dict[str, list[int]] = collections.defaultdict(list)
        deadline = time.monotonic() + 60
        while c.position(tp) < end:
            assert time.monotonic() < deadline, f"reading {topic} took over 60 s"
            for records in c.poll(500).values():
                for r in records:
                    if r.value is not None:
                        seen[r.value["k"]].append(r.value["c"])
    return dict(seen)


def test_a_job_restarts_from_its_checkpoint_after_its_taskmanager_is_killed(priv, monkeypatch):
    priv.up("--brokers", "3")
    monkeypatch.setenv("LABKIT_FLINK_TLS", str(priv.home / "tls"))  # this lab's certificate, not the suite's
    lab = priv.lab()
    src, dst = lab.scratch_topic("clicks"), lab.scratch_topic("counts")
    t_env = lab.table_env()
    t_env.get_config().set("execution.checkpointing.interval", "500 ms")
    # its own restart budget: the cluster's (10 attempts, 1 s apart) runs out in ~11 s while no
    # slot exists, and a new TaskManager can take longer than that to register on a loaded machine
    t_env.get_config().set("restart-strategy.fixed-delay.attempts", "300")
    lab.kafka_table(t_env, "clicks", "k STRING, n INT", topic=src)
    t_env.execute_sql(
        f"""CREATE TABLE counts (k STRING, c BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH (
        'connector' = 'upsert-kafka',
        'topic' = '{dst}',
        'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',
        'key.format' = 'json',
        'value.format' = 'json',
        'sink.delivery-guarantee' = 'exactly-once',
        'sink.transactional-id-prefix' = '{dst}'
    )"""
    )
    job = Job.of(t_env.execute_sql("INSERT INTO counts SELECT k, COUNT(*) AS c FROM clicks GROUP BY k"), dst)
    events = [{"k": f"user-{i % 7}", "n": i} for i in range(1500)]
    truth = collections.Counter(e["k"] for e in events)
    try:
        lab.produce(src, events[:500])
        checkpoints = f"/jobs/{job.job_id}/checkpoints"
        # a checkpoint holding state, and its output committed
        wait_for(
            lambda: sum(map(len, committed_counts(lab, dst).values())) >= 500,
            "the first 500 counts to be committed",
            timeout=180,
        )
        completed = lab.flink_api(checkpoints)["counts"]["completed"]
        assert completed >= 1

        rest_of_it = threading.Thread(
            target=lambda: [lab.produce(src, events[i : i + 50]) for i in range(500, 1500, 50)]
        )
        rest_of_it.start()
        taskmanager = priv.pid("flink-taskmanager")
        kill(taskmanager)  # mid-job, while events arrive
        up = priv.up("--brokers", "3")
        assert "the Flink taskmanager had stopped; starting again." in up.stdout
        rest_of_it.join(120)
        assert not rest_of_it.is_alive()

        final = wait_for(
            lambda: (
                (got := committed_counts(lab, dst))
                and {k: v[-1] for k, v in got.items()} == dict(truth)
                and got
            ),
            "the counts of all 1500 events to be committed",
            timeout=240,
        )
        # exactly once: each key's committed counts go 1, 2, 3, ... with none repeated or skipped
        for key, counts in final.items():
            assert counts == list(range(1, truth[key] + 1)), f"{key}: {counts}"

        # proved, not assumed: the job was restarted, from a checkpoint
        restored = lab.flink_api(checkpoints)["latest"]["restored"]
        assert restored and restored["id"] >= 1 and not restored["is_savepoint"]
        assert job.status == "RUNNING"
    finally:
        job.stop()
