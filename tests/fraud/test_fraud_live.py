"""labkit.fraud.live: "Kafka alone" (read_as_group) and the "Flink alone" socket feed (the
drill - both jobs, the savepoint round trip - runs in notebook 09, on real jobs)."""

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


def test_read_as_group_reads_every_record_and_commits_its_position(lab, topic):
    """Lesson 09's "Kafka alone": each group reads every record and commits its own position."""
    from labkit.fraud.live import read_as_group

    name = topic("l09-groups", partitions=3)
    sent = [{"tx_id": f"t{i}", "account_id": f"a{i % 4}"} for i in range(30)]
    lab.produce(name, sent, key="account_id")
    groups = [f"{name}-fraud", f"{name}-audit"]
    try:
        for group in groups:
            values, position = read_as_group(lab, name, group, len(sent))
            assert sorted(v["tx_id"] for v in values) == sorted(tx["tx_id"] for tx in sent)
            assert position == len(sent)
    finally:
        lab.delete_groups(*groups)
