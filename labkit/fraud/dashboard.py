"""Lesson 09's live fraud dashboard: the widgets on top of `LiveSession`.

Transactions flow into Kafka, one Flink job runs all three rules and writes alerts to
Kafka (`labkit.fraud.session` does that work), and this panel shows what happens while the
learner changes the rules: sliders for the rules (a change restarts the Flink job) and for
the traffic (applied at once, no restart), a status line, three plots drawn through
`labkit.panels.base.render` from the supervisor thread, and the latest alerts.

Drive it from code the same way the widgets do: set ``dash.large.value = 800`` and call
``dash.wait_until_current()``.
"""

from __future__ import annotations

import contextlib
import html
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..panels.base import Panel, new_figure, render
from .rules import Rules
from .session import LiveSession

if TYPE_CHECKING:
    from ..lab import Lab

RULE_COLORS = {"card_testing": "#cf222e", "velocity": "#bf8700", "outlier": "#8250df"}


class Dashboard(Panel, LiveSession):
    """The panel: widgets for the rules and the traffic, live plots, latest alerts."""

    def __init__(
        self, lab: Lab, *, event_rate: float = 50.0, rules: Rules | None = None, **session: Any
    ) -> None:
        """``event_rate`` and ``rules`` are the sliders' first values; ``session`` goes to
        `LiveSession` (topics, seed, fraud_rate, refresh, debounce: its defaults)."""
        import ipywidgets as w

        LiveSession.__init__(self, lab, **session)
        rules = rules or Rules()
        style = {"description_width": "150px"}
        layout = w.Layout(width="420px")

        def slider(kind: Any, value: float, low: float, high: float, description: str, **more: Any) -> Any:
            return kind(
                value=value, min=low, max=high, description=description, style=style, layout=layout, **more
            )

        self.small = slider(w.FloatSlider, rules.small, 0.1, 10.0, "tiny: under", step=0.1)
        self.large = slider(w.FloatSlider, rules.large, 50, 2000, "large: over", step=10)
        self.within = slider(w.IntSlider, int(rules.within.total_seconds()), 1, 300, "within (s)")
        self.velocity_n = slider(w.IntSlider, rules.velocity_n, 1, 20, "velocity: more than")
        window_s = int(rules.velocity_window.total_seconds())
        self.velocity_window = slider(w.IntSlider, window_s, 2, 120, "...in window (s)")
        self.outlier_k = slider(w.FloatSlider, rules.outlier_k, 1.0, 8.0, "outlier: k std", step=0.5)
        self.fraud_rate = slider(
            w.FloatSlider, self.generator.fraud_rate, 0.0, 0.2, "fraud rate", step=0.005, readout_format=".3f"
        )
        self.event_rate = slider(w.IntSlider, int(event_rate), 1, 500, "events / s (sent)")
        self.status = w.HTML("<i>not started</i>")
        self.plot = w.Output(layout=w.Layout(width="100%"))
        self.table = w.HTML()
        for widget in self.rule_widgets:
            widget.observe(self._on_rule_change, names="value")
        self.fraud_rate.observe(self._on_fraud_rate, names="value")
        rule_box = w.VBox([w.HTML("<b>Rules</b> (a change restarts the Flink job)"), *self.rule_widgets])
        traffic_box = w.VBox([w.HTML("<b>Traffic</b> (applied at once)"), self.fraud_rate, self.event_rate])
        self.widget = w.VBox([w.HBox([rule_box, traffic_box]), self.status, self.plot, self.table])

    # --- what LiveSession asks: the widgets' values -------------------------------------------

    @property
    def rule_widgets(self) -> list:
        return [self.small, self.large, self.within, self.velocity_n, self.velocity_window, self.outlier_k]

    def rules(self) -> Rules:
        """The rules the widgets show now."""
        return Rules(
            small=self.small.value,
            large=self.large.value,
            within=timedelta(seconds=self.within.value),
            velocity_n=self.velocity_n.value,
            velocity_window=timedelta(seconds=self.velocity_window.value),
            outlier_k=self.outlier_k.value,
        )

    def sending_rate(self) -> float:
        return float(self.event_rate.value)

    def _on_rule_change(self, change: dict) -> None:
        if not self.running:  # e.g. the browser echoing a slider after the lesson stopped it
            self.status.value = "<i>stopped</i> - the new rules run after <code>dash.start()</code>"
            return
        self.request_restart()
        self.status.value = "<i>rules changed: restarting the Flink job...</i>"

    def _on_fraud_rate(self, change: dict) -> None:
        self.generator.fraud_rate = float(change["new"])

    # --- running ---------------------------------------------------------------------------

    def start(self) -> Dashboard:
        """Fresh topics, the producer and the supervisor (see `LiveSession.start`)."""
        LiveSession.start(self)
        self.started()
        return self

    def stop(self) -> None:
        """Stop the threads and the Flink job (topics stay, for a look afterwards); the plots
        and the table show the last alerts, and the status line says it stopped."""
        LiveSession.stop(self)
        Panel.stop(self)
        with contextlib.suppress(Exception):  # a last picture; the broker may be gone already
            self.paint()
        self.status.value = f"<i>stopped</i> after generation {self.generation} &middot; " + self.status.value

    # --- what the panel shows --------------------------------------------------------------

    def paint(self) -> None:
        alerts = self.alerts()
        per_second = self.sent_per_second()
        with self._lock:
            total = len(self.sent)
        job = self.pipeline.job if self.pipeline else None
        state = job.status if job else "no job"
        errors = f" <span style='color:#cf222e'>{html.escape(self.errors[-1])}</span>" if self.errors else ""
        self.status.value = (
            f"Flink job <b>generation {self.generation}</b>: {state} &middot; {total} transactions sent "
            f"&middot; {len(alerts)} alerts from this job{errors}"
        )
        summary = f"generation {self.generation}: {len(alerts)} alerts, {total} transactions sent"
        render(self._figure(per_second, alerts, self.scores(alerts)), self.plot, summary)
        self.table.value = self._table_html(alerts.tail(8).iloc[::-1])

    def _figure(self, per_second: list[tuple[int, int]], alerts: pd.DataFrame, scores: pd.DataFrame) -> Any:
        from matplotlib.dates import DateFormatter

        fig = new_figure(12, 3.2)
        ax1, ax2, ax3 = fig.subplots(1, 3)
        now = int(time.time())
        xs = [s - now for s, _ in per_second if s < now]  # the current second is still filling
        ax1.plot(xs, [n for s, n in per_second if s < now], color="#0969da")
        ax1.set_title("transactions / s into Kafka")
        ax1.set_xlabel("seconds ago")
        for rule, color in RULE_COLORS.items():
            mine = alerts[alerts["rule"] == rule] if len(alerts) else alerts
            if len(mine):
                t = mine["event_time"].sort_values()
                # a marker per alert: a rule with one alert is a dot, not an invisible line
                counts = range(1, len(t) + 1)
                ax2.step(t, counts, where="post", color=color, label=rule, marker="o", markersize=3)
        ax2.set_title(f"alerts per rule (job generation {self.generation})")
        ax2.set_xlabel("event time (UTC)")
        ax2.xaxis.set_major_formatter(DateFormatter("%H:%M"))
        ax2.tick_params(axis="x", labelrotation=30, labelsize=7)
        if len(alerts):
            ax2.legend(fontsize=8, loc="upper left")
        rules = list(RULE_COLORS)
        pos = range(len(rules))
        ax3.bar([p - 0.2 for p in pos], scores["precision"].fillna(0), width=0.4, label="precision")
        ax3.bar([p + 0.2 for p in pos], scores["recall"].fillna(0), width=0.4, label="recall")
        ax3.set_xticks(list(pos), rules, fontsize=8)
        ax3.set_ylim(0, 1.05)
        ax3.set_title("vs the generator's labels")
        ax3.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        return fig

    def _table_html(self, latest: pd.DataFrame) -> str:
        if latest.empty:
            return "<i>no alerts yet</i>"
        records = latest.to_dict("records")
        with self._lock:  # only the transactions the table names (4 per alert), not all of them
            sent = {t: self.sent.get(t) for a in records for t in a["tx_ids"][:4]}
        rows = []
        for a in records:
            txs = [sent[t] for t in a["tx_ids"][:4]]
            caused = ", ".join(
                f"{t['tx_id']} {t['amount']:.2f} at {pd.Timestamp(t['timestamp'], unit='ms'):%H:%M:%S}"
                f"{' [' + t['label'] + ']' if t.get('label') else ''}"
                for t in txs
                if t
            ) + (" ..." if len(a["tx_ids"]) > 4 else "")
            color = RULE_COLORS.get(a["rule"], "#000")
            rows.append(
                f"<tr><td style='color:{color}'><b>{a['rule']}</b></td><td>{a['account_id']}</td>"
                f"<td>{a['event_time']:%H:%M:%S}</td><td>{html.escape(str(a['detail']))}</td>"
                f"<td>{html.escape(caused)}</td></tr>"
            )
        head = "<tr><th>rule</th><th>account</th><th>event time</th><th>why</th><th>caused by</th></tr>"
        return f"<b>Latest alerts</b><table>{head}{''.join(rows)}</table>"

    def __repr__(self) -> str:
        return f"<fraud Dashboard generation {self.generation}, {len(self.sent)} sent>"


def dashboard(lab: Lab, **kwargs: Any) -> Dashboard:
    """Build and start the panel (display it by leaving it last in a cell)."""
    return Dashboard(lab, **kwargs).start()
