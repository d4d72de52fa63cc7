"""Nothing the lab runs can be reached from another machine: every listening socket of
every lab process (and its children), of a notebook kernel running jobs, and of this test
process (its PyFlink client) is on the loopback interface - also while jobs with Python
functions run, which the lab's TaskManager runs inside its own JVM ("thread" mode), and
while a pandas UDF runs in a Python worker process (whose servers the lab's ServerFactory
keeps on loopback).

On a private lab (the runtime tests' one, conftest.py), so that no job another test ran on
the suite's lab has left servers open; a TaskManager there that another test left with a
Python worker is replaced first (`priv`).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from privatelab import Kernel, PrivateLab, is_loopback, listeners, start_python_udf_job, wait_for

import labkit
from labkit.flink import Job, prepare_jvm
from labkit.flink.client import PYFLINK_PROCESS_ENV

ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"


@pytest.fixture
def priv(shared_priv: PrivateLab) -> PrivateLab:
    """The runtime tests' private lab (conftest.py); each test starts with `priv.up()`. A
    TaskManager that an earlier test left with a Python worker (its sockets would count
    here) is stopped with the lab first, so that `up` starts a fresh one."""
    tm = (shared_priv.state()["processes"] if (shared_priv.home / "state.json").exists() else {}).get(
        "flink-taskmanager"
    )
    if tm and psutil.pid_exists(tm["pid"]) and python_children(psutil.Process(tm["pid"])):
        shared_priv.down()
    return shared_priv


def lab_processes(priv: PrivateLab) -> dict[str, psutil.Process]:
    """Every process the lab's state file records (Kafka, Flink, the Web UI's front door...)."""
    return {name: psutil.Process(info["pid"]) for name, info in priv.state()["processes"].items()}


def by_process(priv: PrivateLab) -> dict[str, list[tuple[int, str, str, int]]]:
    return {name: listeners([proc]) for name, proc in lab_processes(priv).items()}


def python_children(proc: psutil.Process) -> list[psutil.Process]:
    return [p for p in proc.children(recursive=True) if "python" in p.name()]


@pytest.fixture
def mine(priv: PrivateLab, monkeypatch: pytest.MonkeyPatch) -> labkit.Lab:
    """The private lab, for this test process's own PyFlink client (started by the suite):
    with the private lab's certificate."""
    priv.up()
    monkeypatch.setenv("LABKIT_FLINK_TLS", str(priv.home / "tls"))
    return priv.lab()


def test_the_loopback_check_itself():
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1%eth0"]))


def test_kafka_and_flink_listen_on_this_machine_only(priv):
    priv.up()
    found = by_process(priv)
    exposed = [s for sockets in found.values() for s in sockets if not is_loopback(s[2])]
    assert exposed == [], f"listening beyond this machine: {exposed}"

    # and the check saw the sockets that matter: Kafka's client and controller listeners,
    # the JobManager's REST (Web UI), RPC and blob server, the TaskManager's RPC and data ports
    info = priv.state()["processes"]
    ports = {name: {port for *_, port in sockets} for name, sockets in found.items()}
    kafka, jobmanager = info["kafka-1"], info["flink-jobmanager"]
    assert {kafka["port"], kafka["controller_port"]} <= ports["kafka-1"]
    assert {jobmanager["port"], jobmanager["rpc_port"]} <= ports["flink-jobmanager"]
    assert len(ports["flink-jobmanager"]) >= 3  # + the blob server
    assert len(ports["flink-taskmanager"]) >= 2  # RPC + data (shuffle)
    assert info["flink-sqlgateway"]["port"] in ports["flink-sqlgateway"]  # Flink's SQL Gateway


def exposed_sockets(**families: list[psutil.Process]) -> list[tuple[Any, ...]]:
    """(whose, pid, process, address, port) of every listening socket beyond loopback."""
    return [
        (whose, *s) for whose, procs in families.items() for s in listeners(procs) if not is_loopback(s[2])
    ]


def test_prepare_jvm_sets_pyflinks_worker_mode_at_every_call(monkeypatch):
    """Not only before PyFlink's JVM starts (it is up by now): PyFlink reads the variable at
    every new environment, and without it starts a Beam server in this process."""
    prepare_jvm()
    for key in PYFLINK_PROCESS_ENV:
        monkeypatch.delenv(key)
    prepare_jvm()
    assert {k: os.environ.get(k) for k in PYFLINK_PROCESS_ENV} == PYFLINK_PROCESS_ENV


def test_the_suites_reset_of_the_environment_keeps_pyflinks_worker_mode(request):
    (root,) = [
        p
        for p in request.config.pluginmanager.get_plugins()
        if getattr(p, "__file__", "") == str(ROOT_CONFTEST)
    ]
    prepare_jvm()
    os.environ["SECURITY_TEST_LEFTOVER"] = "1"
    root.pytest_runtest_setup(request.node)  # what runs before every test and notebook
    assert "SECURITY_TEST_LEFTOVER" not in os.environ  # it did reset...
    assert {k: os.environ.get(k) for k in PYFLINK_PROCESS_ENV} == PYFLINK_PROCESS_ENV  # ...but kept this


def start_datastream_job(lab: labkit.Lab, tag: str) -> tuple[Job, set[int]]:
    """An unbounded Kafka -> Python map -> Kafka DataStream job, running once its first
    result is out; returns the job (the caller stops it) and the pids the function ran in."""
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink

    from labkit.fraud.jobs import kafka_source

    src, dst = lab.create_topic(f"ds-in-{tag}"), lab.create_topic(f"ds-out-{tag}")
    env = lab.stream_env()
    serializer = KafkaRecordSerializationSchema.builder().set_topic(dst)
    sink = KafkaSink.builder().set_bootstrap_servers(lab.flink_bootstrap_servers)
    sink = sink.set_record_serializer(serializer.set_value_serialization_schema(SimpleStringSchema()).build())
    stream = env.from_source(kafka_source(lab, src, bounded=False), WatermarkStrategy.no_watermarks(), src)
    stream.map(
        lambda v: json.dumps({**json.loads(v), "pid": os.getpid()}), output_type=Types.STRING()
    ).sink_to(sink.build())
    job = Job.of(env.execute_async(f"ds-{tag}"), f"ds-{tag}", lab.flink_rest or "")
    lab.produce(src, [{"n": 1}])
    pids = wait_for(lambda: set(lab.read(dst).get("pid", [])), "the DataStream function's first result", 180)
    return job, pids


def test_jobs_with_python_functions_listen_on_this_machine_only(priv, mine, monkeypatch):
    """A notebook kernel runs a Table API job with a Python UDF, this process another and a
    DataStream job with a Python function, all unbounded and running while we look: the
    functions run inside the TaskManager (thread mode: no Python worker, no Beam servers),
    and nothing - lab, kernel, this process - listens beyond loopback."""
    # as after something cleared it: prepare_jvm (in table_env) must set PyFlink's worker mode
    # again, or PyFlink starts a Beam worker-pool server on every interface in this process
    for key in PYFLINK_PROCESS_ENV:
        monkeypatch.delenv(key, raising=False)
    from pyflink.java_gateway import get_gateway

    tm = psutil.Process(priv.pid("flink-taskmanager"))
    kernel = table_job = job = None
    try:
        kernel = Kernel(priv)  # a notebook running a job with a Python UDF
        table_job, _ = start_python_udf_job(mine, uuid.uuid4().hex[:6])
        job, ran_in = start_datastream_job(mine, uuid.uuid4().hex[:6])
        assert ran_in == {tm.pid}, f"the Python function ran in {ran_in}, not in the TaskManager ({tm.pid})"
        assert python_children(tm) == [], "a Python worker process started"
        lab = list(lab_processes(priv).values())
        notebook = [psutil.Process(pid) for pid in kernel.pids()]
        here = [psutil.Process(os.getpid())]  # with its children: PyFlink's client JVM
        # the lister sees the sockets it should: this process's PyFlink gateway, the kernel's,
        # the TaskManager's RPC and data ports
        assert get_gateway().gateway_parameters.port in {port for *_, port in listeners(here)}
        assert any(name == "java" for _, name, _, _ in listeners(notebook)), listeners(notebook)
        assert len(listeners([tm])) >= 2
        exposed = exposed_sockets(lab=lab, **{"notebook kernel": notebook, "this test process": here})
        assert exposed == [], f"listening beyond this machine (whose, pid, process, address, port): {exposed}"
    finally:
        for started in (job, table_job):
            if started:
                started.stop()
        if kernel:
            kernel.close()


def test_a_job_in_process_mode_listens_on_this_machine_only(priv):
    """What thread mode cannot run (a pandas UDF) runs in a Python worker, for which the
    TaskManager opens six Beam gRPC servers: the lab's ServerFactory (labkit/beam_loopback)
    puts them on 127.0.0.1, where flink-python's own opens them on every interface."""
    priv.up()
    kernel = None
    tm = psutil.Process(priv.pid("flink-taskmanager"))
    before = {port for *_, port in listeners([tm])}
    try:
        kernel = Kernel(priv, "start_pandas_udf_job")  # a notebook running a pandas UDF
        assert python_children(tm), "no Python worker started: the job did not run in process mode"
        opened = [s for s in listeners([tm]) if s[3] not in before]
        # control, data, state, logging, artifacts, provisioning (and the worker's own, if any)
        assert len(opened) >= 6, f"the Beam servers were not found among the TaskManager's sockets: {opened}"
        notebook = [psutil.Process(pid) for pid in kernel.pids()]
        here = [psutil.Process(os.getpid())]
        exposed = exposed_sockets(
            lab=list(lab_processes(priv).values()), **{"notebook kernel": notebook, "this test process": here}
        )
        assert exposed == [], f"listening beyond this machine (whose, pid, process, address, port): {exposed}"
    finally:
        if kernel:
            kernel.close()
