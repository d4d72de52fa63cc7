"""labkit's own clients through a connection profile, for real: a SASL_SSL-only broker
(labkit.runtime.secure_kafka) started once for the module on a private LABKIT_HOME, and a lab
handle whose `Endpoints` name a learner's profile. labkit's topic, produce and read helpers
speak SASL_SSL; a wrong password is the profile's clear error within seconds; a bounded Flink
query on the suite's own Flink cluster reads the secured topic through the Kafka connector's
options (the shaded SCRAM login module, the CA as PEM); the JAAS config, which holds the
password, is masked wherever labkit shows a table's options."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from privatelab import PrivateLab

import labkit
from labkit.runtime import backends, lifecycle, profile, secure_kafka
from labkit.runtime.state import Endpoints, State, owner_pid, register_home

#: A client that must be refused is refused within this (labkit's bootstrap time-out + margin).
REFUSE_S = 8.0


@pytest.fixture(scope="module")
def secured():
    """The secured broker on a private home; LABKIT_HOME is the suite's again while tests
    run (Flink's REST client certificate is the suite lab's): the handle needs no home."""
    home = Path(tempfile.mkdtemp(prefix="labkit-secure-clients-test-"))
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
            register_home()  # a killed run's broker is stopped by `labkit down --all`
            broker = secure_kafka.start(["learner"])
            # the handle finds its files through LABKIT_HOME: read what the tests need now
            found = Secured(broker.bootstrap, broker.profile_path("learner"), broker.profile("learner"))
        yield found
    finally:
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            lifecycle.down(quiet=True)
            left = PrivateLab(home).leftovers(timeout=20)
        shutil.rmtree(home, ignore_errors=True)
        assert left == [], f"the secured broker left processes running: {left}"


@dataclass(frozen=True)
class Secured:
    bootstrap: str
    path: Path  # the learner's profile
    learner: profile.Profile


def secured_lab(broker: Secured, path: Path, flink: labkit.Lab | None = None) -> labkit.Lab:
    return labkit.Lab(
        Endpoints(
            "remote",
            broker.bootstrap,
            broker.bootstrap,
            flink.flink_rest if flink else None,
            flink.flink_python if flink else None,
            kafka_profile=str(path),
        )
    )


@pytest.fixture
def learner_lab(secured) -> labkit.Lab:
    return secured_lab(secured, secured.path)


def test_labkits_helpers_create_produce_and_read_over_sasl_ssl(secured, learner_lab):
    topic = learner_lab.scratch_topic("secure-clients", 2)
    try:
        assert topic in learner_lab.topics()
        sent = learner_lab.produce(topic, [{"n": i, "user": f"u{i % 3}"} for i in range(20)], key="user")
        assert sent == 20
        got = learner_lab.read(topic)
        assert sorted(got["n"]) == list(range(20))
        assert learner_lab.describe_topic(topic)["events"].sum() == 20
    finally:
        learner_lab.delete_topic(topic)
    assert topic not in learner_lab.topics()
    # the password is in the options kafka-python gets, and in no repr of them
    config = learner_lab.client_config()
    password = secured.learner.password
    assert config["sasl_plain_password"] == password and config["security_protocol"] == "SASL_SSL"
    assert password not in repr(config) and "'******'" in repr(config)


def test_the_remote_backend_takes_the_profile_from_the_environment(secured, monkeypatch, tmp_path):
    path = secured.path
    monkeypatch.delenv("LABKIT_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("LABKIT_FLINK_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LABKIT_KAFKA_PROFILE", str(path))
    monkeypatch.setenv("LABKIT_FLINK_REST", "127.0.0.1:9")
    endpoints = backends.remote_endpoints()
    assert endpoints.bootstrap_servers == endpoints.flink_bootstrap_servers == secured.bootstrap
    assert endpoints.kafka_profile == str(path.resolve())
    assert labkit.Lab(endpoints).topics() is not None  # logs in through the profile
    # the state file keeps the profile's path, never its password
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    State(endpoints).save()
    saved = (tmp_path / "state.json").read_text()
    assert str(path.resolve()) in saved and secured.learner.password not in saved
    loaded = State.load()
    assert loaded is not None and loaded.endpoints == endpoints
    # an address given explicitly wins over the profile's
    monkeypatch.setenv("LABKIT_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert backends.remote_endpoints().bootstrap_servers == "127.0.0.1:1"
    # a bad profile is a clear error when the lab connects
    monkeypatch.setenv("LABKIT_KAFKA_PROFILE", str(tmp_path / "nowhere.json"))
    with pytest.raises(profile.ProfileError, match="No connection profile at"):
        backends.remote_endpoints()


def test_a_wrong_password_is_the_profiles_clear_error_within_seconds(secured, tmp_path):
    learner = secured.learner
    wrong = profile.write(
        tmp_path / "wrong.json", profile.parse({**profile.to_json(learner), "password": "not-the-password"})
    )
    lab = secured_lab(secured, wrong)
    started = time.monotonic()
    with pytest.raises(profile.ProfileError) as caught:
        lab.topics()
    took = time.monotonic() - started
    print(f"wrong password refused in {took:.2f} s")
    assert took < REFUSE_S
    said = str(caught.value)
    assert "refused the login of 'learner' (SCRAM-SHA-512)" in said
    assert "not-the-password" not in said and learner.password not in said


def test_a_bounded_flink_query_reads_the_secured_topic(secured, lab):
    learner_lab = secured_lab(secured, secured.path, flink=lab)
    topic = learner_lab.scratch_topic("secure-flink")
    try:
        learner_lab.produce(topic, [{"user": f"u{i % 3}", "n": i} for i in range(30)])
        started = time.monotonic()
        got = learner_lab.query(
            "SELECT `user`, SUM(n) AS total, COUNT(*) AS events FROM clicks GROUP BY `user`",
            {"clicks": "`user` STRING, n INT"},
            topics={"clicks": topic},
        )
        print(f"bounded Flink query over SASL_SSL in {time.monotonic() - started:.2f} s")
    finally:
        learner_lab.delete_topic(topic)
    totals = {row.user: (row.total, row.events) for row in got.itertuples()}
    assert totals == {f"u{k}": (sum(i for i in range(30) if i % 3 == k), 10) for k in range(3)}


def test_a_kafka_tables_ddl_shows_the_jaas_config_masked(secured, lab):
    learner_lab = secured_lab(secured, secured.path, flink=lab)
    password = secured.learner.password
    ddl = learner_lab.kafka_table(learner_lab.table_env(streaming=False), "t", "n INT", topic="anything")
    assert password not in ddl
    assert "'properties.sasl.jaas.config' = '******'" in ddl
    assert "'properties.security.protocol' = 'SASL_SSL'" in ddl
    assert f"'properties.ssl.truststore.location' = '{secured.learner.ca_file}'" in ddl
