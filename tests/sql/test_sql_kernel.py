"""%%flink_sql in a real IPython kernel: loaded by connect(), errors without a traceback,
-o and {variables}, and no job left behind by a kernel that shut down or was killed."""

from __future__ import annotations

from kernels import kernel
from privatelab import wait_for

import labkit

SETUP = """
import labkit
lab = labkit.connect(quiet=True)
"""


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
        (traceback,) = bad["errors"]
        assert len(traceback) == 1  # one line: the message, no Python frames
        shown = traceback[0]
        assert "Column 'nope' not found" in shown and "line 1, column 8" in shown
        assert "Traceback" not in shown and "File " not in shown
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
            assert reply["status"] == "error" and [len(tb) for tb in reply["errors"]] == [1], reply
            assert reply["errors"][0][0].startswith("ShortError: %%flink_sql " + line), reply
