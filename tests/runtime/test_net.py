"""Ports and addresses (labkit/runtime/net.py): the one free-port helper, choosing ports,
and failing fast when no broker answers."""

from __future__ import annotations

import socket
import time

import pytest

from labkit.errors import BrokerUnavailable, LabError
from labkit.runtime.net import answers, free_port, pick_port, port_free, require_broker


def test_free_port_is_free_and_a_listening_port_answers():
    port = free_port()
    assert port_free(port) and not answers(f"127.0.0.1:{port}", 0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_free(port) and answers(f"127.0.0.1:{port}", 0.5)


def test_pick_port_takes_the_wanted_one_or_says_it_is_taken():
    port = free_port()
    assert pick_port(port, None, set(), "Kafka") == port
    with pytest.raises(LabError, match=f"Port {port} is already in use, so Kafka cannot start there"):
        pick_port(port, None, {port}, "Kafka", "LABKIT_KAFKA_PORT")
    assert pick_port(None, port, {port}, "Kafka") != port  # the next free one


def test_require_broker_fails_within_seconds():
    address = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=f"No Kafka broker answers at {address}"):
        require_broker(address, timeout=0.5)
    assert time.monotonic() - t0 < 5
