"""labkit's functions on a TaskManager, the way the Flink image makes them work: a private Flink
cluster (labkit.runtime.flink_proc) runs lesson 09's rules on a TaskManager whose Python finds
labkit only the way the image installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from compose_files import ROOT

from labkit import fraud
from labkit.lab import Lab
from labkit.runtime import flink_proc
from labkit.runtime.jvm import find_java
from labkit.runtime.net import PortLost, free_port
from labkit.runtime.processes import record, stop_all
from labkit.runtime.state import Endpoints

# --- labkit's functions on a TaskManager, the way the image makes them work ------------


@pytest.fixture
def python_without_labkit(tmp_path) -> Path:
    """A Python like the image's before labkit is installed: a virtualenv that sees the
    lab's packages (PyFlink, pandas, ...) through a .pth line, but not labkit (the lab's
    editable install is a .pth hook of its own, which a plain path line does not run)."""
    venv = tmp_path / "tm-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    lab_paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages(python) / "lab-packages.pth").write_text("".join(f"{p}\n" for p in sorted(lab_paths)))
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = subprocess.run(
        [str(python), "-c", "import pyflink, labkit"], cwd=tmp_path, env=clean, capture_output=True, text=True
    )
    assert "No module named 'labkit'" in check.stderr, check.stderr  # pyflink was found, labkit not
    return python


def install_labkit_like_the_image(python: Path) -> None:
    """What the Dockerfile's `pip install --no-deps .` leaves: the labkit package (with its
    package data) in that Python's site-packages. Copied: no wheel can be built offline here."""
    target = site_packages(python) / "labkit"
    shutil.copytree(ROOT / "labkit", target, ignore=shutil.ignore_patterns("__pycache__"))


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([str(python), "-c", code], text=True, timeout=60).strip())


@pytest.fixture
def private_flink(tmp_path, monkeypatch, python_without_labkit):
    """A private Flink session cluster from labkit.runtime.flink_proc (own LABKIT_HOME),
    whose python.executable is `python_without_labkit`, as the image's is /opt/pyflink/bin/python.
    Yields (REST address, that Python); stops both processes whatever happens."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the workers must not find labkit that way
    local_config = flink_proc.config
    monkeypatch.setattr(
        flink_proc,
        "config",
        lambda ports: {**local_config(ports), "python.executable": str(python_without_labkit)},
    )
    java = find_java()
    started: list[dict] = []
    try:
        for attempt in range(3):
            ports = flink_proc.plan(free_port(), set())  # a random port: nobody races for it
            procs = flink_proc.start(java.home, ports)
            started += [record(p) for p in procs.values()]
            try:
                flink_proc.wait_ready(ports.rest_address, procs)
                break
            except PortLost:  # another program took a port between choosing and binding
                if attempt == 2:
                    raise
                stop_all(started)
                started.clear()
        yield ports.rest_address, python_without_labkit
    finally:
        stop_all(started)  # harmless for a process that already exited


T0 = 1767268800000  # 2026-01-01 12:00 UTC


def run_lesson09_rules(lab: Lab) -> list[dict]:
    """Lesson 09's three rules (labkit.fraud.rules_stream) on two payments of one account, a
    tiny one then a large one 20 s later: one card-testing alert. The job's functions include
    labkit.fraud.parse and the card-testing alert's builder, which travel to the TaskManager by name."""
    from pyflink.common import Configuration, Types, WatermarkStrategy

    env = lab.stream_env()
    env.configure(Configuration().set_string("restart-strategy.type", "none"))  # fail fast, with the cause
    txs = [
        {"account_id": "alice", "amount": 0.5, "ts": T0},
        {"account_id": "alice", "amount": 750.0, "ts": T0 + 20_000},
    ]
    stream = (
        env.from_collection([json.dumps(tx) for tx in txs], type_info=Types.STRING())
        .map(fraud.parse, output_type=Types.PICKLED_BYTE_ARRAY())
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(fraud.event_time())
        )
    )
    with fraud.rules_stream(stream, fraud.Rules()).execute_and_collect("compose parity: l09 rules") as rows:
        return list(rows)


def test_labkit_functions_run_on_a_taskmanager_whose_python_has_labkit_installed(private_flink):
    """The review's finding, reproduced and fixed on a real TaskManager: with a TaskManager
    Python that has PyFlink but not labkit, lesson 09's job fails with "No module named
    'labkit'"; with labkit installed in that Python, as the Dockerfile installs it, the same
    job runs there and returns the alert computed by labkit's function."""
    from py4j.protocol import Py4JJavaError

    rest, python = private_flink
    lab = Lab(Endpoints("local", "127.0.0.1:1", "127.0.0.1:1", rest, str(python)))
    assert lab.flink_config()["python.executable"] == str(python)  # jobs name that Python too

    with pytest.raises(Py4JJavaError) as failed:
        run_lesson09_rules(lab)
    assert "No module named 'labkit'" in str(failed.value)

    install_labkit_like_the_image(python)
    (alert,) = run_lesson09_rules(lab)
    assert (alert["rule"], alert["account_id"], alert["amounts"]) == ("card_testing", "alice", [0.5, 750.0])
    assert alert["detail"] == "0.50 then 750.00 20.0 s later"  # labkit.fraud's card-testing alert
