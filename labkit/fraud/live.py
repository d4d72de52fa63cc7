"""Lesson 09's "Flink alone" plumbing: a payment app with no Kafka, feeding Flink over a socket.

Flink can read from sources that keep nothing: a socket is the classic one (Flink's
``socketTextStream``; PyFlink does not wrap it, so :func:`socket_stream` does). The
payment app (:class:`SocketFeed`) writes each payment as one JSON line to whichever Flink
source is connected *right now*; when none is (the job is stopped), the payment goes
nowhere - exactly what happens to a live feed nobody records. The lesson runs the same
Flink job on this socket and on a Kafka topic and stops both mid-stream.

Also here: stopping a job with a savepoint and starting its successor from it
(:func:`stop_with_savepoint`, :func:`resume_from`), so both jobs keep their *state* across
the stop - the only difference left between them is whether the input was kept.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..flink.client import bounded, java_object

if TYPE_CHECKING:
    from ..flink import Job


class SocketFeed:
    """A payment app that has no Kafka: it serves its live payments on a TCP socket
    (127.0.0.1, a free port) to whichever reader is connected at the moment.

    ``delivered`` and ``dropped`` list the tx_ids written to a reader and those sent while
    nobody was connected (gone for good). One reader at a time: a new connection (a
    restarted Flink job) replaces the old one.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._connected = threading.Condition(self._lock)
        self._closed = False
        self.delivered: list[str] = []
        self.dropped: list[str] = []
        self._thread = threading.Thread(target=self._accept, name=f"socket feed :{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:  # the server socket was closed
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._client is not None:
                    self._client.close()
                self._client = conn
                self._connected.notify_all()

    def _reader(self) -> socket.socket | None:
        """The connected reader, or None once it has hung up (checked without blocking)."""
        client = self._client
        if client is None:
            return None
        try:
            client.setblocking(False)
            try:
                gone = client.recv(1, socket.MSG_PEEK) == b""  # b"": the reader closed its end
            except BlockingIOError:
                gone = False  # open, and it never writes to us
            finally:
                client.setblocking(True)
        except OSError:
            gone = True
        if gone:
            client.close()
            self._client = None
            return None
        return client

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._reader() is not None

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Block until a reader (a Flink socket source) is connected."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._reader() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(
                        f"no Flink source connected to 127.0.0.1:{self.port} within {timeout:.0f} s"
                    )
                self._connected.wait(min(left, 0.1))

    def wait_disconnected(self, timeout: float = 30.0) -> None:
        """Block until the reader has hung up (its job was stopped)."""
        deadline = time.monotonic() + timeout
        while self.connected:
            if time.monotonic() > deadline:
                raise LabError(f"the reader of 127.0.0.1:{self.port} still holds on after {timeout:.0f} s")
            time.sleep(0.02)

    def send(self, payments: Iterable[Mapping[str, Any]]) -> int:
        """Write each payment as a JSON line to the connected reader, or drop it if there
        is none; returns how many were delivered."""
        n = 0
        with self._lock:
            for tx in payments:
                client = self._reader()
                line = (json.dumps(dict(tx), default=str) + "\n").encode()
                if client is not None:
                    try:
                        client.sendall(line)
                        self.delivered.append(str(tx.get("tx_id")))
                        n += 1
                        continue
                    except OSError:
                        client.close()
                        self._client = None
                self.dropped.append(str(tx.get("tx_id")))
        return n

    def close(self) -> None:
        self._closed = True
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        self._server.close()

    def __repr__(self) -> str:
        state = "a reader connected" if self.connected else "nobody listening"
        return (
            f"<SocketFeed 127.0.0.1:{self.port}: {state}; {len(self.delivered)} delivered, "
            f"{len(self.dropped)} dropped>"
        )


def socket_stream(env: Any, feed: SocketFeed) -> Any:
    """Flink's socket source (``socketTextStream``) on ``feed``: one string per line.

    PyFlink has no wrapper for it, so this calls the Java environment. The source runs on
    the TaskManager and connects to the feed's port; it keeps nothing - a line sent while
    it is not connected never reaches Flink - and it cannot start "from the beginning".
    """
    from pyflink.datastream import DataStream

    return DataStream(java_object(env).socketTextStream(feed.host, feed.port, "\n", 0))


def stop_with_savepoint(job: Job, timeout: float = 120.0) -> str:
    """Take a savepoint of ``job``, then cancel it; the savepoint's path. The job's state
    (and a Kafka source's offsets) are in it.

    Not Flink's own stop-with-savepoint: the legacy socket source fails it ("Socket
    closed" while stopping). Nothing arrives between the savepoint and the cancel here -
    the lesson sends nothing in between - so the savepoint is where the job stopped.
    """
    from pyflink.common.completable_future import CompletableFuture
    from pyflink.java_gateway import get_gateway

    # PyFlink's JobClient.trigger_savepoint calls a Java signature Flink 2 no longer has
    # (it gained a format argument): call the Java client directly
    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    j_future = java_object(job.client).triggerSavepoint(None, canonical)
    path = bounded(CompletableFuture(j_future), timeout, f"taking a savepoint of {job.name}")
    job.stop()
    return str(path)


def resume_from(env: Any, savepoint: str) -> Any:
    """Make the next job built on ``env`` start from ``savepoint`` (its state restored)."""
    from pyflink.common import Configuration

    config = Configuration()
    config.set_string("execution.savepoint.path", savepoint)
    env.configure(config)
    return env
