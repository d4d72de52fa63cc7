"""The status panel (`lab.health()`, `labkit.panels.status`) shows what `labkit status` shows,
and its Refresh button updates it."""

from __future__ import annotations

import labkit
from labkit.runtime.artifacts import KAFKA_VERSION


def test_health_panel_shows_kafka_flink_and_the_web_ui(lab: labkit.Lab):
    panel = lab.health()
    text = panel.view.value
    assert f"Apache Kafka {KAFKA_VERSION}" in text and "1 of 1 broker(s) up" in text
    assert "Flink 2.3.0" in text and "1 TaskManager(s)" in text
    assert f"href='http://{lab.flink_web_ui}/labkit-login?key=" in text  # a fresh login link
    for name in ("kafka-1", "flink-jobmanager", "flink-taskmanager"):
        assert name in text and " MB)" in text


def test_refresh_button_redraws_from_the_current_status(lab: labkit.Lab):
    panel = lab.health()
    panel.view.value = "stale"
    panel.refresh_button.click()
    assert "Apache Kafka" in panel.view.value
