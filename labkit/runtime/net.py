"""Ports and addresses: choosing free ports, and asking whether something answers.

Every lab process listens on 127.0.0.1 only. `pick_port` chooses the ports a new process
gets; `PortLost` is what a start raises when another program took one in between (the
caller chooses again); `answers`/`listening`/`require_broker` ask who is there.
"""

from __future__ import annotations

import os
import socket

import psutil

from ..errors import BrokerUnavailable, LabError


class PortLost(LabError):
    """A process the lab started could not bind the port chosen for it: another program
    (often a second lab starting at the same moment) took it in between."""


#: What Kafka's and Flink's logs say when a port is taken.
BIND_FAILURES = ("Address already in use", "BindException")


def env_port(name: str) -> int | None:
    """The port the environment variable ``name`` asks for, None if it is unset; a clear
    error if it is not a port number."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LabError(f"{name}={raw!r} is not a port number.")
    return int(raw)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pick_port(
    wanted: int | None, preferred: int | None, taken: set[int], what: str, setting: str = ""
) -> int:
    """``wanted`` (an error if in use), else ``preferred`` or the next free port after it,
    else any free port; never one in ``taken``. ``setting`` names where ``wanted`` came from."""
    if wanted:
        if wanted in taken or not port_free(wanted):
            unset = f"unset {setting}" if setting else "ask for another port"
            raise LabError(
                f"Port {wanted} is already in use, so {what} cannot start there. Stop whatever "
                f"uses it (`labkit status`, or `ss -ltnp`), or {unset} so the lab picks a free one."
            )
        return wanted
    if preferred:
        for port in range(preferred, preferred + 20):
            if port not in taken and port_free(port):
                return port
    while True:
        port = free_port()
        if port not in taken:
            return port


def answers(address: str, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def listening(pid: int, port: int) -> bool:
    """True when process ``pid`` itself listens on ``port`` (not just anything at that
    address: another lab may answer there)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def require_broker(bootstrap_servers: str, timeout: float = 2.0) -> None:
    """Fail within seconds (not kafka-python's 30 s) when no broker answers."""
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    if not any(answers(s, timeout) for s in servers):
        raise BrokerUnavailable(
            f"No Kafka broker answers at {bootstrap_servers}. Start the lab with "
            "`labkit up` (or run `labkit.connect()` in a notebook); `labkit status` and "
            "`labkit doctor` show what is running."
        )
