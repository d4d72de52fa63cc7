"""Fixtures of the lesson exercise tests: each test's `solution` (the reference solution in
its own folder) and `clicks_topic` (lessons 05 and 06 read the same clicks)."""

from __future__ import annotations

from types import ModuleType

import pytest
from exercises import load

from labkit import Lab, events


@pytest.fixture
def solution(request: pytest.FixtureRequest) -> ModuleType:
    """The reference solution next to the requesting test: lesson_NN/solution.py."""
    return load(request.path.parent.name)


@pytest.fixture(scope="session")
def clicks_topic(lab: Lab):
    """One topic of deterministic clicks (with event time) for the 05 and 06 checks."""
    name = lab.scratch_topic("test-l0506-clicks", partitions=2)
    lab.produce(name, list(events.clicks(200, seed=11, rate=4, users=8)), key="user_id", timestamp="ts")
    yield name
    lab.delete_topic(name)
