"""labkit's own clients through a connection profile, for real: a SASL_SSL-only broker
(labkit.runtime.secure_kafka) started once for the module on a private LABKIT_HOME, and a lab
handle whose `Endpoints` name a learner's profile. labkit's topic, produce and read helpers
speak SASL_SSL; a wrong password is the profile's clear error within seconds; a bounded Flink
query on the suite's own Flink cluster reads the secured topic through the Kafka connector's
options (the shaded SCRAM login module, the CA as PEM); the JAAS config, which holds the
password, is masked wherever labkit shows a table's options."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from privatelab import gone, secured_broker

import labkit
from labkit import events, paths, streams
from labkit.fraud import jobs as fraud_jobs
from labkit.fraud import live as fraud_live
from labkit.runtime import backends, profile, status, streams_proc
from labkit.runtime.state import Endpoints, State

#: A client that must be refused is refused within this (labkit's bootstrap time-out + margin).
REFUSE_S = 8.0


@pytest.fixture(scope="module")
def secured():
    """The secured broker on a private home (`privatelab.secured_broker`); LABKIT_HOME is the
    suite's again while tests run (Flink's REST client certificate is the suite lab's): the
    handle needs no home."""
    with secured_broker(["learner"], "labkit-secure-clients-test-") as (home, broker):
        with pytest.MonkeyPatch.context() as m:
            m.setenv("LABKIT_HOME", str(home))
            # the handle finds its files through LABKIT_HOME: read what the tests need now
            found = Secured(broker.bootstrap, broker.profile_path("learner"), broker.profile("learner"), home)
        yield found


@dataclass(frozen=True)
class Secured:
    bootstrap: str
    path: Path  # the learner's profile
    learner: profile.Profile
    home: Path  # the broker's private LABKIT_HOME (its log)


def secured_lab(broker: Secured, path: Path, flink: labkit.Lab | None = None) -> labkit.Lab:
    """A lab handle on the secured broker through the profile at ``path``; with ``flink`` (the
    suite's lab), its JobManager and SQL Gateway."""
    return labkit.Lab(
        Endpoints(
            "remote",
            broker.bootstrap,
            broker.bootstrap,
            flink.flink_rest if flink else None,
            flink.flink_python if flink else None,
            sql_gateway=flink.endpoints.sql_gateway if flink else None,
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


# --- the clients that start Java: DataStream jobs, Flink SQL tables and cells, Kafka Streams --


def log_files(since: float, *homes: Path) -> Iterator[Path]:
    """The logs under ``homes`` (and PyFlink's client log) written since ``since`` (a time.time()).
    Walked with `os.walk`, which skips what vanishes meanwhile (Kafka deletes a deleted
    topic's partition folders in the background; `Path.rglob` raised FileNotFoundError)."""
    import pyflink

    for home in (*homes, Path(pyflink.__file__).parent / "log"):
        for folder, _, names in os.walk(home):
            for name in names:
                path = Path(folder) / name
                is_log = path.suffix in (".log", ".out", ".err") or path.parent.name in ("log", "logs")
                try:
                    fresh = is_log and path.stat().st_mtime >= since and path.stat().st_size < 64 << 20
                except FileNotFoundError:
                    continue
                if fresh:
                    yield path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # a log rotated or deleted since it was listed
        return b""


def assert_no_password_in_logs(secured: Secured, since: float) -> None:
    """No log the run wrote - the broker's, Flink's JobManager, TaskManager and SQL Gateway,
    PyFlink's client, a Kafka Streams app's - holds the password (nor its JAAS-quoted form)."""
    secret = secured.learner.password.encode()
    checked = list(log_files(since, paths.home(), secured.home))
    assert checked, "no log was written: the check would prove nothing"
    leaked = [str(p) for p in checked if secret in _read(p)]
    print(f"the password is in none of {len(checked)} logs: {sorted({p.name for p in checked})[:12]}")
    assert not leaked, f"the password is in {leaked}"


def test_a_datastream_job_copies_a_secured_topic_exactly(secured, lab):
    """lesson 09's own pieces: `fraud.jobs.kafka_source` (bounded) into
    `fraud.live.alerts_to_kafka` (a Python map, then a KafkaSink), both through
    `lab.kafka_client_properties()`."""
    since = time.time()
    learner_lab = secured_lab(secured, secured.path, flink=lab)
    src, dst = learner_lab.scratch_topic("secure-ds-in", 2), learner_lab.scratch_topic("secure-ds-out")
    sent = [{"n": i, "user": f"u{i % 4}"} for i in range(40)]
    try:
        learner_lab.produce(src, sent, key="user")
        props = learner_lab.kafka_client_properties()
        assert props["security.protocol"] == "SASL_SSL" and secured.learner.password not in repr(props)
        from pyflink.common import WatermarkStrategy

        env = learner_lab.stream_env()
        source = fraud_jobs.kafka_source(learner_lab, src, bounded=True)
        texts = env.from_source(source, WatermarkStrategy.no_watermarks(), "secured source")
        fraud_live.alerts_to_kafka(learner_lab, texts, dst)  # each text as a JSON string
        started = time.monotonic()
        job = learner_lab.start(env.execute_async("secured copy"), "secured copy")
        assert job.wait(timeout=180) == "FINISHED"
        print(f"DataStream KafkaSource -> KafkaSink over SASL_SSL in {time.monotonic() - started:.2f} s")
        got = [json.loads(v) for v in learner_lab.read(dst)["value"]]
    finally:
        learner_lab.delete_topic(src, dst)
    assert sorted(got, key=lambda r: r["n"]) == sent
    assert_no_password_in_logs(secured, since)


def test_a_table_from_kafka_options_and_a_flink_sql_cell_read_the_secured_topic(secured, lab, capsys):
    from labkit.errors import FlinkSqlError
    from labkit.flink.jobs import collect
    from labkit.sql.magic import FlinkSql

    since = time.time()
    learner_lab = secured_lab(secured, secured.path, flink=lab)
    password = secured.learner.password
    topic = learner_lab.scratch_topic("secure-sql")
    cell = FlinkSql(learner_lab.endpoints)
    try:
        learner_lab.produce(topic, [{"user": f"u{i % 3}", "n": i} for i in range(30)])
        options = learner_lab.kafka_options(topic, bounded=True)
        assert password not in repr(options) and "'properties.sasl.jaas.config' = '******'" in repr(options)
        # a learner's own DDL from the lab's options, in Python
        t_env = learner_lab.table_env(streaming=False)
        t_env.execute_sql(f"CREATE TABLE clicks (`user` STRING, n INT) WITH ({options})")
        frame = collect(t_env, "SELECT COUNT(*) AS events, SUM(n) AS total FROM clicks", lab.flink_rest, 180)
        assert (int(frame["events"][0]), int(frame["total"][0])) == (30, sum(range(30)))
        # and in a %%flink_sql cell: {lab.flink_kafka_connection}, filled from the notebook's lab
        ddl = (
            f"CREATE TABLE clicks (`user` STRING, n INT) WITH ('connector' = 'kafka', 'topic' = '{topic}', "
            "{lab.flink_kafka_connection}, 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', "
            "'scan.bounded.mode' = 'latest-offset')"
        )
        namespace = {"lab": learner_lab}
        started = time.monotonic()
        got = cell.run_cell(
            f"{ddl};\nSELECT `user`, COUNT(*) AS events FROM clicks GROUP BY `user`", namespace
        )
        print(f"%%flink_sql cell on the secured topic in {time.monotonic() - started:.2f} s")
        assert dict(zip(got["user"], got["events"], strict=True)) == {"u0": 10, "u1": 10, "u2": 10}
        capsys.readouterr()
        assert cell.run_cell("SHOW CREATE TABLE clicks", namespace) is None  # printed
        shown = capsys.readouterr().out
        assert "'properties.sasl.jaas.config' = '******'" in shown and password not in shown
        # a statement Flink refuses: its error quotes the statement, masked
        with pytest.raises(FlinkSqlError) as caught:
            cell.run_cell(ddl.replace("clicks (", "broken (").replace(", 'format'", " 'format'"), namespace)
        error = caught.value
        assert "'******'" in error.statement
        assert password not in f"{error} {error.statement} {error.details}"
    finally:
        cell.close()
        learner_lab.delete_topic(topic)
    assert_no_password_in_logs(secured, since)


def test_kafka_streams_counts_on_the_secured_broker_with_the_login_in_a_private_file(secured, lab):
    since = time.time()
    learner_lab = secured_lab(secured, secured.path, flink=lab)
    password = secured.learner.password
    app_id = f"test-secure-ks-{uuid.uuid4().hex[:8]}"
    clicks_topic = learner_lab.scratch_topic("secure-ks-clicks")
    counts_topic = learner_lab.scratch_topic("secure-ks-counts")
    app = None
    try:
        app = streams_proc.start(learner_lab, app_id, clicks=clicks_topic, counts=counts_topic, window_s=5)
        took = app.wait_running()
        print(f"Kafka Streams instance RUNNING on the secured broker after {took:.2f} s")
        clicks = list(events.clicks(60, seed=5, rate=4, users=3))
        later = clicks[-1]["ts"] + 60_000  # a click far later closes every window before it
        closer = {"event_id": "closer", "user_id": clicks[0]["user_id"], "ts": later}
        learner_lab.produce(clicks_topic, [*clicks, closer], key="user_id", timestamp="ts")
        truth = streams.expected_counts(clicks, 5)
        got = streams.counts(learner_lab, counts_topic, rows=len(truth))
        key = ["user_id", "window_start", "clicks"]
        assert got[key].equals(truth[key])
        # the login: in a JAAS file of its own, 0600; not in the properties (lesson 10 prints them),
        # not on the command line
        jaas = app.config_file.parent / "login.jaas"
        assert jaas.stat().st_mode & 0o777 == 0o600 and password in jaas.read_text()
        assert app.config_file.stat().st_mode & 0o777 == 0o600
        assert password not in app.config_file.read_text()
        assert "security.protocol=SASL_SSL" in app.config_file.read_text()
        assert password not in " ".join(app.command) and password not in app.command_line
    finally:
        if app is not None:
            pid = app.info["pid"]
            assert app.stop()
            assert gone(pid)
            streams.reset(learner_lab, app_id)
        learner_lab.delete_topic(clicks_topic, counts_topic)
    assert not streams_proc.running(app_id) and f"streams-{app_id}-1" not in State.load().processes
    assert_no_password_in_logs(secured, since)


def test_labkit_status_asks_a_secured_kafka_through_the_profile(secured, tmp_path):
    endpoints = Endpoints("remote", secured.bootstrap, secured.bootstrap, kafka_profile=str(secured.path))
    found = status.kafka_status(secured.bootstrap, endpoints)
    assert found is not None and "error" not in found, found
    assert len(found["brokers"]) == 1
    # without the profile the broker answers TCP, not Kafka; with a wrong password: why, masked
    assert "error" in (status.kafka_status(secured.bootstrap) or {})
    wrong = profile.write(
        tmp_path / "wrong.json",
        profile.parse({**profile.to_json(secured.learner), "password": "not-the-password"}),
    )
    refused = status.kafka_status(
        secured.bootstrap, Endpoints("remote", secured.bootstrap, secured.bootstrap, kafka_profile=str(wrong))
    )
    assert refused is not None and "refused the login of 'learner'" in refused["error"]
    assert "not-the-password" not in refused["error"]
