"""docs/defaults.md lists every default the lab changes: a setting added to the broker's
or the Flink cluster's configuration without a line there (its real default, and which
lesson relies on it) fails here."""

from __future__ import annotations

from pathlib import Path

from labkit.runtime import flink_proc
from labkit.runtime.flink_proc import FlinkPorts

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "defaults.md").read_text()
#: The lab's configuration, not a default it changes: addresses, ports, paths, listeners.
CONFIGURATION = ("address", "bind-host", "host", ".port", "python.executable", "python.client.executable",
                 "process.roles", "listener", "controller.")  # fmt: skip


def named(key: str) -> bool:
    """The key itself, or its family written once: `` `a.b.c`, `.d` `` names ``a.b.d``."""
    if f"`{key}`" in DOC:
        return True
    parts = key.split(".")
    return any(
        f"`.{'.'.join(parts[i:])}`" in DOC and f"`{'.'.join(parts[:i])}." in DOC for i in range(1, len(parts))
    )


def test_every_broker_setting_is_in_the_defaults_page():
    path = ROOT / "labkit" / "runtime" / "kafka.properties"
    keys = [
        line.split("=", 1)[0]
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
    assert len(keys) > 10
    missing = [
        k for k in keys if not any(c in k for c in CONFIGURATION) and f"`{k}`" not in DOC and not named(k)
    ]
    assert not missing, f"docs/defaults.md does not say what these change: {missing}"


def test_every_flink_setting_is_in_the_defaults_page():
    keys = list(flink_proc.config(FlinkPorts(rest=1, rpc=2, web=3, gateway=4)))
    assert len(keys) > 20
    missing = [k for k in keys if not any(c in k for c in CONFIGURATION) and not named(k)]
    assert not missing, f"docs/defaults.md does not say what these change: {missing}"
