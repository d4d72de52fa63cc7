"""labkit.waiting.wait_for: the one polling loop with a deadline (lessons, checks, the trio,
the benchmark all wait with it)."""

from __future__ import annotations

import time

import pytest

from labkit.errors import LabError
from labkit.waiting import wait_for


def test_returns_the_first_answer_that_is_something():
    answers = iter([None, False, [], "", {}, 0, [3]])
    assert wait_for(lambda: next(answers), "an answer", timeout=5, every=0) == 0  # 0 counts, [] does not


def test_a_deadline_names_what_was_waited_for():
    calls = []
    t0 = time.monotonic()
    with pytest.raises(LabError, match=r"Timed out after 0 s waiting for the moon\."):
        wait_for(lambda: calls.append(1), "the moon", timeout=0.2, every=0.05)
    assert time.monotonic() - t0 < 5 and len(calls) >= 2  # polled more than once, then gave up


def test_a_spent_deadline_still_asks_once():
    assert wait_for(lambda: "here", "anything", timeout=-1) == "here"
    with pytest.raises(LabError):
        wait_for(lambda: None, "nothing", timeout=-1)


def test_errors_of_the_check_are_not_swallowed():
    def broken() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        wait_for(broken, "a broken check", timeout=5)
