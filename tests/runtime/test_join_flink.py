"""A Flink TaskManager joins the lab's Flink from another "machine" (labkit.runtime.flink_join),
and the rescale drill keeps exact totals across both. Two network namespaces this test
makes, joined by a veth pair with private addresses (10.77.25.1 and .2), each with its own
LABKIT_HOME; nothing else on the host is used. Machine A runs a secured single-node Kafka on
its address (SASL_SSL) and its lab with that Kafka (a connection profile: no Kafka of its
own) and its Flink on its address (`labkit up --flink-host`, internal SSL), and writes a
Flink join bundle for B (`labkit flink-bundle`); B's TaskManager joins (`labkit join`), every
listener of it on B's address; the JobManager's RPC refuses a TLS client without the lab's
key. A keyed count and sum over a Kafka topic runs at parallelism 1, is stopped with a
savepoint and resumed at parallelism 2 with subtasks on both TaskManagers, and every key's
totals are exact. `labkit leave flink` on B: the JobManager lists one TaskManager again;
`labkit down` in each home leaves nothing running. Root only (namespaces)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import psutil
import pytest
from netns import LISTENERS, Machine, needs_root, two_machines

from labkit.errors import LabError
from labkit.runtime import flink_join, flink_proc
from labkit.runtime.processes import record
from labkit.runtime.state import Endpoints, State

A_IP, B_IP = "10.77.25.1", "10.77.25.2"
KAFKA = "rescale-kafka"

KAFKA_START = f"""
from labkit.runtime import secure_kafka
layout = secure_kafka.Layout({KAFKA!r}, nodes=1, host={A_IP!r})
secure_kafka.start_cluster(layout, ["learner"])
print(json.dumps(str(layout.profile_path("learner"))))
"""

#: A's Flink processes and the REST address, from A's state.
FLINK = """
from labkit.runtime.state import State
state = State.load()
print(json.dumps({"rest": state.endpoints.flink_rest,
                  "jm": state.processes["flink-jobmanager"], "tm": state.processes["flink-taskmanager"]}))
"""

#: The TaskManagers A's JobManager lists once there are ``sys.argv[1]`` of them.
TASKMANAGERS = """
from labkit.runtime import flink_proc
from labkit.runtime.state import State
from labkit.waiting import wait_for
rest = State.load().endpoints.flink_rest
want = int(sys.argv[1])
found = wait_for(lambda: (lambda tms: tms if len(tms) == want else None)(flink_proc.taskmanagers(rest)),
                 f"{want} TaskManagers", 60, every=0.2)
print(json.dumps(found))
"""

#: Every listening TCP socket (address, port) of the processes named by pid (test_join.py's).
#: A TLS client without the lab's key, against ``host:port``: what the handshake says.
STRANGER = """
import socket, ssl
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:
            tls.recv(1)  # TLS 1.3 says a missing certificate after the handshake
    said = "accepted"
except (ssl.SSLError, ConnectionError) as exc:
    said = f"refused: {exc}"
print(json.dumps(said))
"""

#: The drill, in A's lab: a keyed count and sum at parallelism 1, stopped with a savepoint and
#: resumed at parallelism 2 (`rescale`); the totals per key and where the subtasks ran.
DRILL = """
import labkit
from labkit.runtime import flink_join
from labkit.waiting import wait_for

lab = labkit.connect(quiet=True)
lab.create_topic("orders", partitions=4, replace=True)
lab.create_topic("totals", partitions=1, replace=True)

def events(start, n):
    return [{"k": f"key-{i % 8}", "amount": i} for i in range(start, start + n)]

def expected(sent):
    out = {}
    for e in sent:
        n, total = out.get(e["k"], (0, 0))
        out[e["k"]] = (n + 1, total + e["amount"])
    return out

def settled(sent):
    want = expected(sent)
    def check():
        got = flink_join.totals(lab, "totals")
        twice = {k: v for k, v in got.items() if v[0] > want.get(k, (0, 0))[0]}
        assert not twice, f"counted twice: {twice} (sent {want})"
        return got == want
    wait_for(check, "the totals of everything sent", 120, every=0.3)
    return {k: list(v) for k, v in flink_join.totals(lab, "totals").items()}

def placement(job):
    try:
        lab.wait_until_running(job, timeout=90)
    except (RuntimeError, TimeoutError) as exc:
        raise AssertionError(f"{exc}: {lab.failures(job)}") from None
    out = []
    for v in lab.flink_api(f"jobs/{job.job_id}")["vertices"]:
        tms = lab.flink_api(f"jobs/{job.job_id}/vertices/{v['id']}/taskmanagers")["taskmanagers"]
        out.append({"name": v["name"], "parallelism": v["parallelism"],
                    "hosts": sorted({t["endpoint"].rpartition(":")[0] for t in tms}),
                    "taskmanagers": sorted(t["taskmanager-id"] for t in tms)})
    return out

first, second, third = events(0, 400), events(400, 200), events(600, 200)
job = flink_join.keyed_totals(lab, "orders", "totals", parallelism=1)
before = placement(job)
lab.produce("orders", first, key="k")
settled(first)
lab.produce("orders", second, key="k")  # read before the stop or after it: the savepoint says which
new = lab.rescale(job, 2)  # the drill in one line: stop with a savepoint, start at 2
after = placement(new)
lab.produce("orders", third, key="k")
everything = first + second + third
totals = settled(everything)
print(json.dumps({"before": before, "after": after, "totals": totals, "expected": expected(everything)}))
"""


@pytest.fixture(scope="module")
def machines() -> Iterator[tuple[Machine, Machine]]:
    with two_machines(Machine, "lkf", A_IP, B_IP) as pair:
        yield pair


def timed(what: str, t0: float) -> None:
    print(f"{what}: {time.monotonic() - t0:.1f} s")


@needs_root
def test_a_joined_taskmanager_takes_a_rescaled_jobs_subtasks_and_the_totals_stay_exact(machines) -> None:
    a, b = machines
    t0 = time.monotonic()
    a.env["LABKIT_KAFKA_PROFILE"] = str(a.run(KAFKA_START))
    timed("A's Kafka", t0)
    a.cli("up", "--flink-host", A_IP)
    timed("A's lab with its Flink on its address", t0)
    out = a.cli("flink-bundle", B_IP)
    assert "secret" in out
    bundle = a.home / "flink-join" / f"taskmanager-{B_IP}"  # flink_join.bundle_folder, in A's home
    assert str(bundle) in out
    assert oct(bundle.stat().st_mode & 0o777) == "0o700"
    assert sorted(f.name for f in bundle.iterdir()) == sorted(flink_join.BUNDLE_FILES)
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in bundle.iterdir())
    password = (bundle / "internal.password").read_text().strip()
    assert password not in out
    copy = b.home / "flink-bundle"
    shutil.copytree(bundle, copy)

    b.run("print(json.dumps(None))")  # B's lab state (PRELUDE): no lab of its own needed
    joined = b.cli("join", str(copy))
    assert password not in joined
    timed("B's TaskManager joined", t0)
    tms = a.run(TASKMANAGERS, "2")
    assert sorted(tm["path"].split("@")[1].rpartition(":")[0] for tm in tms) == [A_IP, B_IP], tms

    # B's TaskManager: every listener on B's address; A's Flink: REST alone on 127.0.0.1
    b_tm = json.loads((b.home / "state.json").read_text())["processes"][flink_join.NAME]
    b_listeners = b.run(LISTENERS, str(b_tm["pid"]))
    assert b_listeners and all(addr == B_IP for addr, _ in b_listeners), b_listeners
    flink = a.run(FLINK)
    jm_listeners = a.run(LISTENERS, str(flink["jm"]["pid"]))
    rest_port = int(flink["rest"].rpartition(":")[2])
    assert [flink_proc.LOOPBACK, rest_port] in jm_listeners
    assert all(addr == A_IP for addr, port in jm_listeners if port != rest_port), jm_listeners
    assert all(addr == A_IP for addr, _ in a.run(LISTENERS, str(flink["tm"]["pid"])))
    # internal SSL is mutual: a TLS client without the lab's key is refused by the JobManager's RPC
    said = b.run(STRANGER, A_IP, str(flink["jm"]["rpc_port"]))
    assert said.startswith("refused"), said

    t1 = time.monotonic()
    drill = a.run(DRILL, timeout=300)
    timed("the drill", t1)
    assert all(v["parallelism"] == 1 for v in drill["before"]), drill["before"]
    assert all(v["parallelism"] == 2 for v in drill["after"]), drill["after"]
    used = {h for v in drill["after"] for h in v["hosts"]}
    assert used == {A_IP, B_IP}, drill["after"]
    assert drill["totals"] == {k: list(v) for k, v in drill["expected"].items()}

    left = b.cli("leave", "flink")
    assert "left" in left
    assert a.run(TASKMANAGERS, "1")[0]["path"].split("@")[1].startswith(A_IP)
    assert not (b.home / "joined-flink").exists()
    assert b.lab.leftovers(timeout=10) == []
    timed("all", t0)


def test_a_flink_on_loopback_cannot_be_joined(tmp_path, monkeypatch) -> None:
    """A bundle names an address other machines reach, on both sides."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    me = record(psutil.Process(os.getpid()))
    State(
        Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), {"flink-jobmanager": {**me, "rpc_port": 1}}
    ).save()
    with pytest.raises(LabError, match="cannot reach it"):
        flink_join.write_bundle(B_IP)
    with pytest.raises(LabError, match="loopback"):
        flink_join.write_bundle("127.0.0.1")
    with pytest.raises(LabError, match="IP address"):
        flink_join.write_bundle("some-laptop")
    assert not flink_join.is_bundle(tmp_path)


def test_flink_on_an_address_binds_it_with_internal_ssl_and_loopback_stays_as_it_was(tmp_path) -> None:
    plain = flink_proc.config(flink_proc.FlinkPorts(1, 2, 3, 4))
    listeners = (
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.bind-host",
        "taskmanager.host",
    )
    assert {plain[k] for k in listeners} == {"127.0.0.1"}
    assert not any(k.startswith("security.ssl.internal") for k in plain)
    assert not set(flink_proc.SPREAD) & set(plain)
    shared = flink_proc.config(flink_proc.FlinkPorts(1, 2, 3, 4, host=A_IP))
    assert {shared[k] for k in listeners} == {A_IP}
    assert shared["rest.address"] == shared["rest.bind-address"] == "127.0.0.1"
    where = flink_join.ensure_internal(A_IP, tmp_path / "internal")
    assert oct(where.stat().st_mode & 0o777) == "0o700"
    assert flink_join.internal_address(where) == A_IP
    flink_join.internal_keystore(where / "internal.key", tmp_path, B_IP)  # a bundle's: same key
    assert flink_join.internal_address(tmp_path) == B_IP
    tm = flink_join.taskmanager_config({"jobmanager": A_IP, "rpc_port": 2, "address": B_IP}, where)
    assert tm["jobmanager.rpc.address"] == A_IP and tm["taskmanager.bind-host"] == B_IP
    assert tm["security.ssl.internal.enabled"] == "true"
    assert tm["security.ssl.internal.keystore"] == tm["security.ssl.internal.truststore"]
    with pytest.raises(LabError, match="IP address"):
        flink_proc.checked_host("my-laptop")


def test_a_restarted_flink_keeps_the_rpc_port_join_bundles_name_when_it_is_free() -> None:
    from labkit.runtime.net import free_port

    port = free_port()
    assert flink_proc.plan(None, set(), None, rpc=port).rpc == port
    assert flink_proc.plan(None, {port}, None, rpc=port).rpc != port  # taken: another one
    assert flink_proc.plan(None, set(), None).rpc > 0
