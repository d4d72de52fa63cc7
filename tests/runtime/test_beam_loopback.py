"""The lab's Beam ServerFactory (labkit/runtime/beam_loopback.py): compiled against the
flink-python jar the lab runs, and loaded by the suite's TaskManager before flink-python's
own. That its servers listen on loopback only is tests/runtime/test_security.py's job."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import psutil
import pyflink

from labkit import paths
from labkit.runtime import beam_loopback


def flink_python_jar() -> Path:
    (jar,) = (Path(pyflink.__file__).parent / "opt").glob("flink-python-*.jar")
    return jar


def test_the_jar_holds_the_replacement_class_and_nothing_else():
    with zipfile.ZipFile(beam_loopback.jar(flink_python_jar())) as z:
        names = set(z.namelist())
    assert "org/apache/beam/sdk/fn/server/ServerFactory.class" in names
    assert all(n.startswith("org/apache/beam/sdk/fn/server/ServerFactory") for n in names), names


def test_the_taskmanager_loads_it_before_flink_python(lab):
    pid = json.loads(paths.state_file().read_text())["processes"]["flink-taskmanager"]["pid"]
    args = psutil.Process(pid).cmdline()
    classpath = args[args.index("-classpath") + 1].split(":")
    names = [Path(p).name for p in classpath]
    flink_python = flink_python_jar().name
    assert beam_loopback.JAR_NAME in names, names
    assert names.index(beam_loopback.JAR_NAME) < names.index(flink_python), names
