"""A real IPython kernel for tests: what a notebook runs, driven through jupyter_client.

`kernel()` starts one on the suite's lab (its environment, minus this process's PyFlink
client settings: the kernel starts a client JVM of its own) and shuts it down as
JupyterLab's "Shut Down Kernel" does - gracefully, so the kernel's exit handlers run.
`Kernel.run` executes a cell and returns what a notebook would show.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jupyter_client.manager import KernelManager

from labkit.kernels import kernel_env


def clean_env() -> dict[str, str]:
    """The suite's environment (its lab) without this process's PyFlink client settings."""
    return kernel_env()


class Kernel:
    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 180) -> dict:
        """Execute ``code``: the reply's status and traceback, the text shown (stdout and the
        plain form of results), and each output in order (kinds, error tracebacks, HTML)."""
        outputs: list[tuple[str, dict]] = []
        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=lambda msg: outputs.append((msg["msg_type"], msg["content"]))
        )
        text = "".join(
            c["text"] if kind == "stream" else c["data"].get("text/plain", "") + "\n"
            for kind, c in outputs
            if kind in ("stream", "execute_result", "display_data")
        )
        return {
            "status": reply["content"]["status"],
            "reply": reply["content"].get("traceback"),
            "text": text,
            "kinds": [kind for kind, _ in outputs if kind in ("error", "display_data", "stream")],
            "errors": [c["traceback"] for kind, c in outputs if kind == "error"],
            "html": [
                c["data"].get("text/html", "")
                for kind, c in outputs
                if kind in ("execute_result", "display_data")
            ],
        }


@contextlib.contextmanager
def kernel() -> Iterator[Kernel]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=clean_env())
    try:
        yield Kernel(manager)
    finally:
        if manager.is_alive():  # as JupyterLab's "Shut Down Kernel" and "Restart Kernel" do
            manager.shutdown_kernel(now=False)
