"""A small loopback TCP proxy that misbehaves on demand: stall, stop forwarding, drop connections.

The publisher under test connects to the proxy; the proxy connects on to the broker. The faults:

* :meth:`Proxy.stall`: hold every byte, both ways; connections stay open (a path that freezes).
  :meth:`Proxy.resume` then delivers what was held, in order.
* :meth:`Proxy.stop_forwarding`: a black hole. Every byte from now on is read and thrown away, both
  ways; connections stay open, and new ones are accepted and black-holed too (a half-dead link or
  NAT entry: TCP looks fine, nothing gets through). :meth:`Proxy.resume` forwards again; what was
  thrown away is gone.
* :meth:`Proxy.refuse`: cut every connection and close each new one at once (the broker is away,
  while it keeps running for the test's subscriber). :meth:`Proxy.resume` admits connections again.
* :meth:`Proxy.cut`: close every connection now, both ends. :meth:`Proxy.drop_every` cuts every
  ``period_s`` in a background thread, until :meth:`Proxy.stop_dropping` or :meth:`Proxy.close`.

Only 127.0.0.1, one thread per direction of each connection, all daemon threads; ``close()`` ends them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

LOOPBACK = "127.0.0.1"
#: how often a held pipe re-checks whether its connection was cut [s]
_POLL_S = 0.05

FORWARD, STALL, BLACKHOLE, REFUSE = "forward", "stall", "blackhole", "refuse"


class _Link:
    """One proxied connection: the client's socket and the broker's."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.alive = True

    def close(self) -> None:
        self.alive = False
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class Proxy:
    """Forward TCP connections from a free loopback port to ``upstream_port`` on 127.0.0.1."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = FORWARD
        self.accepted = 0  # connections accepted
        self.cuts = 0  # connections closed by cut()
        self.discarded_bytes = 0  # thrown away while not forwarding
        self._cond = threading.Condition()
        self._links: list[_Link] = []
        self._closed = False
        self._dropping: threading.Event | None = None
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    # --- faults -------------------------------------------------------------------------------------

    def stall(self) -> None:
        self._set_mode(STALL)

    def stop_forwarding(self) -> None:
        self._set_mode(BLACKHOLE)

    def refuse(self) -> None:
        self._set_mode(REFUSE)
        self.cut()

    def resume(self) -> None:
        self._set_mode(FORWARD)

    def cut(self) -> int:
        """Close every open connection; how many were closed."""
        with self._cond:
            links, self._links = self._links, []
            self._cond.notify_all()
        for link in links:
            link.close()
        self.cuts += len(links)
        return len(links)

    def drop_every(self, period_s: float) -> None:
        """Cut every connection every ``period_s`` [s] until :meth:`stop_dropping` (or :meth:`close`)."""
        self.stop_dropping()
        stop = self._dropping = threading.Event()

        def drop() -> None:
            while not stop.wait(period_s):
                self.cut()

        threading.Thread(target=drop, name="proxy-drop", daemon=True).start()

    def stop_dropping(self) -> None:
        if self._dropping is not None:
            self._dropping.set()
            self._dropping = None

    def close(self) -> None:
        self.stop_dropping()
        with self._cond:
            self._closed = True
            self.mode = FORWARD
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- forwarding ---------------------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        with self._cond:
            self.mode = mode
            self._cond.notify_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), name="proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == REFUSE:
            client.close()
            return
        try:
            upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=2)
        except OSError:
            client.close()  # the broker is away: the client sees its connection end at once
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        with self._cond:
            if self._closed:
                link.close()
                return
            self._links.append(link)
        threading.Thread(target=self._pipe, args=(link, upstream, client), name="proxy-down", daemon=True).start()
        self._pipe(link, client, upstream)

    def _pipe(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                with self._cond:
                    while self.mode == STALL and link.alive:
                        self._cond.wait(_POLL_S)
                    if not link.alive:
                        return
                    if self.mode == BLACKHOLE:
                        self.discarded_bytes += len(data)
                        continue
                dst.sendall(data)
        except OSError:
            pass
        # One side ended: end the other too, as a broken link would.
        with self._cond:
            if link in self._links:
                self._links.remove(link)
        link.close()
