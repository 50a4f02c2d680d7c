"""The Waiter over real sockets: re-registration when a socket is replaced, errors reported, deadlines kept."""

from __future__ import annotations

import math
import socket
import time
from typing import Any

from metersim.sinks.mqtt.loop import READ, Waiter


class Channel:
    """The smallest Channel: one socket, read interest, an optional deadline; records what happened."""

    def __init__(self, sock: socket.socket | None, due: float = math.inf) -> None:
        self.sock = sock
        self.deadline = due
        self.events: list[int] = []
        self.serviced = 0
        self.reasons: list[str] = []

    @property
    def socket(self) -> Any:
        return self.sock

    def interest(self) -> int:
        return READ if self.sock is not None and not self.reasons else 0

    def due(self) -> float:
        return self.deadline

    def handle(self, events: int) -> None:
        self.events.append(events)
        assert self.sock is not None
        self.sock.recv(100)

    def service(self) -> None:
        self.serviced += 1
        self.deadline = math.inf

    def lost(self, reason: str) -> None:
        self.reasons.append(reason)


def test_only_the_ready_channel_is_handled() -> None:
    (a, peer_a), (b, peer_b) = socket.socketpair(), socket.socketpair()
    first, second = Channel(a), Channel(b)
    waiter = Waiter()
    waiter.add(first)
    waiter.add(second)
    try:
        peer_b.send(b"x")
        waiter.wait(1.0)
        assert (first.events, second.events) == ([], [READ])
    finally:
        waiter.close()
        for sock in (a, peer_a, b, peer_b):
            sock.close()


def test_a_replaced_socket_is_watched_even_when_it_reuses_the_fd_number() -> None:
    old, old_peer = socket.socketpair()
    channel = Channel(old)
    waiter = Waiter()
    waiter.add(channel)
    try:
        waiter.wait(0.0)  # registers ``old``
        old_fd = old.fileno()
        old.close()
        old_peer.close()
        new, peer = socket.socketpair()  # the lowest free numbers: very likely ``old_fd`` again
        channel.sock = new
        peer.send(b"x")
        waiter.wait(1.0)
        assert channel.events == [READ], (old_fd, new.fileno())
        assert channel.reasons == []
    finally:
        waiter.close()
        new.close()
        peer.close()


def test_a_socket_that_cannot_be_watched_is_reported_as_lost() -> None:
    sock, peer = socket.socketpair()
    sock.close()  # fileno() is now -1: the selector refuses it
    channel = Channel(sock)
    waiter = Waiter()
    waiter.add(channel)
    try:
        waiter.wait(0.0)
        assert len(channel.reasons) == 1
        assert channel.reasons[0].startswith("cannot wait on the socket: "), channel.reasons
    finally:
        waiter.close()
        peer.close()


def test_a_deadline_ends_the_wait_and_the_wait_sleeps() -> None:
    sock, peer = socket.socketpair()
    channel = Channel(sock, due=time.monotonic() + 0.2)
    waiter = Waiter()
    waiter.add(channel)
    try:
        wall, cpu = time.monotonic(), time.process_time()
        waiter.wait(5.0)
        assert 0.15 < time.monotonic() - wall < 1.0
        assert channel.serviced == 1
        waiter.wait(0.3)  # no deadline, no data: sleeps the whole timeout
        assert time.process_time() - cpu < 0.1
    finally:
        waiter.close()
        sock.close()
        peer.close()
