"""What is running: as plain data (`status`, behind `labkit status --json`, `labkit
doctor`, `lab.status()`) and as the lines `labkit status` and the health panel show
(`describe`).

It only asks - the state file, the processes, Kafka's metadata, Flink's REST API, its SQL
Gateway, and ``docker compose ps`` on the compose backend - and never fails: a part that
does not answer is reported as such.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

from . import artifacts, compose, flink_proc, gateway_proc, webui
from . import profile as profiles
from .net import answers
from .processes import rss_mb, tracked
from .state import Endpoints, State


def status() -> dict[str, Any]:
    """What is running, as plain data (for `labkit status` and the notebook panel)."""
    state = State.load()
    if state is None:
        return {"running": False, "backend": None, "processes": {}}
    procs = {}
    for name, info in state.processes.items():
        proc = tracked(info)
        procs[name] = {
            **{k: v for k, v in info.items() if k != "create_time"},
            "alive": proc is not None,
            "rss_mb": rss_mb(info),
        }
    out: dict[str, Any] = {
        "running": any(answers(s) for s in state.endpoints.bootstrap_servers.split(",")),
        **asdict(state.endpoints),
        "brokers_expected": state.brokers,
        "processes": procs,
        "kafka": kafka_status(state.endpoints.bootstrap_servers, state.endpoints),
        "flink": flink_status(state.endpoints.flink_rest, state.endpoints.web_ui),
        # in place of the endpoint's bare address (which it carries): whether the gateway answers
        "sql_gateway": gateway_status(state.endpoints.sql_gateway),
    }
    if state.endpoints.backend == "compose":
        out["services"] = compose.services()
    return out


def kafka_status(bootstrap: str, endpoints: Endpoints | None = None) -> dict[str, Any] | None:
    """Brokers and the active controller, as Kafka reports them; None if it does not answer.
    A lab whose ``endpoints`` name a connection profile (a Kafka that wants SASL_SSL) asks
    with the profile's TLS and login; a profile that does not work is the error, said
    without its password."""
    if not any(answers(s, 0.5) for s in bootstrap.split(",")):
        return None
    from kafka import KafkaAdminClient  # kafka-python: loaded only when a broker answers

    found = None
    try:
        found = profiles.of_endpoints(endpoints)
        login = profiles.kafka_python_options(found) if found is not None else {}
        options = {**login, "bootstrap_servers": bootstrap, "request_timeout_ms": 3000}
        with profiles.explained(found) if found is not None else contextlib.nullcontext():
            admin = KafkaAdminClient(**options, bootstrap_timeout_ms=3000)
        try:
            info = admin.describe_cluster()
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - status never fails
        return {"error": profiles.masked(f"{type(exc).__name__}: {exc}", found)}
    return {
        "version": artifacts.KAFKA_VERSION,
        "cluster_id": info.get("cluster_id"),
        "controller": info.get("controller_id"),
        "brokers": sorted(f"{b['broker_id']}@{b['host']}:{b['port']}" for b in info.get("brokers") or []),
    }


def flink_status(rest: str | None, web_ui: str | None = None) -> dict[str, Any] | None:
    """The JobManager's overview (version, TaskManagers, slots, running jobs) and a link to
    its Web UI (through the lab's front door ``web_ui``, when it has one: a login link)."""
    if not rest:
        return None
    link = webui.open_link(rest, web_ui)
    info = flink_proc.overview(rest)
    if info is None:
        return {"web_ui": link, "error": "the JobManager does not answer"}
    return {
        "web_ui": link,
        "version": info.get("flink-version"),
        "taskmanagers": info.get("taskmanagers"),
        "slots_total": info.get("slots-total"),
        "slots_available": info.get("slots-available"),
        "jobs_running": info.get("jobs-running"),
    }


def gateway_status(gateway: str | None) -> dict[str, Any] | None:
    """Flink's SQL Gateway (the ``%%flink_sql`` cell's service): its address and the Flink
    version it reports, or why not; None when the backend has none (a remote cluster that
    names no LABKIT_SQL_GATEWAY). Asked, not assumed from its process: a gateway whose JVM
    runs but whose port is lost (or a compose service still starting) runs no SQL."""
    if not gateway:
        return None
    info = gateway_proc.info(gateway)
    if info is None:
        return {"address": gateway, "error": "does not answer"}
    return {"address": gateway, "version": info.get("version")}


def brokers_up(st: dict[str, Any]) -> tuple[int, int]:
    """(brokers up, brokers expected) from `status()`. A broker whose process has
    died counts as down at once, although Kafka lists it until its session times out."""
    listed = len((st.get("kafka") or {}).get("brokers") or [])
    expected = st.get("brokers_expected") or listed
    dead = [n for n, p in st["processes"].items() if n.startswith("kafka-") and not p["alive"]]
    return min(listed, expected - len(dead)), expected


def describe(st: dict[str, Any]) -> list[str]:
    """`labkit status` as lines (the notebook health panel shows the same)."""
    lines = [f"backend:   {st['backend']}"]
    kafka = st.get("kafka")
    if not st["running"] or kafka is None:
        lines.append(f"kafka:     {st['bootstrap_servers']} NOT answering - `labkit up` restarts it")
    elif "error" in kafka:
        lines.append(f"kafka:     {st['bootstrap_servers']} answers TCP but not Kafka: {kafka['error']}")
    else:
        up, expected = brokers_up(st)
        lines.append(
            f"kafka:     Apache Kafka {kafka['version']} at {st['bootstrap_servers']}; "
            f"{up} of {expected} broker(s) up, controller {kafka['controller']}"
            + (" - a broker is DOWN: `labkit up` restarts it" if up < expected else "")
        )
    flink = st.get("flink")
    if flink is None:
        lines.append("flink:     no JobManager known")
    elif "error" in flink:
        lines.append(f"flink:     {flink['web_ui']} {flink['error']} - `labkit up` restarts it")
    else:
        lines.append(
            f"flink:     Flink {flink['version']}, Web UI {flink['web_ui']}; {flink['taskmanagers']} "
            f"TaskManager(s), {flink['slots_available']}/{flink['slots_total']} slots free, "
            f"{flink['jobs_running']} job(s) running"
            + (" - no TaskManager: `labkit up` restarts it" if not flink["taskmanagers"] else "")
        )
    gateway = st.get("sql_gateway")
    if gateway is None:
        lines.append("sql gateway: none on this backend")
    elif "error" in gateway:
        lines.append(
            f"sql gateway: Flink SQL Gateway at {gateway['address']} {gateway['error']} "
            "- `labkit up` restarts it"
        )
    else:
        lines.append(
            f"sql gateway: Flink SQL Gateway {gateway['version']} at {gateway['address']} (for %%flink_sql)"
        )
    for svc in st.get("services", []):
        health = f", {svc['Health']}" if svc.get("Health") else ""
        lines.append(f"service:   {svc.get('Service')} ({svc.get('State')}{health})")
    for name, p in st["processes"].items():
        state = f"pid {p['pid']}, {p['rss_mb']} MB" if p["alive"] else "NOT running"
        lines.append(f"process:   {name} ({state})")
    return lines
