"""labkit.flink.client without a cluster: the configuration every environment starts from,
and the JobManager's REST API (`rest_api`, which `cancel_by_name` cancels jobs through)
against a stand-in JobManager."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from fake_jobmanager import FakeJobManager

from labkit.errors import LabError
from labkit.flink.client import flink_config, rest_api
from labkit.flink.jobs import cancel_by_name


def test_the_configuration_submits_to_the_jobmanager_in_utc():
    config = flink_config("127.0.0.1:8181", parallelism=2)
    assert (config["execution.target"], config["rest.address"], config["rest.port"]) == (
        "remote",
        "127.0.0.1",
        "8181",
    )
    assert config["parallelism.default"] == "2" and config["table.local-time-zone"] == "UTC"
    assert config["python.executable"] == config["python.client.executable"] == sys.executable
    assert config["pipeline.classpaths"].startswith("file:") and "kafka" in config["pipeline.classpaths"]
    assert flink_config("h:1", flink_python="/opt/py")["python.executable"] == "/opt/py"


def test_no_jobmanager_says_how_to_start_one():
    for call in (lambda: flink_config(None), lambda: rest_api(None, "overview")):
        with pytest.raises(LabError, match="labkit up"):
            call()


@pytest.fixture
def two_q_jobs(jobmanager: str) -> str:
    """Two jobs called "q" (one running, one finished) and one called "other"."""
    FakeJobManager.jobs = [
        {"jid": "a1", "name": "q", "state": "RUNNING"},
        {"jid": "b2", "name": "q", "state": "FINISHED"},
        {"jid": "c3", "name": "other", "state": "RUNNING"},
    ]
    return jobmanager


def test_rest_api_gets_posts_and_takes_an_empty_answer(two_q_jobs):
    jobmanager = two_q_jobs
    assert [j["jid"] for j in rest_api(jobmanager, "/jobs/overview")["jobs"]] == ["a1", "b2", "c3"]
    assert rest_api(jobmanager, "jobs/x/checkpoints", body={}) == {"path": "/jobs/x/checkpoints", "sent": {}}
    assert rest_api(jobmanager, "jobs/x?mode=cancel", method="PATCH") is None


def test_cancel_by_name_cancels_only_the_running_jobs_of_that_name(two_q_jobs):
    jobmanager = two_q_jobs
    assert cancel_by_name(jobmanager, "q") == 1
    assert FakeJobManager.cancelled == ["a1"]
    assert cancel_by_name(jobmanager, "nobody") == 0


def test_the_kafka_connector_is_on_the_client_jvms_own_classpath():
    """Every Java thread finds it, not only the one PyFlink added it to: Py4J serves each
    Python thread (a dashboard's restart, say) on a Java thread of its own."""
    from pyflink.java_gateway import get_gateway

    from labkit.flink import prepare_jvm
    from labkit.flink.client import client_lib

    prepare_jvm()
    jvm = get_gateway().jvm
    classpath = jvm.System.getProperty("java.class.path").split(os.pathsep)
    assert any(p.startswith(str(client_lib())) and "connector-kafka" in p for p in classpath), classpath
    found: list[str] = []

    sink = "org.apache.flink.connector.kafka.sink.KafkaSink"

    def load() -> None:
        found.append(jvm.Class.forName(sink, True, jvm.ClassLoader.getSystemClassLoader()).getName())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert found == [sink] * 4
