"""Shared fixtures: tests run against the suite's own real Kafka and Flink cluster (see ../conftest.py)."""

from __future__ import annotations

import os

import pytest
import shared

import labkit


@pytest.fixture(scope="session", autouse=True)
def _flink_gateway_started_from_a_clean_environment():
    """Start PyFlink's JVM before any test changes the environment.

    The JVM keeps the environment it was launched with, and PyFlink's in-process Python
    workers copy it back into ``os.environ`` (beam_worker_pool_service:
    ``os.environ.update(params)``). Launched inside a test that points LABKIT_HOME or
    LABKIT_BACKEND elsewhere, it would later re-apply those values and every notebook
    kernel started after that would connect to that test's (long gone) cluster.
    """
    from pyflink.java_gateway import get_gateway

    from labkit.flink import prepare_jvm

    prepare_jvm()
    get_gateway()


@pytest.fixture(autouse=True)
def _environment_is_left_as_found():
    """A test that leaks LABKIT_* or PATH into os.environ fails (it would point later tests
    at the wrong cluster)."""
    ours = lambda: {(k, v) for k, v in os.environ.items() if k.startswith("LABKIT_") or k == "PATH"}  # noqa: E731
    before = ours()
    yield
    leaked = ours() ^ before
    assert not leaked, f"the test changed the environment: {leaked}"


@pytest.fixture(scope="session")
def lab() -> labkit.Lab:
    """The lab's cluster (started if needed), shared by the whole test session."""
    return labkit.connect(quiet=True)


@pytest.fixture
def topic(lab: labkit.Lab):
    """A fresh, uniquely named topic factory; the topics are deleted afterwards."""
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 1, **options) -> str:
        made.append(lab.scratch_topic(f"test-{prefix}", partitions, **options))
        return made[-1]

    yield make
    lab.delete_topic(*made)


class Untouchable:
    """A stand-in for the lab: any use of it fails the test (input is checked first)."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the code touched the lab ({name}) before checking its input")


@pytest.fixture
def untouchable() -> Untouchable:
    return Untouchable()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Note the last test that uses each shared resource (shared.py), once the tests to run
    and their order are final (trylast: after -k, -m and deselection)."""
    shared.plan(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a test's own teardown, stop what tests share (shared.py) if it was its last
    user: a shared private lab runs for its tests, not for the rest of the session."""
    try:
        return (yield)
    finally:
        shared.after(item, nextitem)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run cut short (-x, Ctrl-C) never reached the teardown that stops what is shared."""
    shared.after(None, None)
