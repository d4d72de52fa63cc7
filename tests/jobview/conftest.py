"""The job view's fixture ``fake_flink``: a stand-in JobManager serving one job
(fake_flink_job.py), for what must be exact - redraws, pauses, the JobManager going away."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fake_flink_job import FakeFlink


@pytest.fixture
def fake_flink() -> Iterator[FakeFlink]:
    """The `FakeFlink` served at its ``address`` (host:port); ``down()`` is the JobManager dying."""
    flink = FakeFlink()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            flink.requests.append(self.path)
            body = flink.answer(url.path, urllib.parse.parse_qs(url.query))
            data = json.dumps(body).encode() if body is not None else b'{"errors": ["Not found"]}'
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    flink.address = f"127.0.0.1:{server.server_address[1]}"

    def down() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    flink.down = down  # type: ignore[method-assign]
    yield flink
    down()
