"""A Kafka that only speaks SASL_SSL (labkit.runtime.secure_kafka), for real: one broker
started once for the module on a private LABKIT_HOME (a minimal lab state, no other Kafka
or Flink), used through its users' connection profiles (labkit.runtime.profile). A client with a
profile produces and consumes; a wrong password, a client without the CA and a PLAINTEXT
client get nothing; every listener is on 127.0.0.1, the controller's asks for the broker's
certificate; the files are private and no password reaches a log, the state file or a
command line; `labkit down` and `stop` leave nothing running."""

from __future__ import annotations

import socket
import ssl
import time
import uuid

import psutil
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError
from privatelab import gone, is_loopback, listeners, secured_broker, wait_for

from labkit.errors import LabError
from labkit.runtime import profile, secure_kafka

#: How long a client that must fail may try (kafka-python retries until then).
REFUSE_S = 3.0


@pytest.fixture(scope="module")
def home():
    with secured_broker(["learner", "other"], "labkit-secure-kafka-test-") as found:
        yield found


@pytest.fixture
def broker(home, monkeypatch):
    where, handle = home
    monkeypatch.setenv("LABKIT_HOME", str(where))
    return handle


@pytest.fixture
def learner(broker) -> profile.Profile:
    return broker.profile("learner")


def secrets_of(broker: secure_kafka.SecureKafka) -> list[str]:
    return [broker.profile(u).password for u in broker.users]


def test_a_client_with_its_profile_produces_and_consumes(broker, learner):
    options = profile.kafka_python_options(learner)
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**options)
    try:
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(**options, acks="all")
    for i in range(50):
        producer.send(topic, key=str(i % 5).encode(), value=f"event-{i}".encode())
    producer.flush(10)
    producer.close()
    consumer = KafkaConsumer(topic, **options, auto_offset_reset="earliest")
    got: list[str] = []

    def read_all() -> bool:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(r.value.decode() for r in records)
        return len(got) >= 50

    try:
        wait_for(read_all, "the 50 events back", 30)
    finally:
        consumer.close()
    assert sorted(got) == sorted(f"event-{i}" for i in range(50))
    profile.check(broker.profile("other"))  # the second user logs in too


def test_a_wrong_password_is_refused_with_a_clear_error(learner):
    wrong = profile.parse({**profile.to_json(learner), "password": "not-the-password"})
    started = time.monotonic()
    # kafka-python itself only says it could not bootstrap...
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(**profile.kafka_python_options(wrong), bootstrap_timeout_ms=int(REFUSE_S * 1000))
    # ...labkit says why: Kafka's own reason, never the password
    with pytest.raises(profile.ProfileError) as caught:
        profile.check(wrong, timeout=REFUSE_S)
    assert time.monotonic() - started < 3 * REFUSE_S
    said = str(caught.value)
    assert (
        f"Kafka at {learner.bootstrap} refused the login of 'learner' (SCRAM-SHA-512): wrong user name or"
        in said
    )
    assert "not-the-password" not in said and learner.password not in said


def test_a_client_without_the_ca_is_refused(learner):
    system_store = profile.parse({**profile.to_json(learner), "ca_file": None})
    with pytest.raises(
        profile.ProfileError, match="TLS handshake .* failed: its certificate is not one the system"
    ):
        profile.check(system_store, timeout=REFUSE_S)


def test_a_plaintext_client_gets_nothing(broker):
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(bootstrap_servers=broker.bootstrap, bootstrap_timeout_ms=int(REFUSE_S * 1000))


def test_every_listener_is_on_127_0_0_1(broker):
    found = listeners([psutil.Process(broker.info["pid"])])
    assert {port for *_, port in found} == {broker.port, broker.controller_port}
    assert all(is_loopback(ip) for _, _, ip, _ in found), found


def test_the_controller_listener_wants_the_brokers_certificate(broker):
    context = ssl.create_default_context(cafile=str(broker.ca_file))  # trusts the CA, has no certificate
    with socket.create_connection(("127.0.0.1", broker.controller_port), 5) as raw:
        with pytest.raises(ssl.SSLError, match="BAD_CERTIFICATE|CERTIFICATE_REQUIRED"):
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"\0\0\0\0")
                tls.recv(1)  # TLS 1.3: the server's refusal arrives with the first read


def test_its_secrets_are_private_and_never_logged(broker, home):
    where, _ = home
    folder = secure_kafka.folder()
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("ca.key", "users.json", "keystore.password", "server.properties", "broker.p12"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name
    for user in broker.users:
        assert secure_kafka.profile_path(user).stat().st_mode & 0o777 == 0o600
    assert not (folder / "format.args").exists()  # the format tool's arguments, passwords among them
    logs = [p for p in where.rglob("*.log") if p.is_file()] + [where / "state.json"]
    assert secure_kafka.log_file() in logs
    command = " ".join(psutil.Process(broker.info["pid"]).cmdline())
    for secret in [*secrets_of(broker), (folder / "keystore.password").read_text().strip()]:
        assert len(secret) >= 24 and secret not in command and secret not in repr(broker)
        for log in logs:
            assert secret not in log.read_text(errors="replace"), log


def test_a_second_start_reuses_it_and_other_users_need_a_reset(broker):
    again = secure_kafka.start(["learner"])
    assert again.info["pid"] == broker.info["pid"] and secure_kafka.current() == broker
    with pytest.raises(
        LabError, match=r"runs with the users admin, learner, other, not newcomer: .*reset\(\)"
    ):
        secure_kafka.start(["newcomer"])
    with pytest.raises(LabError, match="A SCRAM user name is letters"):
        secure_kafka.start(["bad,name]"])


def test_stop_leaves_nothing_running_and_a_restart_keeps_users_and_data(broker):
    """Last in the module: it restarts the broker (the fixture's handle goes stale)."""
    pid, password = broker.info["pid"], broker.profile("learner").password
    assert secure_kafka.stop()
    wait_for(lambda: gone(pid), "the secured broker to exit", 30)
    assert secure_kafka.current() is None and not secure_kafka.stop()
    again = secure_kafka.start(["learner"])
    assert again.info["pid"] != pid and again.profile("learner").password == password
    profile.check(again.profile("learner"))
