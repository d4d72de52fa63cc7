"""labkit.fraud.dashboard: the live panel driven from code, as the widgets drive it."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import timedelta

import pandas as pd

from labkit import fraud


def _multiset(alerts: pd.DataFrame) -> Counter:
    return Counter((r.rule, tuple(r.tx_ids)) for r in alerts.itertuples())


def test_dashboard_widgets_drive_the_job(lab, topic):
    """Two quick rule changes under load: one restart, pending until the new generation
    runs and has caught up; its alerts are exactly those of the new rules over everything
    in the topic - nothing lost, nothing twice."""
    from labkit.fraud.dashboard import Dashboard

    tx_topic, alerts_topic = topic("l09-tx", partitions=3), topic("l09-alerts")  # start() recreates them
    dash = Dashboard(
        lab,
        tx_topic=tx_topic,
        alerts_topic=alerts_topic,
        event_rate=100,
        fraud_rate=0.08,
        refresh=0.5,
        debounce=0.3,
    )
    assert isinstance(dash.widget, object) and not hasattr(dash, "ui")  # a Panel: displays as .widget
    try:
        dash.start()
        assert dash.pending  # generation 1 is not live until it has caught up
        assert dash.wait_until_current(min_alerts=3, timeout=120), dash.errors
        assert dash.generation == 1 and dash.restarts == 0
        # traffic widgets apply at once, without a restart
        dash.fraud_rate.value = 0.1
        assert dash.generator.fraud_rate == 0.1 and not dash.pending
        # two quick threshold changes: pending at once, then one restart with both values
        sent_before = len(dash.transactions())
        dash.large.value = 1200
        assert dash.pending
        dash.small.value = 0.6
        assert dash.wait_until_current(min_alerts=1, timeout=120), dash.errors
        assert dash.generation == 2 and dash.restarts == 1
        assert (dash.pipeline.rules.large, dash.pipeline.rules.small) == (1200, 0.6)
        card = dash.alerts().query("rule == 'card_testing'")
        assert all(small < 0.6 and large > 1200 for small, large in card["amounts"])
        # under load across the restart: then hold the traffic, let generation 2 read it all
        assert dash.wait_until(lambda _: len(dash.transactions()) > sent_before + 300, 60), dash.errors
        dash.pause_traffic()
        assert dash.probe(), dash.errors
        horizon = int(dash.generator.t)  # the probes' event time: every window before it has closed
        # the truth: the same rules over everything the topic holds, in one bounded job
        truth = fraud.replay(lab, tx_topic, dash.pipeline.rules)
        truth = truth[~truth["account_id"].str.startswith("probe-")]
        size_ms = dash.pipeline.rules.velocity_window // timedelta(milliseconds=1)

        def closed(alerts: pd.DataFrame) -> pd.DataFrame:
            ts = alerts["event_time"].astype("int64") // 1_000_000
            return alerts[(alerts["rule"] != "velocity") | (ts + size_ms < horizon - 1)]

        want = _multiset(closed(truth))
        assert sum(want.values()) > 10
        assert dash.wait_until(lambda alerts: _multiset(closed(alerts)) == want, 60), (
            _multiset(closed(dash.alerts())) - want,
            want - _multiset(closed(dash.alerts())),
        )
        # alerts on payments sent before the restart, raised by generation 2: it re-read them
        old_ids = set(dash.transactions()["tx_id"][:sent_before])
        assert any(set(ids) & old_ids for ids in dash.alerts()["tx_ids"])
        # measured on the running job: traffic held, a burst, the probes' alerts back
        dash.resume_traffic()
        figures = dash.measure(n=300)
        assert figures["throughput_tx_per_s"] > 0 and figures["transactions"] == 300
        dash.paint()
        (shown,) = dash.plot.outputs  # drawn by render(fig, target): a PNG in the Output widget
        assert base64.b64decode(shown["data"]["image/png"])[:4] == b"\x89PNG"
        assert "generation 2" in dash.status.value and "Latest alerts" in dash.table.value
        assert set(dash.scores().index) == {"card_testing", "velocity", "outlier"}
        assert not dash.errors
        # every rule with an alert is drawn with a marker per alert: one alert is a dot too
        fig = dash._figure(dash.sent_per_second(), dash.alerts(), dash.scores())  # noqa: SLF001 - the picture
        assert all(line.get_marker() == "o" for line in fig.axes[1].lines) and fig.axes[1].lines
        dash.stop()
        # stopped: the status says so with the last numbers, and a slider moved afterwards
        # (as the browser echoes one) does not claim a restart that will never happen
        assert dash.status.value.startswith("<i>stopped</i> after generation 2")
        dash.large.value = 1300
        assert not dash.pending and "stopped" in dash.status.value and "restarting" not in dash.status.value
    finally:
        dash.stop()
