"""Publish each reading as one MQTT message (paho-mqtt 2.x, MQTT v3.1.1).

This is the only module that imports paho. It drives paho's network loop itself, in the caller's
thread, instead of ``loop_start()``: the measured publish rate is higher without the extra thread,
and backpressure is simple when the same thread that publishes also services the socket.

Delivery rules:

* QoS >= 1: a message that paho accepted stays in paho's bounded out-queue (``buffer_messages``)
  until the broker acknowledges it; paho re-sends it after a reconnect. Nothing is dropped: when the
  queue is full, :meth:`MqttSink.send` services the connection (and reconnects) until there is room.
* QoS 0: a message counts as acknowledged once it has been written to the socket. Messages still
  waiting to be written when the connection drops are lost and counted in ``stats.errors``.
* The broker may go away mid-run: the sink reconnects with exponential backoff and logs one line per
  state change. After ``give_up_s`` without a broker it raises :class:`DeliveryError`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
import ssl
import time
from collections.abc import Callable
from enum import Enum

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from metersim.config import MqttOutput
from metersim.errors import BrokerUnreachableError, ConfigError, DeliveryError, TlsError
from metersim.sinks.base import Outbox, SinkBase

#: publishes between two services of the network loop (reads PUBACKs, writes leftovers, keepalive)
SERVICE_EVERY = 100
#: first pause between reconnect attempts [s]; doubles per failed attempt up to ``reconnect_max_s``
BACKOFF_START_S = 0.25
#: longest single wait inside a blocking step [s]; bounds how late deadlines are noticed
STEP_S = 0.05
#: longest burst above ``max_rate_msg_s`` after an idle spell [s of the rate]
RATE_BURST_S = 0.05
#: a connection that lasted this long [s] was healthy: after losing it, retry at once with a fresh backoff
STABLE_S = 5.0
#: QoS 2 messages in flight at most. Mosquitto keeps at most ``max_inflight_messages`` (default 20)
#: incoming QoS 2 messages per client awaiting PUBREL. Observed with 2.0.11 and a 100-message window:
#: it answered PUBREC/PUBCOMP for all 1000 messages but delivered 200 (MQTT 3.1.1 cannot carry a
#: "quota exceeded" reason); with ``max_queued_messages 0`` it disconnected the client instead.
QOS2_MAX_INFLIGHT = 20

_OK = MQTTErrorCode.MQTT_ERR_SUCCESS
_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE


class _State(Enum):
    DOWN = "down"  # no socket; the next attempt is due at ``_next_attempt``
    CONNECTING = "connecting"  # socket open, CONNECT sent, waiting for CONNACK
    UP = "up"  # CONNACK accepted


class MqttSink(SinkBase):
    """Publish outboxes to an MQTT broker.

    Parameters
    ----------
    output
        The validated ``type: mqtt`` output of the scenario.
    host, port
        Override the host and port of ``output.url`` (the embedded broker uses this).
    log
        Receives one human-readable line per connection state change. Never receives credentials.
    """

    name = "mqtt"

    def __init__(
        self,
        output: MqttOutput,
        *,
        host: str | None = None,
        port: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.output = output
        self.host = host if host is not None else output.host
        self.port = port if port is not None else output.port
        self.qos = output.qos
        self.retain = output.retain
        self.client_id = output.client_id or f"metersim-{secrets.token_hex(6)}"
        self._log = log or _ignore
        self._client: mqtt.Client | None = None
        self._state = _State.DOWN
        self._closed = False
        self._disconnecting = False  # our own DISCONNECT is not a lost connection
        self._backoff_s = BACKOFF_START_S
        self._rate = output.max_rate_msg_s
        self._next_slot = 0.0  # monotonic time [s] at which the next batch may be published
        self._next_attempt = 0.0  # monotonic [s]
        self._connecting_since = 0.0  # monotonic [s]
        self._up_since = 0.0  # monotonic [s]
        self._down_since: float | None = None  # monotonic [s]; None while the broker is reachable
        self._last_reason = ""
        self._refusal: str | None = None  # CONNACK refusal of the current attempt
        self._connect_exc: BaseException | None = None  # socket/TLS failure of the current attempt

    # --- describing ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        """One line for the run summary, e.g. ``mqtt://127.0.0.1:1883 qos=1``."""
        scheme = "mqtts" if self.output.uses_tls else "mqtt"
        retain = " retain" if self.retain else ""
        return f"{scheme}://{self.address} qos={self.qos}{retain}"

    def __repr__(self) -> str:
        return f"MqttSink({self.describe()}, {self._state.value})"

    # --- the Sink protocol --------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and wait for the broker's CONNACK, up to ``connect_timeout_s``.

        Raises BrokerUnreachableError (refused, timed out, unknown host, CONNACK refusal) or
        TlsError (unusable TLS files, failed handshake).
        """
        if self._client is not None:
            return
        if self._closed:
            raise RuntimeError("MqttSink cannot be reopened after close()")
        client = self._make_client()
        self._client = client
        client.connect_async(self.host, self.port, self.output.keepalive_s)
        deadline = time.monotonic() + self.output.connect_timeout_s
        self._attempt()
        while self._state is _State.CONNECTING and time.monotonic() < deadline:
            self._io(min(STEP_S, max(0.0, deadline - time.monotonic())))
        if self._state is _State.UP:
            return
        self._client = None
        self._disconnecting = True
        _close_quietly(client)
        self._disconnecting = False
        raise self._open_error()

    def __enter__(self) -> MqttSink:
        self.open()
        return self

    def send(self, outbox: Outbox) -> None:
        """Publish every message of ``outbox``; block while the bounded buffer is full.

        Raises DeliveryError if the broker stays away longer than ``give_up_s``.
        """
        count = len(outbox)
        if count == 0:
            return
        if self._client is None:
            if self._closed:
                raise RuntimeError("send() after close()")
            self.open()
        topics = outbox.topics(self.output.topic)
        payloads = outbox.payloads
        if len(topics) != count or len(payloads) != count:
            raise ValueError(f"outbox of {count} messages has {len(topics)} topics and {len(payloads)} payloads")
        if self.qos:
            self._send_reliable(topics, payloads, count)
        else:
            self._send_qos0(topics, payloads, count)

    def poll(self) -> None:
        """Keep the connection alive between emissions of a paced run: pings, acks, reconnects."""
        if self._client is not None:
            self._service()

    def flush(self) -> None:
        """Wait until every accepted message is acknowledged (QoS >= 1) or written (QoS 0).

        Reconnects as needed, for up to ``drain_timeout_s``; then raises DeliveryError.
        """
        if self._client is None:
            return
        stats = self.stats
        deadline = time.monotonic() + self.output.drain_timeout_s
        while True:
            if self.qos == 0 and self._state is _State.UP:
                self._io(0.0)
            if stats.in_flight <= 0:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeliveryError(
                    f"{stats.in_flight} of {stats.accepted} MQTT messages were not acknowledged by the broker "
                    f"at {self.address} within drain_timeout_s={self.output.drain_timeout_s:g} s"
                )
            self._step(min(STEP_S, remaining))

    def close(self) -> None:
        """Flush, then disconnect cleanly. Safe to call twice; disconnects even if the flush fails."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            client, self._client = self._client, None
            if client is not None:
                self._disconnecting = True
                _close_quietly(client)
            self._state = _State.DOWN
            lost = self.stats.in_flight
            if lost > 0:
                self.stats.errors += lost

    # --- publishing ---------------------------------------------------------------------------------

    def _send_reliable(self, topics: list[str], payloads: list[bytes], count: int) -> None:
        """QoS 1/2: every rc except QUEUE_SIZE means paho stored the message (it re-sends it later)."""
        assert self._client is not None
        publish = self._client.publish
        qos, retain, stats, step = self.qos, self.retain, self.stats, self._step
        i = 0
        while i < count:
            end = min(i + SERVICE_EVERY, count)
            self._pace(end - i)
            start = i
            while i < end:
                if publish(topics[i], payloads[i], qos, retain).rc == _QUEUE_SIZE:
                    # The bounded buffer is full: wait for acknowledgements (or a reconnect), retry.
                    stats.accepted += i - start
                    start = i
                    step(STEP_S)
                    continue
                i += 1
            stats.accepted += i - start
            self._service()

    def _send_qos0(self, topics: list[str], payloads: list[bytes], count: int) -> None:
        """QoS 0: paho sends at once or not at all; a message not sent is retried after a reconnect."""
        assert self._client is not None
        publish = self._client.publish
        retain, stats = self.retain, self.stats
        i = 0
        while i < count:
            while self._state is not _State.UP:
                self._step(STEP_S)
            end = min(i + SERVICE_EVERY, count)
            self._pace(end - i)
            start = i
            while i < end and publish(topics[i], payloads[i], 0, retain).rc == _OK:
                i += 1
            stats.accepted += i - start
            self._service()

    def _pace(self, count: int) -> None:
        """Hold the publish rate at ``max_rate_msg_s``, servicing the connection while waiting."""
        if self._rate is None:
            return
        now = time.monotonic()
        # After an idle spell, allow at most a short burst rather than everything that was "saved".
        slot = max(self._next_slot, now - RATE_BURST_S)
        self._next_slot = slot + count / self._rate
        while (wait := slot - time.monotonic()) > 0:
            self._step(min(wait, STEP_S))

    # --- driving the connection -----------------------------------------------------------------

    def _service(self) -> None:
        """Non-blocking housekeeping between batches of publishes."""
        if self._state is _State.DOWN:
            self._check_give_up()
            if time.monotonic() >= self._next_attempt:
                self._attempt()
        elif self._state is _State.CONNECTING and self._connect_overdue():
            self._attempt_failed(f"no CONNACK within {self.output.connect_timeout_s:g} s")
        else:
            self._io(0.0)

    def _step(self, timeout_s: float) -> None:
        """Make progress, waiting up to ``timeout_s`` [s] for the network or the next reconnect."""
        if self._state is _State.DOWN:
            self._check_give_up()
            wait_s = self._next_attempt - time.monotonic()
            if wait_s > 0:
                time.sleep(min(wait_s, timeout_s))
                if time.monotonic() < self._next_attempt:
                    return
            self._attempt()
        elif self._state is _State.CONNECTING and self._connect_overdue():
            self._attempt_failed(f"no CONNACK within {self.output.connect_timeout_s:g} s")
        else:
            self._io(timeout_s)

    def _io(self, timeout_s: float) -> None:
        """Read acknowledgements, write what is pending and keep the connection alive."""
        client = self._client
        assert client is not None
        sock = client.socket()
        if sock is None:
            self._connection_lost(self._last_reason or "socket closed")
            return
        if timeout_s > 0 and not _ssl_pending(sock):
            with contextlib.suppress(OSError, ValueError):  # a closed socket; the read below reports it
                select.select([sock], [sock] if client.want_write() else [], [], timeout_s)
        rc = client.loop_read()
        if rc == _OK and client.want_write():
            rc = client.loop_write()
        if rc == _OK:
            rc = client.loop_misc()
        if rc != _OK or client.socket() is None:
            self._connection_lost(mqtt.error_string(rc) if rc != _OK else "socket closed")
        elif self.qos == 0 and not client.want_write():
            # Everything accepted so far has left paho; a whole batch is counted at once because
            # paho's per-message on_publish for QoS 0 costs about a fifth of a publish.
            stats = self.stats
            stats.acknowledged += stats.in_flight

    def _connect_overdue(self) -> bool:
        return time.monotonic() - self._connecting_since > self.output.connect_timeout_s

    def _attempt(self) -> None:
        """Open a socket and send CONNECT; the CONNACK arrives through ``_io``."""
        client = self._client
        assert client is not None
        if self.qos == 0:
            self._count_qos0_lost()
        self._state = _State.CONNECTING
        self._connecting_since = time.monotonic()
        self._refusal = None
        self._connect_exc = None
        try:
            rc = client.reconnect()
        except (OSError, ssl.CertificateError, ValueError) as exc:
            self._connect_exc = exc
            self._attempt_failed(_describe_os_error(exc, self.output.connect_timeout_s))
            return
        if rc != _OK and self._state is _State.CONNECTING:
            self._attempt_failed(mqtt.error_string(rc))

    def _attempt_failed(self, reason: str) -> None:
        self._state = _State.DOWN
        self._last_reason = reason
        if self._down_since is None:
            self._down_since = self._connecting_since
        self._next_attempt = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.output.reconnect_max_s)

    def _connection_lost(self, reason: str) -> None:
        """The socket is gone (reported by a loop call or by ``on_disconnect``)."""
        if self._state is _State.DOWN:
            return
        if self._state is _State.CONNECTING:
            self._attempt_failed(self._refusal or reason)
            return
        self._state = _State.DOWN
        self._last_reason = reason
        now = time.monotonic()
        self._down_since = now
        if now - self._up_since >= STABLE_S:
            self._backoff_s = BACKOFF_START_S
            self._next_attempt = now
        else:
            # The broker accepts us and then drops us: back off, rather than reconnect in a tight loop.
            self._next_attempt = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.output.reconnect_max_s)
        lost = ""
        if self.qos == 0:
            count = self._count_qos0_lost()
            lost = f", {count} QoS 0 messages lost" if count else ""
        self._log(f"mqtt: connection to {self.address} lost ({reason}){lost}, reconnecting")

    def _count_qos0_lost(self) -> int:
        """QoS 0 messages paho had not written yet are discarded by its reconnect."""
        stats = self.stats
        lost = stats.in_flight
        if lost > 0:
            stats.errors += lost
        return max(lost, 0)

    def _check_give_up(self) -> None:
        if self._down_since is None:
            return
        away_s = time.monotonic() - self._down_since
        if away_s <= self.output.give_up_s:
            return
        stats = self.stats
        raise DeliveryError(
            f"MQTT broker at {self.address} unreachable for {away_s:.0f} s (give_up_s={self.output.give_up_s:g}; "
            f"last error: {self._last_reason}); {stats.in_flight} of {stats.accepted} accepted messages "
            f"unacknowledged"
        )

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
        self._state = _State.UP
        self._up_since = time.monotonic()
        if self._down_since is not None:
            away_s = time.monotonic() - self._down_since
            self._down_since = None
            self._log(f"mqtt: reconnected to {self.address} after {away_s:.1f} s")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._disconnecting:
            return
        reason = "closed by the broker" if flags.is_disconnect_packet_from_server else "connection lost"
        self._connection_lost(reason)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        stats = self.stats
        stats.acknowledged += 1

    # --- setting up ---------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        output = self.output
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.connect_timeout = output.connect_timeout_s
        # Bounded: QUEUE_SIZE applies backpressure, and mids (16 bit) cannot wrap onto live ones.
        client.max_inflight_messages_set(
            min(output.max_inflight, QOS2_MAX_INFLIGHT) if self.qos == 2 else output.max_inflight
        )
        client.max_queued_messages_set(output.buffer_messages)
        username = _env(output.username_env, "username_env")
        password = _env(output.password_env, "password_env")
        if username is not None or password is not None:
            client.username_pw_set(username or "", password)
        if output.uses_tls:
            self._configure_tls(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        if self.qos:
            client.on_publish = self._on_publish
        return client

    def _configure_tls(self, client: mqtt.Client) -> None:
        tls = self.output.tls
        ca_file = tls.ca_file if tls else None
        cert_file = tls.cert_file if tls else None
        key_file = tls.key_file if tls else None
        insecure = bool(tls and tls.insecure)
        _check_tls_files(ca_file, cert_file, key_file)
        try:
            client.tls_set(
                ca_certs=ca_file,
                certfile=cert_file,
                keyfile=key_file,
                cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
            )
        except (OSError, ValueError) as exc:
            raise TlsError(f"cannot set up TLS: {_ssl_reason(exc)}") from None
        if insecure:
            client.tls_insecure_set(True)

    def _open_error(self) -> BrokerUnreachableError | TlsError:
        where = f"MQTT broker at {self.address}"
        exc = self._connect_exc
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            return TlsError(f"TLS handshake with {where} failed: {_ssl_reason(exc)}")
        if self._refusal is not None:
            return BrokerUnreachableError(f"{where} refused the connection: {self._refusal.split(': ', 1)[-1]}")
        if self._state is _State.CONNECTING:
            reason = f"no CONNACK within {self.output.connect_timeout_s:g} s"
        else:
            reason = self._last_reason or "connection closed before CONNACK"
            if reason in ("connection lost", mqtt.error_string(MQTTErrorCode.MQTT_ERR_CONN_LOST)):
                reason = "connection closed before CONNACK"
        return BrokerUnreachableError(f"cannot reach {where}: {reason}")


# --- helpers ----------------------------------------------------------------------------------------


def _ignore(_line: str) -> None:
    return None


def _env(name: str | None, field: str) -> str | None:
    """The value of the environment variable named by a config field; never logged."""
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"outputs.{field}: names ${name}, which is not set in the environment")
    return value


def _check_tls_files(ca_file: str | None, cert_file: str | None, key_file: str | None) -> None:
    """Load each TLS file on its own so that the error names the file that is wrong."""
    if ca_file is not None:
        _readable(ca_file, "tls.ca_file")
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ValueError) as exc:
            raise TlsError(f"tls.ca_file {ca_file}: not a usable PEM CA bundle ({_ssl_reason(exc)})") from None
    if cert_file is not None and key_file is not None:
        _readable(cert_file, "tls.cert_file")
        _readable(key_file, "tls.key_file")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            # A password callback that fails stops OpenSSL from prompting on the terminal.
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except (OSError, ValueError) as exc:
            raise TlsError(
                f"tls.cert_file {cert_file} / tls.key_file {key_file}: unusable certificate or key "
                f"(encrypted, malformed or not a pair: {_ssl_reason(exc)})"
            ) from None


def _no_password() -> bytes:
    raise ValueError("the key is encrypted; metersim needs an unencrypted key file")


def _readable(path: str, field: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TlsError(f"{field} {path}: {(exc.strerror or str(exc)).lower()}") from None


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _describe_os_error(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS: {_ssl_reason(exc)}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _ssl_pending(sock: object) -> bool:
    """Decrypted bytes buffered inside an SSL socket do not wake select()."""
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())


def _close_quietly(client: mqtt.Client) -> None:
    """Send DISCONNECT if a socket is open, then close it; never raises."""
    try:
        if client.socket() is not None:
            client.disconnect()
            if client.want_write():
                client.loop_write()
    except (OSError, ValueError):
        pass
    finally:
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
