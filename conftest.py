"""The whole suite (tests/ and every notebook under nbval) runs on a lab of its own.

This file sits at the project root so its hooks reach notebook items too (a conftest in
tests/ applies to tests/ only). At start it points LABKIT_HOME at a fresh folder: the
suite's Kafka and Flink get their own data, state and free ports, and a learner's running
lab and its topics are never touched. Notebook kernels inherit the environment, so every
lesson connects to the suite's lab. At the end the suite stops its lab and deletes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_CLEAN_ENVIRONMENT: dict[str, str] = {}
_SUITE_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    from labkit import paths

    cache = os.environ.get("LABKIT_CACHE") or str(paths.cache())  # the learner's verified jars
    home = tempfile.mkdtemp(prefix="labkit-suite-")
    _SUITE_HOME.append(home)
    os.environ.update(LABKIT_HOME=home, LABKIT_CACHE=cache, LABKIT_OWNER_PID=str(os.getpid()))
    for name in ("LABKIT_BACKEND", "LABKIT_KAFKA_PORT", "LABKIT_FLINK_PORT", "LABKIT_BROKERS"):
        os.environ.pop(name, None)
    os.environ.setdefault("MPLBACKEND", "Agg")
    _CLEAN_ENVIRONMENT.update(os.environ)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _SUITE_HOME:
        return
    from labkit.runtime import lifecycle

    os.environ["LABKIT_HOME"] = _SUITE_HOME[0]
    try:
        lifecycle.down(quiet=True)
    finally:
        shutil.rmtree(_SUITE_HOME[0], ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start every test, and every notebook kernel (nbval starts it during the first cell's
    setup, after this hook), from the environment the suite set up above.

    Except what labkit set for this process's own PyFlink client (`PYFLINK_PROCESS_ENV`):
    PyFlink reads it at every new environment, for as long as its JVM lives. Dropped, every
    later environment started a Beam worker-pool server in pytest (on every interface, never
    stopped), and in process mode the jobs' Python functions ran there, not on the cluster.
    `prepare_jvm` sets it again too; this also covers a test that builds a PyFlink
    environment itself. A kernel inheriting it sets the same anyway.
    """
    from labkit.flink.client import PYFLINK_PROCESS_ENV

    kept = {k: os.environ[k] for k in PYFLINK_PROCESS_ENV if k in os.environ}
    os.environ.clear()
    os.environ.update(_CLEAN_ENVIRONMENT)
    os.environ.update(kept)
