"""Drive thousands of paho clients from one ``selectors`` selector (epoll on Linux), in the caller's thread.

:class:`~metersim.sinks.mqtt.loop.Waiter` re-checks every channel's socket and deadline on every wait:
O(connections) per wait, fine for one connection, too slow for 20,000. :class:`Reactor` instead keeps
the selector up to date from paho's socket callbacks (``on_socket_open``, ``on_socket_close``,
``on_socket_register_write``, ``on_socket_unregister_write``) and the deadlines (reconnects, CONNACK
timeouts, keepalives) in a heap, so a wait costs O(ready sockets + due timers).

Why no thread per client: paho fails somewhere between 200 and 1,000 threads, and a thread per
client would put every counter behind a lock. Why not ``select.select`` (what paho's own ``loop()``
uses): it cannot watch a file descriptor above 1023.

Each client carries its :class:`Endpoint` as paho userdata, so that one set of bound methods serves
every client (no closure per client). With ``on_socket_register_write`` set, paho no longer writes
inside ``publish()``: it asks for write readiness, and the next :meth:`Reactor.run_once` writes
everything the client queued in one ``loop_write()``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import selectors
import time
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from metersim.sinks.mqtt.loop import READ, WRITE

_SELECTOR_ERRORS = (KeyError, ValueError, OSError)


class Endpoint(Protocol):
    """What the reactor drives: one connection."""

    #: the socket registered for this endpoint, or None (kept by the reactor)
    sock: Any
    #: monotonic time [s] of this endpoint's live timer entry (kept by the reactor; inf: none)
    scheduled: float
    #: whether the socket speaks TLS (decrypted bytes may wait inside the SSL object)
    tls: bool

    def ready(self, events: int) -> None:
        """The socket is ready for ``events`` (READ and/or WRITE bits)."""

    def timer(self) -> None:
        """The endpoint's timer is due: reconnect, time out a CONNACK, keep alive."""


class Reactor:
    """One selector and one timer heap over many paho clients."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Endpoint]] = []
        self._seq = itertools.count()  # ties in the heap never compare endpoints
        self._tls_pending: set[Endpoint] = set()

    def __len__(self) -> int:
        """Sockets being watched."""
        return len(self._selector.get_map())

    def attach(self, client: mqtt.Client, endpoint: Endpoint) -> None:
        """Watch ``client``'s sockets (from its next connect on) on behalf of ``endpoint``."""
        endpoint.sock = None
        endpoint.scheduled = math.inf
        client.user_data_set(endpoint)
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._wrote

    def forget(self, endpoint: Endpoint) -> None:
        """Stop watching ``endpoint``'s socket; call before closing it behind paho's back."""
        sock, endpoint.sock = endpoint.sock, None
        if sock is not None:
            with contextlib.suppress(*_SELECTOR_ERRORS):
                self._selector.unregister(sock)
        self._tls_pending.discard(endpoint)

    def schedule(self, endpoint: Endpoint, due: float) -> None:
        """Run ``endpoint.timer()`` at ``due`` [monotonic s] at the latest (an earlier timer stays)."""
        if due < endpoint.scheduled:
            endpoint.scheduled = due
            heapq.heappush(self._timers, (due, next(self._seq), endpoint))

    def close(self) -> None:
        self._selector.close()
        self._timers.clear()
        self._tls_pending.clear()

    def run_once(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` [s] for sockets or the next timer, then run what is ready and due.

        Exceptions of the endpoints (a connection that gave up) propagate to the caller.
        """
        timers = self._timers
        if self._tls_pending:
            timeout_s = 0.0
        elif timers:
            timeout_s = min(timeout_s, timers[0][0] - time.monotonic())
        timeout_s = max(0.0, timeout_s)
        if self._selector.get_map():
            ready = self._selector.select(timeout_s)
        else:
            ready = []
            if timeout_s > 0:
                time.sleep(timeout_s)
        pending, self._tls_pending = self._tls_pending, set()
        for key, events in ready:
            endpoint: Endpoint = key.data
            pending.discard(endpoint)
            self._ready(endpoint, events)
        for endpoint in pending:
            self._ready(endpoint, READ)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            due, _, endpoint = heapq.heappop(timers)
            if due != endpoint.scheduled:
                continue  # superseded by an earlier entry, which has run
            endpoint.scheduled = math.inf
            endpoint.timer()

    def _ready(self, endpoint: Endpoint, events: int) -> None:
        endpoint.ready(events)
        sock = endpoint.sock
        # Decrypted bytes already inside the SSL object do not wake the selector: read them next round.
        if endpoint.tls and sock is not None and getattr(sock, "pending", None) and sock.pending():
            self._tls_pending.add(endpoint)

    # --- paho's socket callbacks (userdata is the endpoint) ------------------------------------------

    def _opened(self, client: mqtt.Client, endpoint: Endpoint, sock: Any) -> None:
        self.forget(endpoint)  # a stale registration (closed behind paho's back) must not block the new one
        self._selector.register(sock, READ, endpoint)  # an error here fails the connect attempt, with its reason
        endpoint.sock = sock

    def _closed(self, client: mqtt.Client, endpoint: Endpoint, sock: Any) -> None:
        if endpoint.sock is sock:
            self.forget(endpoint)

    def _want_write(self, client: mqtt.Client, endpoint: Endpoint, sock: Any) -> None:
        if endpoint.sock is sock:
            with contextlib.suppress(*_SELECTOR_ERRORS):
                self._selector.modify(sock, READ | WRITE, endpoint)

    def _wrote(self, client: mqtt.Client, endpoint: Endpoint, sock: Any) -> None:
        if endpoint.sock is sock:
            with contextlib.suppress(*_SELECTOR_ERRORS):
                self._selector.modify(sock, READ, endpoint)
