"""One paho client's connection to one broker: DOWN -> CONNECTING -> UP, and back, with backoff.

A :class:`Connection` drives its client through paho's external-loop API (``socket()``,
``loop_read()``, ``loop_write()``, ``want_write()``, ``loop_misc()``) and never waits itself: it
tells a :class:`~metersim.sinks.mqtt.loop.Waiter` which socket it has, what it wants from it and
when it must run next, so that one waiter can drive many connections. It knows nothing of
messages; two hooks let the owner account for them:

* ``on_discard()`` runs when paho is about to drop (or has dropped) the packets it had not written:
  on a lost connection and before each attempt. It returns a note for the log line ("" for none).
* ``on_drained()`` runs after each successful I/O round that left nothing to write.
* ``on_up()`` runs at each accepted CONNACK (the retained status is published there).

Reconnecting: the first retry comes ``BACKOFF_START_S`` after a failure, doubling per failed attempt
up to ``reconnect_max_s``. A connection that was up for ``STABLE_S`` retries at once with a fresh
backoff; one that is dropped sooner backs off. After ``give_up_s`` without a broker it stops trying
and ``gave_up`` turns true; its owner decides what to raise.
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
import struct
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from metersim.errors import BrokerUnreachableError, TlsError
from metersim.sinks.mqtt.failures import SwallowedErrors, describe_connect_error
from metersim.sinks.mqtt.loop import READ, WRITE, read_waiting
from metersim.sinks.mqtt.tls import RESET_IN_HANDSHAKE, ended_tls, is_tls_failure, ssl_reason, tls_refusal

#: first pause between reconnect attempts [s]; doubles per failed attempt up to ``reconnect_max_s``
BACKOFF_START_S = 0.25
#: a connection that lasted this long [s] was healthy: after losing it, retry at once with a fresh backoff
STABLE_S = 5.0
#: longest time [s] between two ``loop_misc()`` calls of an idle connection (keepalive pings)
MISC_EVERY_S = 1.0

_OK = MQTTErrorCode.MQTT_ERR_SUCCESS


class State(Enum):
    DOWN = "down"  # no usable socket; the next attempt is due at ``_next_attempt``
    CONNECTING = "connecting"  # socket open, CONNECT sent, waiting for CONNACK
    UP = "up"  # CONNACK accepted


class Connection:
    """The connection state machine of one paho client (already configured, not yet connected).

    Parameters
    ----------
    client
        A paho client made with ``reconnect_on_failure=False``; this object sets its
        ``on_connect`` and ``on_disconnect``.
    host, port
        The broker.
    keepalive_s, connect_timeout_s, reconnect_max_s, give_up_s
        Timings [s], as in the ``mqtt`` output of the scenario.
    tls
        Whether ``client`` speaks TLS (``mqtts://``): then a connection that fails in its handshake,
        or that the broker ends with a TLS alert before its CONNACK (a client certificate it
        requires and did not get), is a :class:`TlsError`, and so is one reset during the handshake
        (a plain MQTT listener does that to a TLS ClientHello).
    client_cert
        Whether the client presents a certificate (tls.cert_file): only for the wording of errors.
    log
        Receives one line per state change. Never receives credentials.
    before_connect
        Called with the client before every connect attempt (the first and each reconnect), e.g. to
        register this attempt's will.
    connect_properties
        MQTT 5 CONNECT properties (the Session Expiry Interval); None on 3.1.1.
    misc_every_s
        Longest time [s] between two ``loop_misc()`` calls of an idle connection (at most a quarter
        of the keepalive); thousands of connections use a longer one than the default.
    """

    def __init__(
        self,
        client: mqtt.Client,
        host: str,
        port: int,
        *,
        keepalive_s: int,
        connect_timeout_s: float,
        reconnect_max_s: float,
        give_up_s: float,
        log: Callable[[str], None],
        on_discard: Callable[[], str] | None = None,
        on_drained: Callable[[], None] | None = None,
        on_up: Callable[[], None] | None = None,
        before_connect: Callable[[mqtt.Client], None] | None = None,
        connect_properties: Properties | None = None,
        tls: bool = False,
        client_cert: bool = False,
        misc_every_s: float = MISC_EVERY_S,
    ) -> None:
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_max_s = reconnect_max_s
        self.give_up_s = give_up_s
        self.state = State.DOWN
        self.losses = 0  # connections lost after they were up
        self.read_burst = False  # read every packet waiting, not one (set where messages come in)
        self.last_reason = ""
        self._client = client
        self._log = log
        self._on_discard = on_discard
        self._on_drained = on_drained
        self._on_up = on_up
        self._before_connect = before_connect  # registers the will of each attempt (session hooks)
        self._connect_properties = connect_properties  # MQTT 5 CONNECT properties (session expiry)
        self._misc_every_s = min(misc_every_s, keepalive_s / 4)
        self._closing = False  # our own DISCONNECT is not a lost connection
        self._backoff_s = BACKOFF_START_S
        self._next_attempt = 0.0  # monotonic [s]
        self._connecting_since = 0.0  # monotonic [s]
        self._up_since = 0.0  # monotonic [s]
        self._misc_at = 0.0  # monotonic [s] of the last loop_misc()
        self._down_since: float | None = None  # monotonic [s]; None while the broker is reachable
        self._refusal: str | None = None  # CONNACK refusal of the current attempt
        self._connect_exc: BaseException | None = None  # socket/TLS failure of the current attempt
        self.tls = tls
        self.client_cert = client_cert
        # paho swallows the OSError (an SSLError among them) that ends a connection and returns only
        # MQTT_ERR_CONN_LOST; while an attempt waits for its CONNACK this logger keeps it for us
        self._swallowed = SwallowedErrors()
        client.connect_timeout = connect_timeout_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Connection({self.address}, {self.state.value})"

    # --- what a Waiter asks -------------------------------------------------------------------------

    @property
    def socket(self) -> Any:
        """paho's current socket (a new one after each reconnect), or None."""
        return self._client.socket()

    def interest(self) -> int:
        """READ, plus WRITE while paho has bytes to write; 0 while down (nothing to watch)."""
        if self.state is State.DOWN or self._client.socket() is None:
            return 0
        return READ | WRITE if self._client.want_write() else READ

    def due(self) -> float:
        """When ``service()`` must run without network activity [monotonic s]."""
        if self.state is State.DOWN:
            return math.inf if self.gave_up else self._next_attempt
        if self.state is State.CONNECTING:
            return self._connecting_since + self.connect_timeout_s
        return self._misc_at + self._misc_every_s

    # --- driving ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the socket and send CONNECT; the CONNACK arrives through ``handle``."""
        # MQTT 5: clean start on the first CONNECT only (paho's default), so reconnects resume the session
        self._client.connect_async(self.host, self.port, self.keepalive_s, properties=self._connect_properties)
        self._attempt()

    def service(self) -> None:
        """Non-blocking: reconnect when due, time out a CONNACK, else read, write and keep alive."""
        if self.state is State.DOWN:
            if not self.gave_up and time.monotonic() >= self._next_attempt:
                self._attempt()
        elif self.state is State.CONNECTING and self._connect_overdue():
            self._attempt_failed(f"no CONNACK within {self.connect_timeout_s:g} s")
        else:
            self.handle(READ)

    def handle(self, events: int) -> None:
        """Read acknowledgements (if ``events`` has READ), write what is pending, keep the connection alive."""
        if self.state is State.DOWN:
            return
        client = self._client
        if client.socket() is None:
            self.lost(self.last_reason or "socket closed")
            return
        rc = client.loop_read() if events & READ else _OK
        if rc == _OK and events & READ and self.read_burst:
            rc = read_waiting(client)
        if rc == _OK and client.want_write():
            rc = client.loop_write()
        if rc == _OK:
            rc = client.loop_misc()
            self._misc_at = time.monotonic()
        if rc != _OK or client.socket() is None:
            self.lost(mqtt.error_string(rc) if rc != _OK else "socket closed")
        elif self._on_drained is not None and not client.want_write():
            self._on_drained()

    def lost(self, reason: str) -> None:
        """The socket is gone or unusable (reported by a loop call, ``on_disconnect`` or the waiter)."""
        if self.state is State.DOWN:
            return
        if self.state is State.CONNECTING:
            self._attempt_failed(self._refusal or reason)
            return
        self.state = State.DOWN
        self.losses += 1
        self.last_reason = reason
        now = time.monotonic()
        self._down_since = now
        if now - self._up_since >= STABLE_S:
            self._backoff_s = BACKOFF_START_S
            self._next_attempt = now
        else:
            # The broker accepts us and then drops us: back off, rather than reconnect in a tight loop.
            self._next_attempt = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.reconnect_max_s)
        note = self._on_discard() if self._on_discard is not None else ""
        lost = f", {note}" if note else ""
        self._log(f"mqtt: warning: connection to {self.address} lost ({reason}){lost}, reconnecting")

    def close(self, properties: Properties | None = None) -> None:
        """Send DISCONNECT (with MQTT 5 ``properties``) if a socket is open, then close it; never raises."""
        self._closing = True
        self.state = State.DOWN
        client = self._client
        try:
            if client.socket() is not None:
                client.disconnect(properties=properties)
                if client.want_write():
                    client.loop_write()
        except (OSError, ValueError):
            pass
        finally:
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def abort(self) -> None:
        """Drop the connection at once: no DISCONNECT, and nothing more of what paho holds is written.

        The socket is reset (SO_LINGER 0), so that the kernel discards what it had not sent either:
        after an interrupt, messages counted as lost should not reach the broker behind our back.
        Never raises.
        """
        self._closing = True
        self.state = State.DOWN
        sock = self._client.socket()
        if sock is None:
            return
        setsockopt = getattr(sock, "setsockopt", None)  # paho types its socket as a bare SocketLike
        if setsockopt is not None:
            with contextlib.suppress(OSError, ValueError):
                setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    # --- giving up and failing to open --------------------------------------------------------------

    @property
    def away_s(self) -> float:
        """How long [s] the broker has been unreachable (0 while it is reachable)."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    @property
    def gave_up(self) -> bool:
        """Down for longer than ``give_up_s``: no further attempts are made."""
        return self.state is State.DOWN and self._down_since is not None and self.away_s > self.give_up_s

    def open_error(self) -> BrokerUnreachableError | TlsError:
        """Why the first connection did not come up (call before ``close()``)."""
        where = f"MQTT broker at {self.address}"
        exc = self._connect_exc
        if is_tls_failure(exc):
            assert exc is not None
            return TlsError(f"TLS handshake with {where} failed: {ssl_reason(exc)}")
        if self.tls and isinstance(exc, RESET_IN_HANDSHAKE):
            assert exc is not None
            return TlsError(
                f"TLS handshake with {where} failed: {ssl_reason(exc)} (is it a plain MQTT listener? then use mqtt://)"
            )
        swallowed = self._swallowed.caught
        if self.tls and self._refusal is None and ended_tls(swallowed):
            assert swallowed is not None
            return TlsError(
                f"the TLS connection to {where} was ended before CONNACK: {tls_refusal(swallowed, self.client_cert)}"
            )
        if self._refusal is not None:
            return BrokerUnreachableError(f"{where} refused the connection: {self._refusal.split(': ', 1)[-1]}")
        if self.state is State.CONNECTING:
            reason = f"no CONNACK within {self.connect_timeout_s:g} s"
        else:
            reason = self.last_reason or "connection closed before CONNACK"
            if reason in ("connection lost", mqtt.error_string(MQTTErrorCode.MQTT_ERR_CONN_LOST)):
                reason = "connection closed before CONNACK"
        return BrokerUnreachableError(f"cannot reach {where}: {reason}")

    # --- attempts -----------------------------------------------------------------------------------

    def _connect_overdue(self) -> bool:
        return time.monotonic() - self._connecting_since > self.connect_timeout_s

    def _attempt(self) -> None:
        if self._on_discard is not None:
            self._on_discard()  # paho's reconnect drops what it had not written
        self.state = State.CONNECTING
        self._connecting_since = time.monotonic()
        self._refusal = None
        self._connect_exc = None
        self._swallowed.caught = None
        self._client.enable_logger(self._swallowed)
        try:
            if self._before_connect is not None:
                self._before_connect(self._client)
            rc = self._client.reconnect()
        except (OSError, ssl.CertificateError, ValueError) as exc:
            self._connect_exc = exc
            self._attempt_failed(describe_connect_error(exc, self.connect_timeout_s))
            return
        if rc != _OK and self.state is State.CONNECTING:
            self._attempt_failed(mqtt.error_string(rc))

    def _attempt_failed(self, reason: str) -> None:
        self._client.disable_logger()
        swallowed = self._swallowed.caught
        if self.tls and ended_tls(swallowed) and self._refusal is None and swallowed is not None:
            reason = f"TLS: {ssl_reason(swallowed)}"
        self.state = State.DOWN
        self.last_reason = reason
        if self._down_since is None:
            self._down_since = self._connecting_since
        self._next_attempt = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.reconnect_max_s)

    # --- paho callbacks (run inside our own loop calls) ----------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._refusal = f"broker refused the connection: {reason_code}"
            return
        client.disable_logger()  # paho logs every packet to it: not on the publishing path
        self.state = State.UP
        self._up_since = self._misc_at = time.monotonic()
        if self._down_since is not None:
            away_s = time.monotonic() - self._down_since
            self._down_since = None
            self._log(f"mqtt: reconnected to {self.address} after {away_s:.1f} s")
        if self._on_up is not None:
            self._on_up()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._closing:
            return
        reason = "closed by the broker" if flags.is_disconnect_packet_from_server else "connection lost"
        self.lost(reason)
