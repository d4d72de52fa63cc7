"""Something costly that several test modules use, started once for all of them.

A module-scoped fixture started it once per module (the browser tests: a private lab, its
JupyterLab and Chromium, three times); a session-scoped one would keep it running, idle,
for the rest of the session, taking memory and CPU from every test after it. A `Shared`
is started by the first test that asks for it and stopped right after the last test that
does: tests/conftest.py hands the collected tests to `plan` (which notes the last user of
each shared fixture) and calls `after` once each test is torn down, which stops what that
test was the last user of (everything, after the last test or a run cut short).

``make`` is written like a fixture: a generator that yields the resource once, then
stops it (what comes after the ``yield``, its checks included, runs at the release; a
failure there is reported as an error of the last test that used it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")


class Shared(Generic[T]):
    """A resource for every test that uses the fixture named ``fixture``."""

    started: ClassVar[list[Shared[Any]]] = []

    def __init__(self, fixture: str, make: Callable[..., Iterator[T]]) -> None:
        self.fixture = fixture
        self.make = make
        self._run: Iterator[T] | None = None
        self._value: T | None = None

    def get(self, *args: Any) -> T:
        """The running resource; started first (``make(*args)``) if it is not."""
        if self._run is None:
            run = self.make(*args)
            value = next(run)  # a failure to start fails this test, and the next user tries again
            self._run, self._value = run, value
            Shared.started.append(self)
        return self._value  # type: ignore[return-value]

    def release(self) -> None:
        """Stop it (the code after ``make``'s ``yield`` runs now), if it is running."""
        run, self._run, self._value = self._run, None, None
        if self in Shared.started:
            Shared.started.remove(self)
        if run is not None:
            next(run, None)


#: The node id of the last test that uses each fixture (`plan`).
_LAST_USER: dict[str, str] = {}


def plan(items: list[Any]) -> None:
    """Note which test is the last to use each fixture, in the order the tests will run."""
    _LAST_USER.clear()
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            _LAST_USER[name] = item.nodeid


def after(item: Any, nextitem: Any) -> None:
    """Release every started resource whose last user (`plan`) was ``item``, or all of them
    when no test follows (``nextitem`` None); all are released even if one fails, then the
    first failure is raised."""
    failure: BaseException | None = None
    for shared in reversed(list(Shared.started)):  # the last started is the first stopped
        last = _LAST_USER.get(shared.fixture)
        if nextitem is not None and last is not None and last != getattr(item, "nodeid", None):
            continue
        try:
            shared.release()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others are stopped
            failure = failure or exc
    if failure is not None:
        raise failure
