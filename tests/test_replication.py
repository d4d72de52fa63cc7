"""The replication trio of lesson 04b (labkit.replication): three Kafka brokers beside the
lab, tracked like the lab's own processes, on 127.0.0.1 only - and what the lesson claims
of them: a partition leader SIGKILLed while producing with acks=all, replication factor 3
and min.insync.replicas=2 loses no acknowledged event and writes none twice."""

from __future__ import annotations

import json

import psutil
import pytest
from privatelab import PrivateLab, describe, gone, is_loopback, listeners

from labkit import replication
from labkit.errors import LabError

START = "from labkit import replication, cluster; import json; t = replication.start(); " + (
    "print(json.dumps({n: cluster.State.load().processes[f'trio-kafka-{n}']['pid'] for n in (1, 2, 3)}))"
)


def pids_of(out) -> dict[int, int]:
    assert out.returncode == 0, out.stdout + out.stderr
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def test_the_trio_is_listed_reused_replaced_and_stopped_by_labkit_down(tmp_path):
    priv = PrivateLab(tmp_path / "home")
    try:
        priv.up()
        first = priv.python(START, timeout=240)
        pids = pids_of(first)
        assert "trio ready at 127.0.0.1:" in first.stdout

        status = priv.status()
        for n in (1, 2, 3):
            assert status["processes"][f"trio-kafka-{n}"]["alive"]
        assert "process:   trio-kafka-1 (pid" in describe(status)
        assert "1 of 1 broker(s) up" in describe(status)  # the lab's own Kafka is still one broker
        trio_procs = [psutil.Process(p) for p in pids.values()]
        found = listeners(trio_procs)
        assert {port for *_, port in found} >= {status["processes"]["trio-kafka-1"]["port"]}
        assert found and all(is_loopback(ip) for _, _, ip, _ in found), found

        again = priv.python(START, timeout=240)
        assert pids_of(again) == pids and "reusing the three brokers" in again.stdout

        psutil.Process(pids[2]).kill()  # what is left of a broken trio is replaced
        psutil.wait_procs([psutil.Process(pids[2])], timeout=30)
        replaced = priv.python(START, timeout=240)
        new = pids_of(replaced)
        assert "stopping what is left of an earlier trio" in replaced.stdout
        assert not set(new.values()) & set(pids.values())
        assert all(gone(p) for p in pids.values())

        down = priv.down()  # also checks that no process of this lab is left
        assert all(f"trio-kafka-{n}" in down.stdout for n in (1, 2, 3))
        assert all(gone(p) for p in new.values())
    finally:
        priv.stop()


def test_a_killed_leader_loses_no_acknowledged_event(lab):
    trio = replication.start(quiet=True)
    try:
        with pytest.raises(LabError, match="controller"):
            trio.kill(replication.CONTROLLER)
        got = replication.drill(
            trio, "test-replication-drill", replication_factor=3, min_insync_replicas=2, acks="all"
        )
        assert got["killed"] in (2, 3)
        assert got["acknowledged"] == got["sent"] == 1500, got["errors"]
        assert got["missing"] == [] and got["duplicates"] == []
        assert got["read"] == 1500
        assert all(trio.alive(n) for n in (1, 2, 3))  # drill restarted the broker it killed
    finally:
        trio.stop(quiet=True)
    assert not replication.running()
    assert not any(p.startswith("trio-kafka") for p in lab.status()["processes"])
