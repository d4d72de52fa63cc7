"""Lesson 09's live fraud dashboard: transactions flow into Kafka, one Flink job runs all
three rules and writes alerts to Kafka, and the panel shows what happens while the
learner changes the rules.

Three background threads do the work so the notebook stays responsive:

* a *producer* sends labelled transactions (:class:`labkit.fraud.TransactionGenerator`)
  to ``tx_topic`` at ``event_rate`` per second of wall-clock time;
* a *watcher* reads ``alerts_topic`` (:class:`labkit.fraud.AlertWatcher`);
* a *painter* redraws the plots and the table every ``refresh`` seconds.

Changing a threshold restarts the Flink job (after ``debounce`` seconds, so dragging a
slider restarts it once): the new job re-reads the transactions topic from its first
offset - Kafka kept everything - so every plot is recomputed with the new rules. The fraud
rate and the event rate change the producer at once, without a restart.

A restart is *pending* from the moment a rule widget changes until the new generation's
job runs and has caught up: after starting it, the supervisor sends one probe pair
(a tiny then a large payment on a ``probe-`` account) into every partition and waits for
their alerts from the new generation - each proves the job has read its partition up to
that point. Probe alerts are not shown; the probes are not in ``sent``.

Drive it from code the same way the widgets do: set ``dash.large.value = 800`` and call
``dash.wait_until_current()``.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections import deque
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import fraud

if TYPE_CHECKING:
    from .lab import Lab

RULE_COLORS = {"card_testing": "#cf222e", "velocity": "#bf8700", "outlier": "#8250df"}


class Dashboard:
    """The panel: widgets for the rules and the traffic, live plots, latest alerts."""

    def __init__(
        self,
        lab: Lab,
        *,
        tx_topic: str = "l09-live-transactions",
        alerts_topic: str = "l09-live-alerts",
        seed: int = 0,
        event_rate: float = 50.0,
        fraud_rate: float = 0.03,
        rules: fraud.Rules | None = None,
        refresh: float = 1.5,
        debounce: float = 1.0,
    ) -> None:
        import ipywidgets as w

        self.lab = lab
        self.tx_topic = tx_topic
        self.alerts_topic = alerts_topic
        self.refresh = refresh
        self.debounce = debounce
        rules = rules or fraud.Rules()
        self.generator = fraud.TransactionGenerator(
            seed=seed, accounts=100, rate=2.0, fraud_rate=fraud_rate, start="now"
        )
        self.sent: dict[str, dict] = {}  # tx_id -> the transaction (for labels and the table)
        self.sent_at: dict[str, float] = {}  # tx_id -> when it was sent (epoch ms), for latency
        self._live_since = float("inf")  # when the current generation had caught up (epoch ms)
        self._sent_per_second: deque[tuple[int, int]] = deque(maxlen=120)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # when a pending rule change restarts the job; start() makes generation 1 the same way
        self._restart_due: float | None = None
        self._restarting = False  # under way: cancel the old job, start the new, probe it
        self._paused = threading.Event()  # traffic held (tests: a quiet topic to compare)
        self._held = threading.Event()  # ...and the producer has stopped, everything flushed
        self._probes: Any = None  # the producer of probe pairs
        self._probe_count = 0
        self.partitions: list[int] = []
        self._threads: list[threading.Thread] = []
        self.pipeline: fraud.LivePipeline | None = None
        self.watcher: fraud.AlertWatcher | None = None
        self.errors: list[str] = []
        self.restarts = 0

        style = {"description_width": "150px"}
        layout = w.Layout(width="420px")
        self.small = w.FloatSlider(
            value=rules.small,
            min=0.1,
            max=10.0,
            step=0.1,
            description="tiny: under",
            style=style,
            layout=layout,
        )
        self.large = w.FloatSlider(
            value=rules.large,
            min=50,
            max=2000,
            step=10,
            description="large: over",
            style=style,
            layout=layout,
        )
        self.within = w.IntSlider(
            value=int(rules.within.total_seconds()),
            min=1,
            max=300,
            description="within (s)",
            style=style,
            layout=layout,
        )
        self.velocity_n = w.IntSlider(
            value=rules.velocity_n,
            min=1,
            max=20,
            description="velocity: more than",
            style=style,
            layout=layout,
        )
        self.velocity_window = w.IntSlider(
            value=int(rules.velocity_window.total_seconds()),
            min=2,
            max=120,
            description="...in window (s)",
            style=style,
            layout=layout,
        )
        self.outlier_k = w.FloatSlider(
            value=rules.outlier_k,
            min=1.0,
            max=8.0,
            step=0.5,
            description="outlier: k std",
            style=style,
            layout=layout,
        )
        self.fraud_rate = w.FloatSlider(
            value=fraud_rate,
            min=0.0,
            max=0.2,
            step=0.005,
            readout_format=".3f",
            description="fraud rate",
            style=style,
            layout=layout,
        )
        self.event_rate = w.IntSlider(
            value=int(event_rate), min=1, max=500, description="events / s (sent)", style=style, layout=layout
        )
        self.status = w.HTML("<i>not started</i>")
        self.plot = w.Image(format="png", layout=w.Layout(width="100%"))
        self.table = w.HTML()
        for slider in self.rule_widgets:
            slider.observe(self._on_rule_change, names="value")
        self.fraud_rate.observe(self._on_fraud_rate, names="value")
        rule_box = w.VBox([w.HTML("<b>Rules</b> (a change restarts the Flink job)"), *self.rule_widgets])
        traffic_box = w.VBox([w.HTML("<b>Traffic</b> (applied at once)"), self.fraud_rate, self.event_rate])
        self.ui = w.VBox([w.HBox([rule_box, traffic_box]), self.status, self.plot, self.table])

    # --- the widgets' callbacks ----------------------------------------------------------

    @property
    def rule_widgets(self) -> list:
        return [self.small, self.large, self.within, self.velocity_n, self.velocity_window, self.outlier_k]

    def rules(self) -> fraud.Rules:
        """The rules the widgets show now."""
        return fraud.Rules(
            small=self.small.value,
            large=self.large.value,
            within=timedelta(seconds=self.within.value),
            velocity_n=self.velocity_n.value,
            velocity_window=timedelta(seconds=self.velocity_window.value),
            outlier_k=self.outlier_k.value,
        )

    def _on_rule_change(self, change: dict) -> None:
        with self._lock:
            self._restart_due = time.monotonic() + self.debounce
        self.status.value = "<i>rules changed: restarting the Flink job...</i>"

    def _on_fraud_rate(self, change: dict) -> None:
        self.generator.fraud_rate = float(change["new"])

    # --- running -------------------------------------------------------------------------

    def start(self) -> Dashboard:
        """Fresh topics and the three threads; the supervisor starts the Flink job
        (generation 1) at once, as if a rule had changed - `wait_until_current` waits for it."""
        future_ok = fraud.FUTURE_TIMESTAMPS_OK  # event time runs ahead of the clock
        self.lab.create_topic(self.tx_topic, partitions=3, replace=True, config=future_ok)
        self.lab.create_topic(self.alerts_topic, partitions=1, replace=True, config=future_ok)
        self.partitions = self.lab.partitions(self.tx_topic)
        self.pipeline = fraud.LivePipeline(self.lab, self.tx_topic, self.alerts_topic, self.rules())
        self.watcher = fraud.AlertWatcher(self.lab, self.alerts_topic)
        self._probes = self.lab.producer(linger_ms=0, acks=1)
        with self._lock:
            self._restart_due = time.monotonic()
        self._stop.clear()
        for target, name in ((self._produce, "producer"), (self._supervise, "painter")):
            thread = threading.Thread(target=target, name=f"l09 {name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _produce(self) -> None:
        producer = self.lab.producer(linger_ms=5, acks=1)
        try:
            begin, sent = time.monotonic(), 0
            rate = self.event_rate.value
            payments = iter(self.generator)
            while not self._stop.is_set():
                if self._paused.is_set():  # held before taking the next payment: nothing waits
                    producer.flush()
                    self._held.set()  # only once all it sent is in Kafka
                    self._stop.wait(0.05)
                    begin, sent = time.monotonic(), 0
                    continue
                self._held.clear()
                tx = next(payments)
                if self.event_rate.value != rate:  # a new pace starts counting afresh
                    begin, sent, rate = time.monotonic(), 0, self.event_rate.value
                due = begin + sent / max(rate, 1)
                delay = due - time.monotonic()
                if delay > 0:
                    producer.flush()
                    self._stop.wait(delay)
                future = producer.send(
                    self.tx_topic, key=tx["account_id"], value=tx, timestamp_ms=tx["timestamp"]
                )
                future.add_errback(lambda exc: self.errors.append(f"producer: {exc!r}"))
                sent += 1
                second = int(time.time())
                with self._lock:
                    self.sent[tx["tx_id"]] = tx
                    self.sent_at[tx["tx_id"]] = time.time() * 1000
                    if self._sent_per_second and self._sent_per_second[-1][0] == second:
                        self._sent_per_second[-1] = (second, self._sent_per_second[-1][1] + 1)
                    else:
                        self._sent_per_second.append((second, 1))
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.errors.append(f"producer: {exc!r}")
        finally:
            producer.close(timeout=5)

    def _supervise(self) -> None:
        """Restart the job when the rules changed; redraw every ``refresh`` s."""
        last_paint = 0.0
        while not self._stop.is_set():
            with self._lock:
                due = self._restart_due is not None and time.monotonic() >= self._restart_due
                if due:  # from pending to under way in one step: never seen as neither
                    self._restart_due, self._restarting = None, True
            if due:
                try:
                    self.restart()
                finally:
                    with self._lock:
                        self._restarting = False
            if time.monotonic() - last_paint >= self.refresh:
                try:
                    self.paint()
                except Exception as exc:  # noqa: BLE001 - never kill the panel
                    self.errors.append(f"paint: {exc!r}")
                last_paint = time.monotonic()
            self._stop.wait(0.1)

    def restart(self) -> None:
        """Restart the Flink job with the rules the widgets show (what a change does),
        and return once the new generation runs and has caught up (see `probe`)."""
        assert self.pipeline is not None
        try:
            first = self.pipeline.job is None and self.pipeline.generation == 0
            self.pipeline.start(self.rules())  # generation += 1 before the old job is cancelled
            if not first:
                self.restarts += 1
            self._live_since = float("inf")
            if self.probe():
                self._live_since = time.time() * 1000
            else:
                self.errors.append(
                    f"restart: generation {self.generation} did not catch up within 120 s "
                    f"({self.pipeline.job!r})"
                )
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.errors.append(f"restart: {exc!r}")

    def probe(self, timeout: float = 120.0) -> bool:
        """Send a probe pair into every partition and wait for the current generation's
        alert on each: then the job runs and has read everything sent before the probes.
        True if all came back within ``timeout`` s."""
        assert self.pipeline is not None and self.watcher is not None
        gen, rules = self.generation, self.pipeline.rules
        self._probe_count += 1
        ts = int(self.generator.t)  # the newest event time: nothing is late after it
        expected = set()
        for p in self.partitions:
            account = f"probe-g{gen}-{self._probe_count}-p{p}"
            expected.add(account)
            for tx in fraud.marker_pair(account, ts):
                tx["amount"] = rules.small / 2 if tx["amount"] < 1 else rules.large + 1
                self._probes.send(
                    self.tx_topic, key=account, value=tx, partition=p, timestamp_ms=tx["timestamp"]
                )
        self._probes.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            seen = {a["account_id"] for a, _ in list(self.watcher.alerts) if a.get("generation") == gen}
            if expected <= seen:
                return True
            time.sleep(0.05)
        return False

    def pause_traffic(self, timeout: float = 30.0) -> None:
        """Hold the producer and return once it has stopped with everything sent (the
        widgets keep working); `resume_traffic` lets it go on."""
        self._paused.set()
        if not self._held.wait(timeout):
            raise TimeoutError(f"the producer did not stop within {timeout:.0f} s: {self.errors}")

    def resume_traffic(self) -> None:
        self._held.clear()  # first: a pause right after this waits for the producer again
        self._paused.clear()

    def measure(self, n: int = 2000, timeout: float = 120.0) -> dict[str, Any]:
        """Throughput and alert latency of the running job, measured now.

        * latency: for each card-testing alert of the current generation on a payment sent
          after it caught up, from sending the large payment to reading the alert;
        * throughput: traffic held, ``n`` payments sent as fast as the producer can, then
          a probe pair per partition: ``n`` / (first send -> last probe alert read).
        """
        assert self.watcher is not None
        gen, live_since = self.generation, self._live_since
        latencies = [
            got - self.sent_at[a["tx_ids"][-1]]
            for a, got in list(self.watcher.alerts)
            if a.get("generation") == gen
            and a.get("rule") == "card_testing"
            and self.sent_at.get(a["tx_ids"][-1], 0) > live_since
        ]
        self.pause_traffic()
        try:
            burst = list(self.generator.take(n))
            producer = self.lab.producer(linger_ms=5, acks=1)
            t0 = time.time()
            for tx in burst:
                producer.send(self.tx_topic, key=tx["account_id"], value=tx, timestamp_ms=tx["timestamp"])
            producer.flush()
            producer.close(timeout=5)
            with self._lock:
                self.sent.update((tx["tx_id"], tx) for tx in burst)
            if not self.probe(timeout):
                raise TimeoutError(f"the job did not read the {n} payments within {timeout:.0f} s")
            seconds = time.time() - t0
        finally:
            self.resume_traffic()
        lat = pd.Series(latencies, dtype=float)
        return {
            "transactions": n,
            "throughput_tx_per_s": round(n / seconds, 1),
            "latency_alerts": len(lat),
            "latency_ms_p50": round(float(lat.median()), 1) if len(lat) else None,
            "latency_ms_p95": round(float(lat.quantile(0.95)), 1) if len(lat) else None,
        }

    def stop(self) -> None:
        """Stop the threads and the Flink job (topics stay, for a look afterwards)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self._probes is not None:
            self._probes.close(timeout=5)
            self._probes = None
        self.status.value = "<i>stopped</i>"

    # --- what the panel shows --------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self.pipeline.generation if self.pipeline else 0

    def alerts(self) -> pd.DataFrame:
        """The current job's alerts (older jobs' alerts stay in Kafka, but not on screen)."""
        gen = self.generation
        rows = [
            a
            for a, _ in list(self.watcher.alerts if self.watcher else [])
            if a.get("generation") == gen and not str(a.get("account_id")).startswith("probe-")
        ]
        return fraud.common_alerts_frame(rows)

    def transactions(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(list(self.sent.values()))

    def scores(self) -> pd.DataFrame:
        """Precision and recall of each rule so far, against the generator's labels.
        Only transactions the job has had time to see are counted (up to the newest
        event time in its alerts)."""
        txs, alerts = self.transactions(), self.alerts()
        if txs.empty:
            return fraud.evaluate(alerts, pd.DataFrame(columns=["tx_id", "label", "episode"]))
        if len(alerts):
            horizon = alerts["event_time"].max() - pd.Timedelta(minutes=1)
            txs = txs[pd.to_datetime(txs["timestamp"], unit="ms", utc=True) <= horizon]
            alerts = alerts[alerts["event_time"] <= horizon]
        return fraud.evaluate(alerts, txs)

    @property
    def pending(self) -> bool:
        """A rule change not yet live: a restart is due, or under way until the new
        generation runs and has caught up."""
        with self._lock:
            return self._restart_due is not None or self._restarting

    def wait_until_current(self, min_alerts: int = 1, timeout: float = 90.0) -> bool:
        """Block until no restart is pending or under way (the job running the current rules
        runs and has caught up) and it has raised ``min_alerts`` alerts; True if that
        happened within ``timeout`` s."""
        return self.wait_until(lambda alerts: len(alerts) >= min_alerts, timeout)

    def wait_until(self, condition, timeout: float = 60.0) -> bool:
        """Block until ``condition(alerts)`` holds for the current job's alerts (see
        `alerts`) with no restart pending; True if that happened within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pending and condition(self.alerts()):
                return True
            time.sleep(0.1)
        return False

    def paint(self) -> None:
        alerts = self.alerts()
        with self._lock:
            per_second = list(self._sent_per_second)
            total = len(self.sent)
        job = self.pipeline.job if self.pipeline else None
        state = job.status if job else "no job"
        errors = f" <span style='color:#cf222e'>{html.escape(self.errors[-1])}</span>" if self.errors else ""
        self.status.value = (
            f"Flink job <b>generation {self.generation}</b>: {state} &middot; {total} transactions sent "
            f"&middot; {len(alerts)} alerts from this job{errors}"
        )
        self.plot.value = self._figure_png(per_second, alerts, self.scores())
        self.table.value = self._table_html(alerts.tail(8).iloc[::-1])

    def _figure_png(
        self, per_second: list[tuple[int, int]], alerts: pd.DataFrame, scores: pd.DataFrame
    ) -> bytes:
        from matplotlib.dates import DateFormatter
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 3.2), dpi=80)
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
                ax2.step(t, range(1, len(t) + 1), where="post", color=color, label=rule)
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
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _table_html(self, latest: pd.DataFrame) -> str:
        if latest.empty:
            return "<i>no alerts yet</i>"
        with self._lock:
            sent = dict(self.sent)
        rows = []
        for a in latest.to_dict("records"):
            txs = [sent.get(t) for t in a["tx_ids"]]
            caused = ", ".join(
                f"{t['tx_id']} {t['amount']:.2f} at {pd.Timestamp(t['timestamp'], unit='ms'):%H:%M:%S}"
                f"{' [' + t['label'] + ']' if t.get('label') else ''}"
                for t in txs[:4]
                if t
            ) + (" ..." if len(txs) > 4 else "")
            color = RULE_COLORS.get(a["rule"], "#000")
            rows.append(
                f"<tr><td style='color:{color}'><b>{a['rule']}</b></td><td>{a['account_id']}</td>"
                f"<td>{a['event_time']:%H:%M:%S}</td><td>{html.escape(str(a['detail']))}</td>"
                f"<td>{html.escape(caused)}</td></tr>"
            )
        head = "<tr><th>rule</th><th>account</th><th>event time</th><th>why</th><th>caused by</th></tr>"
        return f"<b>Latest alerts</b><table>{head}{''.join(rows)}</table>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.ui)

    def __repr__(self) -> str:
        return f"<fraud Dashboard generation {self.generation}, {len(self.sent)} sent>"


def dashboard(lab: Lab, **kwargs: Any) -> Dashboard:
    """Build and start the panel (display it by leaving it last in a cell)."""
    return Dashboard(lab, **kwargs).start()
