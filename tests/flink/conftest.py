"""The ``jobmanager`` fixture: a stand-in JobManager (fake_jobmanager.py) on a free port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from fake_jobmanager import FakeJobManager


@pytest.fixture
def jobmanager() -> Iterator[str]:
    """The stand-in's ``host:port``, with no jobs and nothing cancelled yet."""
    FakeJobManager.jobs, FakeJobManager.cancelled = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJobManager)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)
