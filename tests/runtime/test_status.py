"""What `labkit status` (labkit/runtime/status.py) says about Flink's SQL Gateway: its version
and address when it answers, why not when it does not, and that a backend has none.

The answering case asks the suite's real lab; the others give this process a lab folder of
its own whose state file names the suite's Kafka and Flink but a gateway that is not there.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from privatelab import LABKIT

import labkit
from labkit.runtime import tls
from labkit.runtime.net import free_port
from labkit.runtime.state import Endpoints, State
from labkit.runtime.status import describe, gateway_status, status


def test_status_asks_the_sql_gateway_for_its_version(lab: labkit.Lab):
    gateway = lab.endpoints.sql_gateway
    assert gateway and gateway.startswith("https://127.0.0.1:")
    st = status()
    assert st["sql_gateway"] == {"address": gateway, "version": "2.3.0"}
    assert st["sql_gateway"]["version"] == st["flink"]["version"]  # the cluster's Flink
    assert f"sql gateway: Flink SQL Gateway 2.3.0 at {gateway} (for %%flink_sql)" in describe(st)
    process = st["processes"]["flink-sqlgateway"]
    assert process["alive"] and process["port"] == tls.host_port(gateway)[1]


def test_labkit_status_prints_the_gateway_as_text_and_as_json(lab: labkit.Lab):
    gateway = lab.endpoints.sql_gateway

    def run(*args: str) -> str:
        out = subprocess.run(
            [*LABKIT, "status", *args], env=dict(os.environ), capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    text = run()
    assert f"\nsql gateway: Flink SQL Gateway 2.3.0 at {gateway} (for %%flink_sql)\n" in text
    assert "\nprocess:   flink-sqlgateway (pid " in text
    assert json.loads(run("--json"))["sql_gateway"] == {"address": gateway, "version": "2.3.0"}


@pytest.fixture
def own_state(lab: labkit.Lab, tmp_path, monkeypatch):
    """``own_state(sql_gateway, backend)``: a state file in a lab folder of this test's own
    naming the suite's Kafka and JobManager (reached with the suite's certificate) and
    ``sql_gateway``."""
    monkeypatch.setenv("LABKIT_FLINK_TLS", str(tls.folder()))  # before the folder changes
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))

    def save(sql_gateway: str | None, backend: str = "local") -> None:
        servers = lab.bootstrap_servers
        State(Endpoints(backend, servers, servers, lab.flink_rest, sql_gateway=sql_gateway)).save()

    return save


def test_a_gateway_that_does_not_answer_is_named_with_its_fix(own_state):
    down = f"https://127.0.0.1:{free_port()}"
    own_state(down)
    st = status()
    # Kafka and the JobManager answer (the certificate works): only the gateway is missing
    assert st["running"] and st["flink"]["version"] == "2.3.0"
    assert st["sql_gateway"] == {"address": down, "error": "does not answer"}
    shown = describe(st)
    assert f"sql gateway: Flink SQL Gateway at {down} does not answer - `labkit up` restarts it" in shown


def test_a_backend_without_a_gateway_says_it_has_none(own_state):
    own_state(None, backend="remote")
    st = status()
    assert st["running"] and st["sql_gateway"] is None
    assert "sql gateway: none on this backend" in describe(st)


def test_a_plain_http_address_is_asked_without_a_certificate(lab: labkit.Lab):
    """Compose and remote gateways are ``host:port`` (HTTP): asked as such, so the lab's TLS
    gateway, asked in plain HTTP, does not answer."""
    host, port = tls.host_port(lab.endpoints.sql_gateway)
    assert gateway_status(f"{host}:{port}") == {"address": f"{host}:{port}", "error": "does not answer"}
