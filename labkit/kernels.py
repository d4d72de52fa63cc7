"""A real notebook kernel, started from Python: what `make bench` measures in (a cell's
reply time, a live table, the CPU of open views), and what the tests drive.

`kernel_env` is the environment a new kernel gets: this process's (its lab, LABKIT_HOME)
without the settings this process's own PyFlink client set for itself (``JVM_ARGS``,
``FLINK_*``, ``PYFLINK_*``, the Python worker mode): a kernel starts a client JVM of its own,
with its own log folder. `started_kernel` starts one and shuts it down as JupyterLab's
"Shut Down Kernel" does (gracefully: the kernel's exit handlers run).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

#: Set by this process's PyFlink client for itself (besides every FLINK_* and PYFLINK_*).
CLIENT_ONLY = ("JVM_ARGS", "_python_worker_execution_mode")


def kernel_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) fit for a new kernel (see above)."""
    source = os.environ if env is None else env
    own = lambda k: k in CLIENT_ONLY or k.startswith(("FLINK_", "PYFLINK_"))  # noqa: E731
    return {k: v for k, v in source.items() if not own(k)}


@contextlib.contextmanager
def started_kernel(timeout: float = 120) -> Iterator[tuple[Any, Any]]:
    """A new python3 kernel on this process's lab, ready: yields ``(manager, client)``
    (jupyter_client's ``KernelManager`` and its started client)."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=kernel_env())
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        yield manager, client
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=False)
