"""`labkit doctor`: check every part the lab needs, and say how to fix what is broken.

Each check returns a `Finding` (ok, failed, or a warning, with the fix); `run` prints them
in order: Python, Java, the verified jars (the Java compiler among them), the default ports,
Kafka, Flink, Flink's SQL Gateway, and a round trip Kafka -> Flink SQL -> Kafka.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import LabError
from .lab import Lab
from .runtime import artifacts, flink_proc, gateway_proc, kafka_proc
from .runtime.jvm import JavaNotFound, find_java
from .runtime.net import port_free
from .runtime.state import State
from .runtime.status import brokers_up, status


@dataclass
class Finding:
    check: str
    ok: bool | None  # None: a warning, not a failure
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "warn"}[self.ok]
        text = f"[{mark}] {self.check}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if self.fix and self.ok is not True else "")


def check_python() -> Finding:
    v = sys.version_info
    ok = (3, 10) <= v[:2] <= (3, 12)
    return Finding(
        "python",
        ok,
        f"Python {v.major}.{v.minor}.{v.micro} at {sys.executable}",
        "PyFlink supports Python 3.10-3.12: recreate the environment with one of those "
        "(scripts/setup.sh picks one).",
    )


def check_java() -> Finding:
    try:
        java = find_java()
    except JavaNotFound as exc:
        return Finding("java", False, "no usable Java", str(exc))
    return Finding("java", True, java.describe())


def check_jars() -> Finding:
    problems = artifacts.verify()
    n = len(artifacts.locked())
    if not problems:
        return Finding(
            "jars",
            True,
            f"{n} jars match artifacts.lock (SHA-256): Kafka {artifacts.KAFKA_VERSION}, Kafka Streams, "
            f"Flink Kafka connector {artifacts.FLINK_CONNECTOR_VERSION}",
        )
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return Finding(
        "jars", False, shown, "run `labkit setup`: it fetches and verifies them (a damaged jar is replaced)."
    )


def check_ports(st: dict[str, Any]) -> Finding:
    """Kafka's and Flink's default ports: free, or used by this lab."""
    ours = {p.get("port") for p in st["processes"].values() if p.get("alive")}
    busy = [
        f"{port} ({what})"
        for port, what in ((kafka_proc.DEFAULT_PORT, "Kafka"), (flink_proc.DEFAULT_REST_PORT, "Flink Web UI"))
        if port not in ours and not port_free(port)
    ]
    if not busy:
        return Finding("ports", True, "9092 and 8081 are free or used by this lab")
    return Finding(
        "ports",
        None,
        f"taken by another program: {', '.join(busy)}; the lab uses the next free port instead",
        "fine as it is; to get them back, stop that program (`ss -ltnp` shows which)",
    )


def _running_lab() -> Lab:
    """A handle on the cluster the state file describes (without starting anything)."""
    state = State.load()
    if state is None:
        raise LabError("No lab is running: start it with `labkit up`.")
    return Lab(state.endpoints)


def check_cluster(st: dict[str, Any]) -> Finding:
    if st["backend"] is None:
        return Finding("kafka", None, "not running", "start it: `labkit up`")
    if not st["running"]:
        return Finding(
            "kafka",
            False,
            f"{st['backend']} Kafka at {st['bootstrap_servers']} does not answer",
            "`labkit up` restarts what stopped (logs: .labkit/logs/kafka-*.log)",
        )
    lab = _running_lab()
    try:
        topics = lab.topics()
    except Exception as exc:  # noqa: BLE001 - report whatever the protocol said
        return Finding(
            "kafka", False, f"answers TCP but not Kafka requests: {exc}", "`labkit down && labkit up`"
        )
    brokers, expected = brokers_up(st)
    if brokers < expected:
        return Finding(
            "kafka",
            False,
            f"{brokers} of {expected} brokers up at {st['bootstrap_servers']}",
            "`labkit up` restarts the one that stopped",
        )
    return Finding(
        "kafka",
        True,
        f"{st['backend']} at {st['bootstrap_servers']}, {brokers} broker(s), {len(topics)} topics",
    )


def check_flink(st: dict[str, Any]) -> Finding:
    flink = st.get("flink")
    if st["backend"] is None or flink is None:
        return Finding("flink", None, "not running", "start it: `labkit up`")
    if "error" in flink:
        return Finding(
            "flink",
            False,
            f"{flink['web_ui']}: {flink['error']}",
            "`labkit up` restarts it (logs: .labkit/logs/flink-*.log)",
        )
    if not flink["taskmanagers"]:
        return Finding("flink", False, "the JobManager has no TaskManager", "`labkit up` restarts it")
    return Finding(
        "flink",
        True,
        f"Flink {flink['version']}, {flink['taskmanagers']} TaskManager(s), {flink['slots_total']} slots, "
        f"Web UI {flink['web_ui']}",
    )


def check_sql_gateway(st: dict[str, Any]) -> Finding:
    """Flink's SQL Gateway answers: every ``%%flink_sql`` cell runs there (its own process,
    so it can be down while the JobManager answers)."""
    gateway = st.get("sql_gateway")
    if st["backend"] is None:
        return Finding("sql gateway", None, "not running", "start it: `labkit up`")
    if gateway is None:
        return Finding(
            "sql gateway",
            None,
            f"none on the {st['backend']} backend: %%flink_sql cells cannot run",
            "name it in LABKIT_SQL_GATEWAY=host:port, then `labkit up --backend remote` again",
        )
    if "error" in gateway:
        return Finding(
            "sql gateway",
            False,
            f"{gateway['address']} {gateway['error']}",
            f"`labkit up` restarts it (log: .labkit/logs/flink-{gateway_proc.ROLE}.log)",
        )
    return Finding("sql gateway", True, f"Flink SQL Gateway {gateway['version']} at {gateway['address']}")


def check_roundtrip(st: dict[str, Any]) -> Finding:
    """An event goes Kafka -> a Flink SQL job -> Kafka and comes back."""
    if not st["running"] or not st.get("flink") or "error" in (st.get("flink") or {}):
        return Finding("flink round trip", None, "skipped: Kafka or Flink is not running", "`labkit up`")
    lab = _running_lab()
    tag = uuid.uuid4().hex[:8]
    src, dst = f"_doctor_in_{tag}", f"_doctor_out_{tag}"
    try:
        t0 = time.monotonic()
        lab.create_topic(src)
        lab.create_topic(dst)
        lab.produce(src, [{"id": tag, "n": 41}])
        t_env = lab.table_env(streaming=False)
        lab.kafka_table(t_env, "src", "id STRING, n INT", topic=src, bounded=True)
        lab.kafka_table(t_env, "dst", "id STRING, n INT", topic=dst)
        t_env.execute_sql("INSERT INTO dst SELECT id, n + 1 FROM src").wait(120_000)
        got = lab.read(dst)
        took = time.monotonic() - t0
    except Exception as exc:  # noqa: BLE001 - the finding carries the error
        return Finding(
            "flink round trip",
            False,
            f"{type(exc).__name__}: {str(exc)[:300]}",
            "check the java and jars findings above; Flink's logs are in .labkit/logs/",
        )
    finally:
        try:
            lab.delete_topic(src, dst)
        except LabError:
            pass
    if got.empty or int(got["n"].iloc[0]) != 42:
        return Finding("flink round trip", False, f"expected n=42 back, got {got.to_dict('records')}")
    return Finding("flink round trip", True, f"Kafka -> Flink SQL -> Kafka in {took:.1f} s")


#: The checks of this machine, in order.
CHECKS: list[Callable[[], Finding]] = [check_python, check_java, check_jars]
#: Then the checks of the running lab: each gets the one `status()` that `run` takes.
LAB_CHECKS: list[Callable[[dict[str, Any]], Finding]] = [
    check_ports,
    check_cluster,
    check_flink,
    check_sql_gateway,
    check_roundtrip,
]


def run(quick: bool = False, out: Callable[[str], None] = print) -> list[Finding]:
    findings = []

    def report(finding: Finding) -> None:
        out(finding.line())
        findings.append(finding)

    for check in CHECKS:
        report(check())
    st = status()  # once: it asks Kafka, Flink's REST API and every recorded process
    for lab_check in LAB_CHECKS:
        if quick and lab_check is check_roundtrip:
            continue
        report(lab_check(st))
    return findings
