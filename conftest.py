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
    # lesson 12 (the final project) runs on the reference solution: a learner starts from skeletons
    solution = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "lessons", "lesson_12", "solution")
    os.environ.setdefault("LABKIT_PROJECT_SOLUTION", solution)
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


#: Fixtures of something costly that several modules share (tests/shared.py): their tests
#: run on one worker, so it is started once and stopped after its last user.
SHARED_FIXTURES = {"jupyter": "browser", "page": "browser", "shared_priv": "shared_priv"}


def xdist_group(item: pytest.Item) -> str:
    """The group an item runs in under `make test`'s two workers (pytest-xdist, loadgroup):
    a notebook's cells in order on one kernel, a module's tests together (as their
    module-scoped fixtures expect), and every user of one shared resource on one worker."""
    for name in getattr(item, "fixturenames", ()):
        if name in SHARED_FIXTURES:
            return SHARED_FIXTURES[name]
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every item its xdist group (before xdist reads the marks: tryfirst). On a
    worker, the browser group - the longest by far (~10 of the suite's ~30 minutes) - is
    queued first, so the other worker runs everything else meanwhile (with
    ``--no-loadscope-reorder``, groups are handed out in this order)."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: xdist_group(item) != "browser")  # stable: the rest keep their order


_LESSON_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each notebook's time under nbval (kernel start and every cell): the run time
    `labkit.course` puts in a lesson's estimate, measured in every full run."""
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        name = os.path.basename(path).removesuffix(".ipynb")
        _LESSON_SECONDS[name] = _LESSON_SECONDS.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per lesson with its time under nbval, also written to
    .labkit/lesson-seconds.json (what `scripts/course_table.py --times` reads)."""
    if not _LESSON_SECONDS:
        return
    import json
    from pathlib import Path

    terminalreporter.section("lesson run times (nbval: kernel start + every cell)")
    for name, seconds in sorted(_LESSON_SECONDS.items()):
        terminalreporter.write_line(f"{name:40} {seconds:6.1f} s")
    out = Path(__file__).parent / ".labkit" / "lesson-seconds.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: round(v, 1) for k, v in sorted(_LESSON_SECONDS.items())}, indent=1))
