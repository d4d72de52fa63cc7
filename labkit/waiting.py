"""Waiting on an effect, never on a fixed time: one polling loop with a deadline.

Kafka and Flink act on their own schedules (retention checks, checkpoints, group
rebalances), so lessons and checks wait for what they expect to see and fail with a
`LabError` that names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import LabError


def wait_for(check: Callable[[], Any], what: str, timeout: float = 90.0, every: float = 0.3) -> Any:
    """Call ``check()`` until it returns something (not None, False or empty) and return
    that; a `LabError` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        empty = isinstance(value, (list, tuple, dict, str)) and not value
        if not (value is None or value is False or empty):
            return value
        if time.monotonic() > deadline:
            raise LabError(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(every)
