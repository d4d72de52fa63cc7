"""The classroom cluster (labkit.runtime.classroom), for real: three SASL_SSL brokers with
Kafka's ACLs on, started once for the module on a private LABKIT_HOME with two learners.
Each learner owns the topics, groups and transactional ids under their prefix; learner A
cannot read, write, describe or delete learner B's topics nor use B's groups; both read the
shared topics the instructor writes and cannot write or delete them; a wrong password and a
client without the CA are refused with a clear message; the instructor sees every group's
lag per learner; a learner's own lab (`labkit up` with LABKIT_KAFKA_PROFILE) runs its Flink and
no Kafka and reaches the class's Kafka; every listener is on 127.0.0.1 and `labkit down`
stops all three nodes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import uuid

import kafka.errors as Errors
import psutil
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from kafka.structs import OffsetAndMetadata
from privatelab import PrivateLab, gone, is_loopback, listeners, secured_home

from labkit import cli
from labkit.errors import LabError
from labkit.runtime import classroom, profile

A, B = "learner-01", "learner-02"


@pytest.fixture(scope="module")
def home():
    with secured_home("labkit-classroom-test-", lambda: classroom.start(2), "the classroom") as found:
        yield found


@pytest.fixture
def room(home, monkeypatch) -> classroom.Classroom:
    where, made = home
    monkeypatch.setenv("LABKIT_HOME", str(where))
    return made


def options(room: classroom.Classroom, user: str) -> dict:
    return {**profile.kafka_python_options(room.profile(user)), "request_timeout_ms": 10000}


def admin(room: classroom.Classroom, user: str) -> KafkaAdminClient:
    return KafkaAdminClient(**options(room, user))


def topic_of(user: str) -> str:
    return f"{classroom.prefix(user)}t-{uuid.uuid4().hex[:6]}"


def produce(room: classroom.Classroom, user: str, topic: str, values: list[dict]) -> None:
    producer = KafkaProducer(**options(room, user), acks="all", max_block_ms=10000)
    try:
        for v in values:
            producer.send(topic, json.dumps(v).encode()).get(timeout=10)
    finally:
        producer.close()


def read_all(room: classroom.Classroom, user: str, topic: str, group: str | None = None) -> list[dict]:
    """Every record of ``topic`` (one partition per test topic), as ``user``, committing if ``group``."""
    consumer = KafkaConsumer(**options(room, user), group_id=group, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        out: list[dict] = []
        while consumer.position(tp) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                out += [json.loads(r.value) for r in records]
        if group:
            consumer.commit()
        return out
    finally:
        consumer.close()


def test_the_classroom_has_three_brokers_a_login_each_and_the_shared_topics(room):
    assert room.learners == (A, B) and len(room.kafka.brokers) == 3
    assert set(room.kafka.users) == {"admin", "instructor", A, B}
    handout = sorted(p.name for p in room.handout.iterdir())
    assert handout == ["ca.crt", f"{A}.json", f"{B}.json"]  # the instructor's and admin's are kept apart
    assert room.profile_path("instructor").parent == room.handout.parent
    learner = room.profile(A)  # the handout is self-contained: the CA beside it, by a relative path
    assert learner.ca_file == (room.handout / "ca.crt").resolve()
    assert json.loads(room.profile_path(A).read_text())["ca_file"] == "ca.crt"
    assert learner.bootstrap == room.bootstrap
    with admin(room, "instructor") as boss:
        described = {
            t["topic"] if "topic" in t else t["name"]: t for t in boss.describe_topics(list(room.shared))
        }
    assert set(described) == set(classroom.SHARED_TOPICS)
    assert all(len(p["replica_nodes"]) == 3 for t in described.values() for p in t["partitions"])


def test_a_learner_owns_the_topics_and_groups_under_their_prefix(room):
    topic, group = topic_of(A), f"{classroom.prefix(A)}readers"
    with admin(room, A) as mine:
        mine.create_topics([NewTopic(topic, 1, 3)])
        produce(room, A, topic, [{"n": i} for i in range(5)])
        assert read_all(room, A, topic, group) == [{"n": i} for i in range(5)]
        assert mine.list_group_offsets(group)[group][TopicPartition(topic, 0)].offset == 5
        visible = set(mine.list_topics())
        mine.delete_topics([topic])
    # Kafka lists only what a learner may see: their own topics and the shared ones
    assert all(t.startswith((classroom.prefix(A), classroom.SHARED_PREFIX)) for t in visible), visible
    assert set(classroom.SHARED_TOPICS) <= visible


def test_a_learner_cannot_read_write_describe_or_delete_another_learners_topics(room):
    theirs = topic_of(B)
    with admin(room, B) as other:
        other.create_topics([NewTopic(theirs, 1, 3)])
    produce(room, B, theirs, [{"secret": "B's"}])
    with admin(room, A) as mine:
        assert theirs not in mine.list_topics()
        (described,) = mine.describe_topics([theirs])
        assert Errors.for_code(described["error_code"]) is TopicAuthorizationFailedError
        assert described["partitions"] == []
        with pytest.raises(TopicAuthorizationFailedError):
            mine.delete_topics([theirs])
        with pytest.raises(TopicAuthorizationFailedError):
            mine.create_topics([NewTopic(topic_of(B), 1, 3)])  # nor make one in B's name
    with pytest.raises(TopicAuthorizationFailedError):
        read_all(room, A, theirs)
    with pytest.raises(TopicAuthorizationFailedError):
        produce(room, A, theirs, [{"from": "A"}])
    assert read_all(room, B, theirs) == [{"secret": "B's"}]  # untouched: B's one record only


def test_a_learner_cannot_use_another_learners_groups(room):
    mine_topic, theirs = topic_of(A), f"{classroom.prefix(B)}readers"
    with admin(room, A) as mine:
        mine.create_topics([NewTopic(mine_topic, 1, 3)])
        with pytest.raises(GroupAuthorizationFailedError):
            mine.list_group_offsets(theirs)
        with pytest.raises(GroupAuthorizationFailedError):
            mine.describe_groups([theirs])
    produce(room, A, mine_topic, [{"n": 1}])
    consumer = KafkaConsumer(**options(room, A), group_id=theirs, enable_auto_commit=False)
    try:
        tp = TopicPartition(mine_topic, 0)
        consumer.assign([tp])
        with pytest.raises(GroupAuthorizationFailedError):
            consumer.commit({tp: OffsetAndMetadata(1, "", -1)})
    finally:
        consumer.close()


def test_learners_read_the_shared_topics_and_cannot_write_or_delete_them(room):
    shared = "shared.payments"
    produce(room, "instructor", shared, [{"tx": 1}, {"tx": 2}])
    for learner in (A, B):
        consumer = KafkaConsumer(**options(room, learner), group_id=f"{classroom.prefix(learner)}shared")
        try:
            parts = [TopicPartition(shared, p) for p in range(classroom.PARTITIONS)]
            consumer.assign(parts)
            ends = consumer.end_offsets(parts)
            consumer.seek_to_beginning(*parts)
            seen = 0
            while any(consumer.position(tp) < ends[tp] for tp in parts):
                seen += sum(len(r) for r in consumer.poll(timeout_ms=1000).values())
            consumer.commit()
        finally:
            consumer.close()
        assert seen == sum(ends.values()) >= 2
        with pytest.raises(TopicAuthorizationFailedError):
            produce(room, learner, shared, [{"tx": "forged"}])
        with admin(room, learner) as mine, pytest.raises(TopicAuthorizationFailedError):
            mine.delete_topics([shared])


def test_the_instructor_sees_every_groups_lag_per_learner(room):
    topic = topic_of(A)
    with admin(room, A) as mine:
        mine.create_topics([NewTopic(topic, 1, 3)])
    produce(room, A, topic, [{"n": i} for i in range(3)])
    group = f"{classroom.prefix(A)}lag-{uuid.uuid4().hex[:4]}"
    read_all(room, A, topic, group)  # commits 3
    produce(room, A, topic, [{"n": i} for i in range(3, 7)])  # 4 more: lag 4
    table = classroom.lag(room)
    row = table[table.group == group].iloc[0]
    assert (row.learner, row.topics, int(row.lag)) == (A, topic, 4)
    assert set(table.learner) <= {A, B, ""}
    theirs = classroom.lag(room, user=B)  # a learner's own view: Kafka lists them no other group
    assert group not in set(theirs.group) and set(theirs.learner) <= {B}


def test_a_wrong_password_and_a_missing_ca_are_refused_clearly(room, tmp_path):
    learner = room.profile(A)
    wrong = dataclasses.replace(learner, password="not-the-password")
    with pytest.raises(LabError, match="(?i)password|login|credentials") as refused:
        profile.check(wrong, timeout=5)
    assert "not-the-password" not in str(refused.value) and learner.password not in str(refused.value)
    no_ca = dataclasses.replace(learner, ca_file=None)  # the system's CAs only
    with pytest.raises(LabError, match="(?i)certificate|CA") as untrusted:
        profile.check(no_ca, timeout=5)
    assert learner.password not in str(untrusted.value)


def test_every_listener_is_on_loopback_and_the_acls_name_no_one_else(room):
    procs = [psutil.Process(i["pid"]) for i in room.kafka.infos]
    found = listeners(procs)
    assert found and all(is_loopback(ip) for _, _, ip, _ in found), found
    ports = {b.port for b in room.kafka.brokers} | {b.controller_port for b in room.kafka.brokers}
    assert {port for *_, port in found} == ports
    with admin(room, "admin") as root:
        from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ResourcePatternFilter
        from kafka.admin import ACLResourcePatternType as P
        from kafka.admin import ResourceType as R

        every = ACLFilter(
            None, None, ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(R.ANY, None, P.ANY)
        )
        acls, _ = root.describe_acls(every)
    principals = {a.principal for a in acls}
    assert principals == {"User:instructor", f"User:{A}", f"User:{B}"}
    assert all(a.permission_type.name == "ALLOW" for a in acls)  # nothing is open to everyone


def test_the_cli_reports_a_running_classroom_without_secrets(room, capsys):
    assert cli.main(["classroom", "up", "--learners", "2"]) == 0  # already running: reused
    said = capsys.readouterr().out
    assert room.bootstrap.split(",")[0] in said and str(room.handout) in said
    for user in room.kafka.users:
        assert room.profile(user).password not in said
    topic, group = topic_of(A), f"{classroom.prefix(A)}cli"
    with admin(room, A) as mine:
        mine.create_topics([NewTopic(topic, 1, 3)])
    produce(room, A, topic, [{"n": 1}])
    read_all(room, A, topic, group)
    assert cli.main(["classroom", "lag"]) == 0
    shown = capsys.readouterr().out
    assert group in shown and A in shown, shown
    assert cli.main(["classroom", "up", "--learners", "3"]) == 1  # users are fixed at creation
    assert "labkit classroom reset" in capsys.readouterr().err
    # a classroom on 127.0.0.1 cannot take another machine's broker: said, nothing written
    assert cli.main(["classroom", "join-bundle", "10.77.0.2"]) == 1
    assert "serves on 127.0.0.1" in capsys.readouterr().err
    assert not (room.handout.parent / "join").exists()
    assert cli.main(["classroom", "up", "--learners", "2", "--host", "10.77.0.1"]) == 1  # running elsewhere
    assert "serves on 127.0.0.1, not 10.77.0.1" in capsys.readouterr().err


LEARNER_CODE = """
import labkit
lab = labkit.connect(quiet=True)
print("prefix", lab.topic_prefix)
lab.create_topic("notes", partitions=1, replace=True)  # as a lesson names it: the learner's own
lab.produce("notes", [{"n": i} for i in range(1, 5)])
producer = lab.producer()
producer.send("notes", {"n": 5}).get(timeout=10)
producer.close()
print("read", sorted(lab.read("notes")["n"]))
print("topics", sorted(lab.topics()))
from kafka import TopicPartition
consumer = lab.consumer()  # kafka-python's own calls, with the lesson's names
tp = TopicPartition("notes", 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
batch = {}
while not batch:
    batch = consumer.poll(timeout_ms=5000)
first = batch[tp][0]
print("consumer", first.topic, first.value, consumer.end_offsets([tp])[tp], consumer.assignment())
consumer.close()
total = lab.query("SELECT SUM(n) AS total FROM notes", {"notes": "n INT"})
print("flink", int(total["total"][0]))
from labkit.sql import FlinkSql
sql = FlinkSql(lab.endpoints)
ddl = "CREATE TABLE cell_notes (n INT) WITH ('connector' = 'kafka', 'topic' = 'notes', "
ddl += "{lab.flink_kafka_connection}, 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', "
ddl += "'scan.bounded.mode' = 'latest-offset')"
sql.run_cell(ddl, {"lab": lab})
print("cell", int(sql.run_cell("SELECT SUM(n) AS total FROM cell_notes")["total"][0]))
explorer = lab.explore("messages")  # the learner's explorer: the lesson's names, no refusals shown
snap = explorer.refresh()
page = explorer.browser.open("notes", 0)
print("explorer", sorted(snap.topics.topic), snap.errors, snap.quorum_refused, list(page["offset"]))
explorer.stop()
"""


def test_a_learners_lab_runs_its_own_flink_on_the_classrooms_kafka(room, tmp_path):
    """The learner's side: `labkit up` with LABKIT_KAFKA_PROFILE starts Flink and no Kafka;
    labkit's clients and a Flink SQL query reach the class's Kafka with the learner's login."""
    learner = PrivateLab(tmp_path / "learner-home", LABKIT_KAFKA_PROFILE=str(room.profile_path(A)))
    password = room.profile(A).password
    try:
        said = learner.up()
        assert f"Kafka at {room.bootstrap} through {A}.json" in said.stdout, said.stdout
        state = learner.state()
        assert not [n for n in state["processes"] if n.startswith("kafka")]
        assert {"flink-jobmanager", "flink-taskmanager"} <= set(state["processes"])
        assert state["endpoints"]["kafka_profile"] == str(room.profile_path(A).resolve())
        assert password not in (learner.home / "state.json").read_text()
        out = learner.python(LEARNER_CODE, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"prefix {A}." in out.stdout and "read [1, 2, 3, 4, 5]" in out.stdout, out.stdout
        assert "flink 15" in out.stdout and "cell 15" in out.stdout, out.stdout
        named = "consumer notes {'n': 1} 5 {TopicPartition(topic='notes', partition=0)}"
        assert named in out.stdout, out.stdout
        topics = next(line for line in out.stdout.splitlines() if line.startswith("topics"))
        assert "'notes'" in topics and "shared.payments" in topics and "learner-0" not in topics, topics
        explored = next(line for line in out.stdout.splitlines() if line.startswith("explorer"))
        # the explorer lists what lab.topics() does (the lesson's names), answers fully, browses
        assert explored == f"explorer {topics.removeprefix('topics ')} [] True [0, 1, 2, 3, 4]", out.stdout
        with admin(room, "instructor") as boss:  # in Kafka it is the learner's own topic
            assert f"{A}.notes" in boss.list_topics() and "notes" not in boss.list_topics()
        # Kafka's own tools, with the settings file `labkit path` names: Kafka's names, the ACLs' view
        config = learner.home / "cli" / "kafka-client.properties"
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        path = learner.run("path", timeout=60)
        assert f"--command-config {config}" in path.stdout and password not in path.stdout, path.stdout
        listed = subprocess.run(
            [str(learner.home / "bin" / "kafka-topics.sh"), "--bootstrap-server", room.bootstrap,
             "--command-config", str(config), "--list"],
            capture_output=True, text=True, timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        names = set(listed.stdout.split())  # Kafka's names; the ACLs show A's own and the shared ones only
        assert {f"{A}.notes", "shared.clicks", "shared.payments"} <= names, listed
        assert all(n.startswith((f"{A}.", "shared.")) for n in names), listed
        assert password not in out.stdout + out.stderr
        logs = [f for f in (learner.home / "logs").rglob("*") if f.is_file()]
        assert logs and not [f for f in logs if password in f.read_text(errors="replace")]
        # a wrong profile is a clear error at `labkit up`, before anything starts
        bad = tmp_path / "bad.json"
        bad.write_text(room.profile_path(A).read_text().replace(password, "wrong-password"))
        bad.chmod(0o600)
        shutil.copyfile(room.handout / "ca.crt", tmp_path / "ca.crt")
        refused = learner.run("up", LABKIT_KAFKA_PROFILE=str(bad), timeout=120)
        assert refused.returncode == 1 and "wrong-password" not in refused.stderr
        assert "password" in refused.stderr.lower() or "login" in refused.stderr.lower(), refused.stderr
    finally:
        learner.stop()
    assert classroom.current() is not None  # the learner's `down` stopped only their own Flink


def test_down_stops_every_node(room):
    """Last in the module: stops the classroom (the module fixture's final `down` finds nothing)."""
    pids = [i["pid"] for i in room.kafka.infos]
    assert classroom.stop()
    assert classroom.current() is None and all(gone(p) for p in pids)
