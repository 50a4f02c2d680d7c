"""Wait for many MQTT connections at once: one ``selectors`` selector (epoll on Linux), no threads.

:class:`Waiter` knows nothing of MQTT. It asks each :class:`Channel` (a
:class:`~metersim.sinks.mqtt.connection.Connection`) which socket it has, what it wants from it
(read, write) and when it must next run without network activity (a reconnect, a CONNACK
deadline, a keepalive), sleeps until the first of these, and hands each channel what happened.

Why not ``select.select``: it cannot watch a file descriptor above 1023 and raises ValueError,
which code that suppresses errors turns into a silent busy spin. A selector has no such limit, and
nothing here is suppressed: a socket the selector cannot watch is reported to its channel as a
lost connection, with the reason.

Every call re-checks each channel's socket, because paho opens a new socket on each reconnect. The
checks are O(channels) per wait, which is cheap up to thousands of channels; a timer heap and
paho's socket callbacks are the next step beyond that.
"""

from __future__ import annotations

import math
import select
import selectors
import time
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

#: ``interest()`` bits, the same as the selectors module's
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class Channel(Protocol):
    """What :class:`Waiter` needs from a connection."""

    @property
    def socket(self) -> Any:
        """The socket to watch (anything with ``fileno()``), or None."""

    def interest(self) -> int:
        """``READ | WRITE`` bits wanted now; 0 to watch nothing (e.g. while the connection is down)."""

    def due(self) -> float:
        """``time.monotonic()`` by which ``service()`` must run even without network activity."""

    def handle(self, events: int) -> None:
        """The socket is ready for ``events`` (READ and/or WRITE bits)."""

    def service(self) -> None:
        """Non-blocking housekeeping: deadlines, reconnects, keepalive."""

    def lost(self, reason: str) -> None:
        """The socket cannot be used (here: it cannot be watched): report the connection as lost."""


class Waiter:
    """Multiplex the sockets and deadlines of several channels over one selector."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._channels: list[Channel] = []
        self._watched: dict[Channel, tuple[Any, int]] = {}  # channel -> (socket, events) registered

    def add(self, channel: Channel) -> None:
        if channel not in self._channels:
            self._channels.append(channel)

    def remove(self, channel: Channel) -> None:
        if channel in self._channels:
            self._channels.remove(channel)
        self._unwatch(channel)

    def close(self) -> None:
        for channel in list(self._channels):
            self.remove(channel)
        self._selector.close()

    def wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` [s] for a socket or a deadline, then let the channels make progress.

        Returns early as soon as any channel has something to do. Channels with socket events get
        ``handle()``; channels whose deadline has passed get ``service()``.
        """
        channels = self._channels
        # Drop stale registrations first: a closed socket's fd number may already be reused by another.
        for channel in channels:
            watched = self._watched.get(channel)
            if watched is not None and (watched[0] is not channel.socket or not channel.interest()):
                self._unwatch(channel)
        pending: list[Channel] = []
        due = math.inf
        for channel in channels:
            self._watch(channel)
            if channel in self._watched and _ssl_pending(channel.socket):
                pending.append(channel)
            due = min(due, channel.due())
        timeout_s = 0.0 if pending else max(0.0, min(timeout_s, due - time.monotonic()))
        ready = self._select(timeout_s)
        handled: set[Channel] = set()
        for channel, events in ready:
            handled.add(channel)
            channel.handle(events)
        for channel in pending:
            if channel not in handled:
                # Decrypted bytes already inside the SSL object: the selector cannot see them.
                handled.add(channel)
                channel.handle(READ)
        now = time.monotonic()
        for channel in channels:
            if channel not in handled and channel.due() <= now:
                channel.service()

    # --- the selector -------------------------------------------------------------------------------

    def _select(self, timeout_s: float) -> list[tuple[Channel, int]]:
        if not self._watched:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return []
        try:
            events = self._selector.select(timeout_s)
        except (OSError, ValueError) as exc:
            reason = f"cannot wait on the socket: {_reason(exc)}"
            for channel in list(self._watched):
                self._unwatch(channel)
                channel.lost(reason)
            return []
        return [(key.data, mask) for key, mask in events]

    def _watch(self, channel: Channel) -> None:
        """Register ``channel``'s socket for what it wants now (stale registrations are already gone)."""
        events = channel.interest()
        if not events:
            return
        sock = channel.socket
        watched = self._watched.get(channel)
        try:
            if watched is None:
                self._selector.register(sock, events, channel)
            elif watched[1] != events:
                self._selector.modify(sock, events, channel)
            else:
                return
        except (OSError, ValueError, KeyError) as exc:
            # KeyError: the fd is registered under another socket object (ours was closed behind our back).
            self._watched.pop(channel, None)
            channel.lost(f"cannot wait on the socket: {_reason(exc)}")
            return
        self._watched[channel] = (sock, events)

    def _unwatch(self, channel: Channel) -> None:
        watched = self._watched.pop(channel, None)
        if watched is not None:
            # A socket closed since it was registered is found by identity; epoll forgot it already.
            self._selector.unregister(watched[0])


def _ssl_pending(sock: object) -> bool:
    """Decrypted bytes buffered inside an SSL socket do not wake the selector."""
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


#: most packets read in one go from a connection that receives messages (commands)
READ_BURST = 1024


def read_waiting(client: mqtt.Client) -> MQTTErrorCode:
    """Read on while the socket holds more: paho's ``loop_read`` reads a single packet when nothing is
    in flight, far too few for a burst of incoming messages (a broker drops what a slow reader leaves
    queued past its ``max_queued_messages``)."""
    rc = MQTTErrorCode.MQTT_ERR_SUCCESS
    for _ in range(READ_BURST):
        sock = client.socket()
        if sock is None or not _readable(sock):
            break
        rc = client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            break
    return rc


def _readable(sock: Any) -> bool:
    if _ssl_pending(sock):
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
