"""The machinery behind lesson 09's live dashboard, without a widget: traffic into Kafka,
one restartable Flink job running every rule, and its alerts read back.

`LiveSession` runs two background threads so the notebook stays responsive:

* a *producer* sends labelled transactions (`TransactionGenerator`) to ``tx_topic`` at
  ``sending_rate()`` per second of wall-clock time (`labkit.events.paced`; a new rate
  starts a new pace);
* a *supervisor* restarts the Flink job (`LivePipeline`) when the rules changed and calls
  ``paint()`` every ``refresh`` seconds; an `AlertWatcher` reads ``alerts_topic``.

A rule change (`request_restart`) restarts the job after ``debounce`` seconds, so
dragging a slider restarts it once: the new job re-reads the transactions topic from its
first offset - Kafka kept everything - so every figure is recomputed with the new rules.

A restart is *pending* from the moment it is requested until the new generation's job
runs and has caught up: after starting it, the supervisor sends one probe pair (a tiny
then a large payment on a ``probe-`` account) into every partition and waits for their
alerts from the new generation - each proves the job has read its partition up to that
point. Probe alerts are not shown; the probes are not in ``sent``.

A subclass says what the rules and the rate are now (`rules`, `sending_rate`) and how to
show progress (`paint`): `labkit.fraud.dashboard.Dashboard` does it with widgets.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import LabError
from ..events import paced
from ..waiting import wait_for
from .alerts import AlertWatcher, common_alerts_frame, evaluate, latency_figures
from .data import FUTURE_TIMESTAMPS_OK, TransactionGenerator, marker_pair
from .jobs import LivePipeline
from .rules import Rules

if TYPE_CHECKING:
    from ..lab import Lab


class LiveSession:
    """Live traffic, the restartable job and its alerts; see the module docstring."""

    def __init__(
        self,
        lab: Lab,
        *,
        tx_topic: str = "l09-live-transactions",
        alerts_topic: str = "l09-live-alerts",
        seed: int = 0,
        fraud_rate: float = 0.03,
        refresh: float = 1.5,
        debounce: float = 1.0,
    ) -> None:
        self.lab = lab
        self.tx_topic = tx_topic
        self.alerts_topic = alerts_topic
        self.refresh = refresh
        self.debounce = debounce
        self.generator = TransactionGenerator(
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
        self.pipeline: LivePipeline | None = None
        self.watcher: AlertWatcher | None = None
        self.errors: list[str] = []
        self.restarts = 0

    # --- what a subclass provides -----------------------------------------------------------

    def rules(self) -> Rules:
        """The rules the next job runs."""
        return Rules()

    def sending_rate(self) -> float:
        """Transactions per second of wall-clock time the producer sends now."""
        return 50.0

    def paint(self) -> None:
        """Show the current state (called by the supervisor every ``refresh`` seconds)."""

    # --- running ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Started and not stopped: its threads (producer, supervisor, painter) are alive."""
        return bool(self._threads) and not self._stop.is_set()

    def request_restart(self) -> None:
        """Restart the job with `rules` once ``debounce`` seconds pass without another request."""
        with self._lock:
            self._restart_due = time.monotonic() + self.debounce

    def start(self) -> LiveSession:
        """Fresh topics and the threads; the supervisor starts the Flink job (generation
        1) at once, as if a rule had changed - `wait_until_current` waits for it."""
        future_ok = FUTURE_TIMESTAMPS_OK  # event time runs ahead of the clock
        self.lab.create_topic(self.tx_topic, partitions=3, replace=True, config=future_ok)
        self.lab.create_topic(self.alerts_topic, partitions=1, replace=True, config=future_ok)
        self.partitions = self.lab.partitions(self.tx_topic)
        self.pipeline = LivePipeline(self.lab, self.tx_topic, self.alerts_topic, self.rules())
        self.watcher = AlertWatcher(self.lab, self.alerts_topic)
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
            while not self._stop.is_set():
                if self._paused.is_set():  # held between two payments: nothing waits
                    producer.flush()
                    self._held.set()  # only once all it sent is in Kafka
                    self._stop.wait(0.05)
                    continue
                self._held.clear()
                rate = self.sending_rate()
                for tx in paced(self.generator, max(rate, 1)):  # a new pace counts afresh
                    self._send(producer, tx)
                    if self._stop.is_set() or self._paused.is_set() or self.sending_rate() != rate:
                        break
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self.errors.append(f"producer: {exc!r}")
        finally:
            producer.close(timeout=5)

    def _send(self, producer: Any, tx: dict) -> None:
        future = producer.send(self.tx_topic, key=tx["account_id"], value=tx, timestamp_ms=tx["timestamp"])
        future.add_errback(lambda exc: self.errors.append(f"producer: {exc!r}"))
        second = int(time.time())
        with self._lock:
            self.sent[tx["tx_id"]] = tx
            self.sent_at[tx["tx_id"]] = time.time() * 1000
            if self._sent_per_second and self._sent_per_second[-1][0] == second:
                self._sent_per_second[-1] = (second, self._sent_per_second[-1][1] + 1)
            else:
                self._sent_per_second.append((second, 1))

    def _supervise(self) -> None:
        """Restart the job when the rules changed; paint every ``refresh`` s."""
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
        """Restart the Flink job with the current `rules` (what a change does), and
        return once the new generation runs and has caught up (see `probe`)."""
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
            for tx in marker_pair(account, ts):
                tx["amount"] = rules.small / 2 if tx["amount"] < 1 else rules.large + 1
                self._probes.send(
                    self.tx_topic, key=account, value=tx, partition=p, timestamp_ms=tx["timestamp"]
                )
        self._probes.flush()
        watcher = self.watcher

        def all_back() -> bool:
            seen = {a["account_id"] for a, _ in list(watcher.alerts) if a.get("generation") == gen}
            return expected <= seen

        return self._wait(lambda: all_back() or self._stop.is_set(), timeout, 0.05) and all_back()

    def pause_traffic(self, timeout: float = 30.0) -> None:
        """Hold the producer and return once it has stopped with everything sent (rule
        changes keep working); `resume_traffic` lets it go on."""
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
        return {"transactions": n, "throughput_tx_per_s": round(n / seconds, 1), **latency_figures(latencies)}

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

    # --- what there is to show ------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self.pipeline.generation if self.pipeline else 0

    def sent_per_second(self) -> list[tuple[int, int]]:
        """(epoch second, transactions sent in it) for the last two minutes."""
        with self._lock:
            return list(self._sent_per_second)

    def alerts(self) -> pd.DataFrame:
        """The current job's alerts (older jobs' alerts stay in Kafka, but not on screen)."""
        gen = self.generation
        rows = [
            a
            for a, _ in list(self.watcher.alerts if self.watcher else [])
            if a.get("generation") == gen and not str(a.get("account_id")).startswith("probe-")
        ]
        return common_alerts_frame(rows)

    def transactions(self) -> pd.DataFrame:
        with self._lock:  # the producer takes it per transaction: only copy the rows here
            rows = list(self.sent.values())
        return pd.DataFrame(rows)

    def scores(self, alerts: pd.DataFrame | None = None) -> pd.DataFrame:
        """Precision and recall of each rule so far, against the generator's labels.
        Only transactions the job has had time to see are counted (up to the newest
        event time in its alerts). ``alerts``: the table `alerts` returned, if the caller
        has it already (default: ask `alerts` now)."""
        txs = self.transactions()
        if alerts is None:
            alerts = self.alerts()
        if txs.empty:
            return evaluate(alerts, pd.DataFrame(columns=["tx_id", "label", "episode"]))
        if len(alerts):
            horizon = alerts["event_time"].max() - pd.Timedelta(minutes=1)
            txs = txs[pd.to_datetime(txs["timestamp"], unit="ms", utc=True) <= horizon]
            alerts = alerts[alerts["event_time"] <= horizon]
        return evaluate(alerts, txs)

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

    def wait_until(self, condition: Callable[[pd.DataFrame], bool], timeout: float = 60.0) -> bool:
        """Block until ``condition(alerts)`` holds for the current job's alerts (see
        `alerts`) with no restart pending; True if that happened within ``timeout`` s."""
        return self._wait(lambda: not self.pending and bool(condition(self.alerts())), timeout, 0.1)

    @staticmethod
    def _wait(check: Callable[[], bool], timeout: float, every: float) -> bool:
        """Whether ``check()`` came true within ``timeout`` s (`labkit.waiting.wait_for`)."""
        try:
            return bool(wait_for(check, "the live fraud job", timeout, every))
        except LabError:
            return False
