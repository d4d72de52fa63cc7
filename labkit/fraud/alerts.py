"""Lesson 09's alerts: their two table shapes, how they are scored, and reading them live.

* rule 1's own table (`ALERT_COLUMNS`, `alerts_frame`, `same_alerts`): what `detect`
  returns, one row per small-then-large pair, with positions in the input;
* the common shape of every rule (`COMMON_COLUMNS`, `common_alerts_frame`;
  `card_testing_alert` and `as_common` turn rule 1's pairs into it): what `replay`, the
  live jobs and the dashboard use;
* `evaluate`: precision and recall of each rule against the generator's labels;
* `AlertWatcher`: a thread reading an alerts topic from its beginning.

No PyFlink here; `card_testing_alert` runs inside Flink jobs (by name, on the TaskManager).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import LabError
from ..kafka import closing
from ..waiting import wait_for

if TYPE_CHECKING:
    from ..lab import Lab

ALERT_COLUMNS = [
    "account_id",
    "small_amount",
    "small_time",
    "large_amount",
    "large_time",
    "small_row",
    "large_row",
]

COMMON_COLUMNS = [
    "rule",
    "account_id",
    "event_time",
    "tx_ids",
    "amounts",
    "detail",
    "generation",
    "detected_at",
]

#: Which generator label each rule is meant to catch (for recall).
TARGET = {"card_testing": "card_testing", "velocity": "burst", "outlier": "outlier"}


# --- rule 1's table -----------------------------------------------------------------------


def alerts_frame(found: list[dict]) -> pd.DataFrame:
    """Alerts as a DataFrame in a fixed order (by large_time, then account)."""
    df = pd.DataFrame(found, columns=[*ALERT_COLUMNS, "small_tx_id", "large_tx_id", "small_ts", "large_ts"])
    df["small_time"] = pd.to_datetime(df["small_ts"], unit="ms", utc=True)
    df["large_time"] = pd.to_datetime(df["large_ts"], unit="ms", utc=True)
    for col in ("small_row", "large_row"):
        df[col] = df[col].astype("Int64")
    df = df.sort_values(["large_ts", "account_id"], kind="stable").reset_index(drop=True)
    cols = list(ALERT_COLUMNS)
    if df["large_tx_id"].notna().any():
        cols += ["small_tx_id", "large_tx_id"]
    return df[cols]


def same_alerts(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two alert tables hold the same alerts (order and extra columns ignored)."""
    key = ["account_id", "small_row", "large_row", "small_amount", "large_amount", "small_time", "large_time"]
    left = a[key].sort_values(key).reset_index(drop=True)
    right = b[key].sort_values(key).reset_index(drop=True)
    return left.equals(right)


# --- every rule's table ---------------------------------------------------------------------


def card_testing_alert(a: dict) -> dict:
    """One rule-1 pair (small_* and large_* fields) as an alert in the common shape."""
    return {
        "rule": "card_testing",
        "account_id": a["account_id"],
        "tx_ids": [a.get("small_tx_id"), a.get("large_tx_id")],
        "amounts": [a["small_amount"], a["large_amount"]],
        "event_ts": a["large_ts"],
        "detail": f"{a['small_amount']:.2f} then {a['large_amount']:.2f} "
        f"{(a['large_ts'] - a['small_ts']) / 1000:.1f} s later",
    }


def common_alerts_frame(alerts: list[dict]) -> pd.DataFrame:
    """Alerts of any rule as one table, ordered by event time."""
    df = pd.DataFrame(alerts, columns=[*COMMON_COLUMNS, "event_ts"])
    df["event_time"] = pd.to_datetime(df["event_ts"], unit="ms", utc=True)
    df = df.sort_values(["event_ts", "rule", "account_id"], kind="stable").reset_index(drop=True)
    return df[COMMON_COLUMNS]


def as_common(rule1_alerts: pd.DataFrame) -> pd.DataFrame:
    """detect()'s table in the common alert format (rule, account_id, tx_ids, ...)."""
    rows = []
    for a in rule1_alerts.to_dict("records"):
        a = {
            **a,
            "small_ts": int(a["small_time"].timestamp() * 1000),
            "large_ts": int(a["large_time"].timestamp() * 1000),
        }
        rows.append(card_testing_alert(a))
    return common_alerts_frame(rows)


def evaluate(alerts: pd.DataFrame, transactions: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall of each rule against the generator's labels.

    An alert is *true* when one of the transactions that caused it is labelled fraud (any
    pattern). A rule's recall is the share of the episodes of *its* pattern (velocity ->
    burst) with at least one alert on one of their transactions.
    """
    label = dict(zip(transactions["tx_id"], transactions["label"], strict=True))
    episode = dict(zip(transactions["tx_id"], transactions["episode"], strict=True))
    rows = []
    for rule, target in TARGET.items():
        mine = alerts[alerts["rule"] == rule] if len(alerts) else alerts
        true = sum(any(label.get(t) for t in ids) for ids in mine["tx_ids"])
        episodes = set(transactions.loc[transactions["label"] == target, "episode"])
        caught = {episode.get(t) for ids in mine["tx_ids"] for t in ids} & episodes
        rows.append(
            {
                "rule": rule,
                "alerts": len(mine),
                "true_alerts": true,
                "precision": true / len(mine) if len(mine) else float("nan"),
                "episodes": len(episodes),
                "caught": len(caught),
                "recall": len(caught) / len(episodes) if episodes else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("rule")


def latency_figures(latencies_ms: list[float]) -> dict[str, Any]:
    """Alert latencies (ms, one per alert) as the benchmark reports them: how many, the
    median, the 95th percentile and the maximum (None without alerts)."""
    lat = pd.Series(latencies_ms, dtype=float)
    some = len(lat) > 0
    return {
        "latency_alerts": len(lat),
        "latency_ms_p50": round(float(lat.median()), 1) if some else None,
        "latency_ms_p95": round(float(lat.quantile(0.95)), 1) if some else None,
        "latency_ms_max": round(float(lat.max()), 1) if some else None,
    }


# --- reading alerts live ---------------------------------------------------------------------


class AlertWatcher:
    """A background thread reading an alerts topic from its beginning; ``alerts`` holds
    ``(alert dict, received_at epoch ms)`` pairs in arrival order."""

    def __init__(self, lab: Lab, topic: str) -> None:
        self.alerts: list[tuple[dict, int]] = []
        self._stop = threading.Event()
        self._consumer = lab.reader(topic, start="beginning", raw=True, fetch_max_wait_ms=50)
        self._thread = threading.Thread(target=self._run, name=f"alerts {topic}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._consumer.poll(100)
            except Exception:  # noqa: BLE001 - topic deleted or consumer closed while stopping
                if self._stop.is_set():
                    return
                time.sleep(0.2)
                continue
            now = int(time.time() * 1000)
            for records in batch.values():
                for r in records:
                    try:
                        self.alerts.append((json.loads(r.value), now))
                    except ValueError:
                        pass

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 60.0) -> tuple[dict, int] | None:
        """The first alert (with when it arrived) for which ``predicate`` holds, waiting up
        to ``timeout`` s for it; None if none came."""
        seen = 0

        def found() -> tuple[dict, int] | None:
            nonlocal seen
            new = self.alerts[seen:]  # a snapshot: what arrives while we look is looked at next time
            seen += len(new)
            return next((item for item in new if predicate(item[0])), None)

        try:
            return wait_for(found, "an alert", timeout, every=0.02)
        except LabError:
            return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with closing(self._consumer):
            pass
