"""Two "machines" on one host for the join tests: network namespaces this test run makes,
joined by a veth pair with private addresses, each with a LABKIT_HOME of its own; nothing
else on the host is used. Root only (`needs_root`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from privatelab import LABKIT, PrivateLab

#: The tests that make namespaces: skipped where that cannot be done.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="network namespaces need root and iproute2's `ip` (`ip netns add`)",
)

#: Run first in each namespace: the minimal lab state labkit records processes in (as
#: tests/privatelab.py's `secured_home`), registered so that a killed run's processes are
#: stopped by `labkit down --all`.
PRELUDE = """
import json, sys
from labkit.runtime.state import Endpoints, State, owner_pid, register_home
if State.load() is None:
    State(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"), owner_pid=owner_pid()).save()
    register_home()
"""

#: Run in a namespace with pids as arguments: every (address, port) they and their children
#: listen on, as JSON.
LISTENERS = """
import ipaddress, psutil

def plain(ip):  # Java's sockets are IPv6 ones: 10.77.24.2 shows as ::ffff:10.77.24.2
    addr = ipaddress.ip_address(ip)
    return str(getattr(addr, "ipv4_mapped", None) or addr)

found = set()
for pid in sys.argv[1:]:
    proc = psutil.Process(int(pid))
    for p in [proc, *proc.children(recursive=True)]:
        conns = p.net_connections("inet")
        found |= {(plain(c.laddr.ip), c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
print(json.dumps(sorted(found)))
"""


@dataclass
class Machine:
    """A network namespace with an address and a LABKIT_HOME of its own."""

    ns: str
    ip: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def lab(self) -> PrivateLab:
        return PrivateLab(self.home, **self.env)

    def _in_ns(self, *command: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *command],
            env=self.lab.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def python(self, code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """``code`` (after `PRELUDE`) in a Python process inside this machine's namespace."""
        return self._in_ns(sys.executable, "-c", PRELUDE + code, *args, timeout=timeout)

    def run(self, code: str, *args: str, timeout: float = 240) -> object:
        """`python`, which must succeed; what its last line of output says (JSON)."""
        done = self.python(code, *args, timeout=timeout)
        assert done.returncode == 0, f"in {self.ns}:\n{done.stdout}\n{done.stderr[-4000:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    def cli(self, *args: str, timeout: float = 240) -> str:
        """``labkit ARGS`` inside this machine's namespace, which must succeed; its output."""
        done = self._in_ns(*LABKIT, *args, timeout=timeout)
        assert done.returncode == 0, (
            f"labkit {' '.join(args)} in {self.ns}:\n{done.stdout}\n{done.stderr[-4000:]}"
        )
        return done.stdout


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"


M = TypeVar("M", bound=Machine)


@contextmanager
def two_machines(kind: type[M], name: str, a_ip: str, b_ip: str) -> Iterator[tuple[M, M]]:
    """Two namespaces (``kind`` machines, names from ``name`` and unique to this run) linked by
    a veth pair, ``a_ip`` and ``b_ip`` on it, ``lo`` up in each; at the end `labkit down` in
    each home, nothing of either left running, and both namespaces (and with them the veth
    pair) deleted, even if a test failed."""
    tag = uuid.uuid4().hex[:6]
    a = kind(f"{name}-{tag}-a", a_ip, Path(tempfile.mkdtemp(prefix=f"labkit-{name}-a-")))
    b = kind(f"{name}-{tag}-b", b_ip, Path(tempfile.mkdtemp(prefix=f"labkit-{name}-b-")))
    made: list[str] = []
    try:
        for m in (a, b):
            ip("netns", "add", m.ns)
            made.append(m.ns)
        ip("link", "add", f"{name}{tag}a", "type", "veth", "peer", "name", f"{name}{tag}b")
        for m, veth in ((a, f"{name}{tag}a"), (b, f"{name}{tag}b")):
            ip("link", "set", veth, "netns", m.ns)
            ip("-n", m.ns, "addr", "add", f"{m.ip}/24", "dev", veth)
            ip("-n", m.ns, "link", "set", veth, "up")
            ip("-n", m.ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        left: list[str] = []
        for m in (b, a):
            if m.ns in made:
                m.python("from labkit.runtime import lifecycle\nlifecycle.down(quiet=True)", timeout=120)
            left += m.lab.leftovers(timeout=20)
            for proc in m.lab.processes():
                proc.kill()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        shutil.rmtree(a.home, ignore_errors=True)
        shutil.rmtree(b.home, ignore_errors=True)
        assert left == [], f"`labkit down` left processes running: {left}"
