"""A stand-in JobManager for tests of labkit's REST calls that need no cluster (its
fixture, ``jobmanager``, is in this folder's conftest.py)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class FakeJobManager(BaseHTTPRequestHandler):
    """``GET jobs/overview`` lists `jobs`; ``PATCH jobs/<id>?mode=cancel`` cancels one (and
    records its id in `cancelled`); a POST answers with its path and the JSON it was sent."""

    jobs: list[dict] = []
    cancelled: list[str] = []

    def reply(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.reply(json.dumps({"jobs": self.jobs}).encode() if self.path == "/jobs/overview" else b"{}")

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.reply(json.dumps({"path": self.path, "sent": sent}).encode())

    def do_PATCH(self) -> None:
        jid = self.path.removeprefix("/jobs/").partition("?")[0]
        self.cancelled.append(jid)
        for job in self.jobs:
            if job["jid"] == jid:
                job["state"] = "CANCELED"
        self.reply(b"", 202)  # Flink answers a cancel with no body

    def log_message(self, *args: object) -> None:
        pass
