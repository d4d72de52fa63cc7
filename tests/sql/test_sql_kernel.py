"""%%flink_sql in a real IPython kernel: loaded by connect(), errors without a traceback,
-o and {variables}, and no job left behind by a kernel that shut down or was killed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from jupyter_client.manager import KernelManager
from privatelab import wait_for

import labkit

SETUP = """
import labkit
lab = labkit.connect(quiet=True)
"""


def clean_env() -> dict[str, str]:
    """The suite's environment (its lab) without this process's PyFlink client settings."""
    dropped = ("JVM_ARGS", "_python_worker_execution_mode")
    return {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith(("FLINK_", "PYFLINK_"))
    }


class Kernel:
    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 180) -> dict:
        """Execute ``code``; its outputs: text (stdout + plain results), error lines, status."""
        text, errors, html = [], [], []
        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=lambda msg: collect(msg, text, errors, html)
        )
        return {"status": reply["content"]["status"], "text": "".join(text), "errors": errors, "html": html}


def collect(msg: dict, text: list, errors: list, html: list) -> None:
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        text.append(content["text"])
    elif kind in ("execute_result", "display_data"):
        text.append(content["data"].get("text/plain", "") + "\n")
        html.append(content["data"].get("text/html", ""))
    elif kind == "error":
        errors.extend(content["traceback"])


@contextlib.contextmanager
def kernel() -> Iterator[Kernel]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=clean_env())
    try:
        yield Kernel(manager)
    finally:
        if manager.is_alive():  # as JupyterLab's "Shut Down Kernel" and "Restart Kernel" do
            manager.shutdown_kernel(now=False)


def job_state(lab: labkit.Lab, jid: str) -> str:
    return {j["jid"]: j["state"] for j in lab.flink_api("jobs/overview", timeout=10)["jobs"]}[jid]


CONTINUOUS = """%%flink_sql -o live
CREATE TABLE numbers (n INT) WITH ('connector' = 'datagen', 'rows-per-second' = '{rate}');
SELECT ABS(n % 3) AS k, COUNT(*) AS c FROM numbers GROUP BY ABS(n % 3)"""


def test_the_cell_in_a_kernel_errors_variables_and_output(lab):
    with kernel() as k:
        assert k.run(SETUP)["status"] == "ok"
        bad = k.run("%%flink_sql\nSELECT nope FROM (VALUES (1)) AS t(x)")
        assert bad["status"] == "error"
        shown = "\n".join(bad["errors"])
        assert "Column 'nope' not found" in shown and "line 1, column 8" in shown
        assert (
            "Traceback" not in shown and "File " not in shown and len(bad["errors"]) == 1
        )  # no Python frames
        assert k.run("rate = 5")["status"] == "ok"
        started = k.run(CONTINUOUS)
        assert started["status"] == "ok", started
        waited = k.run("live.wait_until(lambda df: len(df) == 3, 60); print(live.status)")
        assert waited["text"].strip() == "RUNNING", waited
        jid = k.run("print(live.job_id)")["text"].strip()
        created = k.run("%%flink_sql\nSHOW CREATE TABLE numbers")["text"]
        assert "'rows-per-second' = '5'" in created  # {rate} was the notebook's rate
        bounded = k.run("%%flink_sql -o df\nSELECT x * 2 AS y FROM (VALUES (1), (2)) AS t(x)")
        assert bounded["status"] == "ok" and "y" in bounded["text"]
        assert k.run("print(sorted(df.y))")["text"].strip() == "[2, 4]"
    # the kernel shut down (as at a restart): its continuous query's job went with it
    wait_for(lambda: job_state(lab, jid) == "CANCELED", "the shut-down kernel's job to be cancelled", 60)


def test_a_killed_kernel_s_query_is_cancelled_by_the_next_connect(lab, capsys):
    with kernel() as k:
        k.run(SETUP)
        assert k.run("rate = 2")["status"] == "ok"
        assert k.run(CONTINUOUS)["status"] == "ok"
        jid = k.run("print(live.job_id)")["text"].strip()
        wait_for(lambda: job_state(lab, jid) == "RUNNING", "the query's job to run", 60)
        k.manager.signal_kernel(9)  # kill -9: nothing in the kernel runs
        wait_for(lambda: not k.manager.is_alive(), "the kernel to be gone", 30)
    assert job_state(lab, jid) == "RUNNING"
    capsys.readouterr()
    labkit.connect()  # what the next notebook does
    assert job_state(lab, jid) == "CANCELED"
    assert "kernel is gone" in capsys.readouterr().out


def test_bad_options_are_a_short_error(lab):
    with kernel() as k:
        k.run(SETUP)
        for line in ("--rows 0", "-o 1x", "--nope"):
            reply = k.run(f"%%flink_sql {line}\nSHOW TABLES")
            assert reply["status"] == "error" and len(reply["errors"]) == 1, reply
            assert reply["errors"][0].startswith("ShortError: %%flink_sql " + line), reply
