"""The replication trio's processes (labkit.runtime.trio): three Kafka brokers beside the
lab, tracked like the lab's own processes, on 127.0.0.1 only, reused while alive, replaced
when broken, and stopped by `labkit down`."""

from __future__ import annotations

import json

import psutil
from privatelab import PrivateLab, describe, gone, is_loopback, listeners

START = (
    "import json; from labkit.runtime import trio; from labkit.runtime.state import State; "
    "t = trio.start(trio.Brokers); "
    "print(json.dumps({n: State.load().processes[f'trio-kafka-{n}']['pid'] for n in (1, 2, 3)}))"
)


def pids_of(out) -> dict[int, int]:
    assert out.returncode == 0, out.stdout + out.stderr
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def test_the_trio_is_listed_reused_replaced_and_stopped_by_labkit_down(shared_priv: PrivateLab):
    """On the runtime tests' private lab (conftest.py)."""
    priv = shared_priv
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
