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


class ScratchTopics(list):
    """The names of the scratch topics labkit's code made on the lab during a test."""

    def __init__(self, lab: labkit.Lab) -> None:
        super().__init__()
        self.lab = lab

    def wait_gone(self) -> None:
        """Wait until none is listed: a broker's metadata learns of a deletion a moment later."""
        from labkit.waiting import wait_for

        listed = lambda: set(self) & set(self.lab.topics())  # noqa: E731
        wait_for(lambda: not listed(), f"topics {list(self)} to be deleted", timeout=15)


@pytest.fixture
def scratch_topics(lab: labkit.Lab, monkeypatch: pytest.MonkeyPatch) -> ScratchTopics:
    """Records the scratch topics labkit's code makes on ``lab`` during the test, so the test
    asks whether *those* are gone again: the suite shares one Kafka, and another worker's
    lesson may be making topics with the same prefix at that moment."""
    made = ScratchTopics(lab)
    scratch_topic = lab.scratch_topic

    def recording(prefix: str, *args, **kwargs) -> str:
        made.append(scratch_topic(prefix, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(lab, "scratch_topic", recording)
    return made


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
