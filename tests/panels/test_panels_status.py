"""The status panel (`lab.health()`, `labkit.panels.status`) shows what `labkit status` shows,
and its Refresh button updates it."""

from __future__ import annotations

import labkit
from labkit.panels.base import FAIL, OK
from labkit.panels.status import status_html
from labkit.runtime.artifacts import KAFKA_VERSION
from labkit.runtime.net import free_port
from labkit.runtime.status import gateway_status


def row(dot: str, label: str) -> str:
    """The start of the panel's row for ``label`` (``dot``: OK, FAIL or none)."""
    return f"<tr><td>{dot}</td><td style='padding-right:1em'><b>{label}</b></td>"


def test_health_panel_shows_kafka_flink_and_the_web_ui(lab: labkit.Lab):
    panel = lab.health()
    text = panel.view.value
    assert f"Apache Kafka {KAFKA_VERSION}" in text and "1 of 1 broker(s) up" in text
    assert "Flink 2.3.0" in text and "1 TaskManager(s)" in text
    assert f"href='http://{lab.flink_web_ui}/labkit-login?key=" in text  # a fresh login link
    for name in ("kafka-1", "flink-jobmanager", "flink-taskmanager", "flink-sqlgateway"):
        assert name in text and " MB)" in text


def test_health_panel_shows_the_sql_gateway_with_a_green_dot(lab: labkit.Lab):
    text = lab.health().view.value
    shown = f"<td>Flink SQL Gateway 2.3.0 at {lab.endpoints.sql_gateway} (for %%flink_sql)</td></tr>"
    assert row(OK, "sql gateway") + shown in text
    assert row(OK, "kafka") in text and row(OK, "flink") in text
    assert FAIL not in text and row("", "backend") in text  # a row that is no service has no dot


def test_a_gateway_that_does_not_answer_gets_a_red_dot_and_the_fix(lab: labkit.Lab):
    down = f"https://127.0.0.1:{free_port()}"
    text = status_html({**lab.status(), "sql_gateway": gateway_status(down)})
    shown = f"<td>Flink SQL Gateway at {down} does not answer - `labkit up` restarts it</td></tr>"
    assert row(FAIL, "sql gateway") + shown in text
    assert row(OK, "kafka") in text and row(OK, "flink") in text  # only the gateway is down


def test_a_backend_without_a_gateway_shows_a_row_without_a_dot(lab: labkit.Lab):
    text = status_html({**lab.status(), "sql_gateway": None})
    assert row("", "sql gateway") + "<td>none on this backend</td></tr>" in text


def test_refresh_button_redraws_from_the_current_status(lab: labkit.Lab):
    panel = lab.health()
    panel.view.value = "stale"
    panel.refresh_button.click()
    assert "Apache Kafka" in panel.view.value
