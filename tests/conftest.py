"""Shared fixtures: tests run against the real embedded broker and real Flink."""

from __future__ import annotations

import uuid

import pytest

import labkit


@pytest.fixture(scope="session")
def lab() -> labkit.Lab:
    """The lab's cluster (started if needed), shared by the whole test session."""
    return labkit.connect(quiet=True)


@pytest.fixture
def topic(lab: labkit.Lab):
    """A fresh, uniquely named topic factory; the topics are deleted afterwards."""
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 1) -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(lab.create_topic(name, partitions=partitions))
        return name

    yield make
    lab.delete_topic(*made)
