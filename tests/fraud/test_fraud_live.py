"""labkit.fraud.live: the "Flink alone" socket feed (the savepoint round trip runs in
notebook 09, on a real job)."""

from __future__ import annotations

import json


def test_socket_feed_delivers_to_the_connected_reader_and_drops_the_rest():
    """The "Flink alone" feed: lines reach whoever is connected now; with nobody, they are gone."""
    import socket

    from labkit.fraud.live import SocketFeed

    feed = SocketFeed()
    try:
        assert feed.send([{"tx_id": "before"}]) == 0 and feed.dropped == ["before"]
        reader = socket.create_connection(("127.0.0.1", feed.port))
        feed.wait_connected(timeout=10)
        assert feed.send([{"tx_id": "a", "amount": 1.5}, {"tx_id": "b"}]) == 2
        got = b""
        while got.count(b"\n") < 2:
            got += reader.recv(4096)
        assert [json.loads(line)["tx_id"] for line in got.splitlines()] == ["a", "b"]
        reader.close()  # the job stops
        feed.wait_disconnected(timeout=10)
        assert feed.send([{"tx_id": "while-down"}]) == 0
        assert feed.delivered == ["a", "b"] and feed.dropped == ["before", "while-down"]
    finally:
        feed.close()
