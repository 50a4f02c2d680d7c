"""Publish each reading as one MQTT message (paho-mqtt 2.x, MQTT 3.1.1 or 5).

The sink drives paho's network loop itself, in the caller's thread (faster than ``loop_start()``, and backpressure is
simple): a :class:`Connection` (connect, reconnect, give up), a :class:`Flow` (pace, publish, count) and a
:class:`Waiter` (sleep on the socket with a selector).

Delivery rules:

* QoS >= 1: an accepted message stays in the bounded buffer (``buffer_messages``) until the broker
  acknowledges it (QoS 2: PUBCOMP); paho re-sends it after a reconnect, at QoS 2 never more than the
  20-message window. Nothing is dropped: a full buffer makes :meth:`MqttSink.send` wait.
* QoS 0: a message counts as acknowledged once written to the socket; those still unwritten when the
  connection drops are lost and counted in ``stats.errors``.
* A broker that goes away is reconnected with exponential backoff, one log line per state change;
  after ``give_up_s`` without one the sink raises :class:`DeliveryError`.
* :meth:`MqttSink.interrupt` (any thread, a signal handler) ends every wait within ``STEP_S``: the
  connection is dropped, the unacknowledged are counted in ``stats.errors``, ``send()`` and
  ``flush()`` raise :class:`Interrupted`, ``close()`` returns at once (a TCP connect or TLS handshake
  under way still runs up to ``connect_timeout_s``).

MQTT 5 (``protocol: "5"``): every message carries the factory's Content Type, the outbox's user properties and
``message_expiry_s`` (:mod:`~metersim.sinks.mqtt.properties`). The first CONNECT starts clean, later ones resume the
session (kept ``session_expiry_s``, so QoS 2 resumes with PUBREL); a clean close ends it. Topic aliases are not used:
paho re-sends stored messages after a reconnect as published, and an alias is void on a new connection.

The retained status (``status_topic``) is one :class:`~metersim.sinks.mqtt.session.Session`; the caller may pass one
more (``session=``), whose will wins. :meth:`MqttSink.listen` subscribes to commands for the meters and
:meth:`MqttSink.respond` answers them (:mod:`~metersim.sinks.mqtt.listen`). This sink is ``connections: single``;
:class:`~metersim.sinks.mqtt.topology.ManyMqttSink` has many.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from metersim.config import MqttOutput
from metersim.errors import DeliveryError
from metersim.sinks.base import Interrupted, Outbox, SinkBase
from metersim.sinks.mqtt.client import new_client
from metersim.sinks.mqtt.connection import Connection, State
from metersim.sinks.mqtt.flow import STEP_S, Flow
from metersim.sinks.mqtt.listen import Deliver, Listener
from metersim.sinks.mqtt.loop import Waiter
from metersim.sinks.mqtt.properties import PublishProperties, connect_properties, end_session_properties
from metersim.sinks.mqtt.session import Lifecycle, Session
from metersim.sinks.mqtt.status import StatusSession

#: longest wait at a clean close for the broker to acknowledge the ``offline`` status [s]
OFFLINE_WAIT_S = 2.0


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
    content_type
        MQTT 5 Content Type of every payload (``application/json`` for ``format: json``); None for none.
    session
        A lifecycle besides the retained status (its will wins): :mod:`~metersim.sinks.mqtt.session`.
    """

    name = "mqtt"

    def __init__(
        self,
        output: MqttOutput,
        *,
        host: str | None = None,
        port: int | None = None,
        log: Callable[[str], None] | None = None,
        content_type: str | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__()
        self.output = output
        self.host = host if host is not None else output.host
        self.port = port if port is not None else output.port
        self.qos = output.qos
        self.retain = output.retain
        self.client_id = output.client_id or f"metersim-{secrets.token_hex(6)}"
        self.mqtt5 = output.protocol == "5"
        # Built once per user-property set, shared by every message of an outbox (None on 3.1.1).
        self._properties = PublishProperties(content_type, output.message_expiry_s) if self.mqtt5 else None
        self._log = log or _ignore
        self._warned_insecure = False
        self._conn: Connection | None = None
        self._losses_before = 0  # connections lost (after they were up) by connections now closed
        self._waiter: Waiter | None = None
        self._closed = False
        self._flow = Flow(
            self.stats,
            qos=self.qos,
            retain=self.retain,
            max_rate_msg_s=output.max_rate_msg_s,
            max_inflight=output.max_inflight,
            buffer_messages=output.buffer_messages,
            step=self._step,
            service=self._service,
            is_up=self._is_up,
        )
        sessions: list[Session] = [] if output.status_topic is None else [StatusSession(output.status_topic)]
        if session is not None:
            sessions.append(session)  # last: its will wins
        # None without sessions, so that a run without them does no lifecycle work at all
        self._lifecycle = Lifecycle(sessions, self.client_id, self._flow, mqtt5=self.mqtt5) if sessions else None
        self._listener: Listener | None = None  # commands to the meters (:meth:`listen`)
        self._client: mqtt.Client | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection(self) -> Connection | None:
        """The open connection (its state, socket and loss count), or None before open / after close."""
        return self._conn

    @property
    def reconnects(self) -> int:
        """Connections lost after they were up (each then retried), over the sink's life, closed ones too."""
        return self._losses_before + (self._conn.losses if self._conn is not None else 0)

    @property
    def topic(self) -> str:
        """The output's topic template: the topics of this sink's messages are rendered from it."""
        return self.output.topic

    def describe(self) -> str:
        """One line for the run summary, e.g. ``mqtt://127.0.0.1:1883 qos=1``."""
        scheme = "mqtts" if self.output.uses_tls else "mqtt"
        retain = " retain" if self.retain else ""
        version = " mqtt5" if self.mqtt5 else ""
        return f"{scheme}://{self.address} qos={self.qos}{retain}{version}"

    def __repr__(self) -> str:
        state = self._conn.state if self._conn is not None else State.DOWN
        return f"MqttSink({self.describe()}, {state.value})"

    def open(self) -> None:
        """Connect and wait for the broker's CONNACK, up to ``connect_timeout_s``. Raises BrokerUnreachableError
        (refused, timed out, unknown host, CONNACK refusal), TlsError (TLS files, handshake) or Interrupted."""
        if self._conn is not None:
            return
        if self._closed:
            raise RuntimeError("MqttSink cannot be reopened after close()")
        if self._interrupted:
            raise self._stop_now()
        conn = self._connect()
        waiter = Waiter()
        waiter.add(conn)
        self._conn, self._waiter = conn, waiter
        deadline = time.monotonic() + self.output.connect_timeout_s
        conn.start()
        while conn.state is State.CONNECTING and time.monotonic() < deadline and not self._interrupted:
            waiter.wait(min(STEP_S, max(0.0, deadline - time.monotonic())))
        if self._interrupted:
            raise self._stop_now()
        if conn.state is State.UP:
            return
        error = conn.open_error()
        self._conn = self._waiter = None
        conn.close()
        waiter.close()
        raise error

    def __enter__(self) -> MqttSink:
        self.open()
        return self

    def send(self, outbox: Outbox) -> None:
        """Publish every message of ``outbox``; block while the bounded buffer is full.

        The outbox's ``retain`` (None: the output's) and, on MQTT 5, its user properties apply to
        every message.

        Raises DeliveryError if the broker stays away longer than ``give_up_s``, and Interrupted
        after ``interrupt()`` (messages of ``outbox`` not yet taken then are not counted as accepted).
        """
        if self._interrupted:
            raise self._stop_now()
        count = len(outbox)
        if count == 0:
            return
        if self._conn is None:
            if self._closed:
                raise RuntimeError("send() after close()")
            self.open()
        topics = outbox.topics
        payloads = outbox.payloads
        if len(topics) != count or len(payloads) != count:
            raise ValueError(f"outbox of {count} messages has {len(topics)} topics and {len(payloads)} payloads")
        properties = None if self._properties is None else self._properties.of(outbox.user_properties)
        self._flow.send(topics, payloads, outbox.retain, properties)

    def listen(self, topic_filter: str, qos: int, deliver: Deliver) -> None:
        """Subscribe to ``topic_filter`` on every connection; ``deliver`` gets each message (on this thread)."""
        self._listener = Listener(topic_filter, qos, deliver, self._flow, mqtt5=self.mqtt5)
        if self._conn is not None and self._client is not None:
            self._conn.read_burst = True  # (later connections: ``_connect``)
            self._listener.attach(self._client)
            if self._is_up():
                self._listener.connected(self._client)

    def respond(self, topic: str, payload: bytes, qos: int, correlation: bytes | None) -> None:
        """Publish an answer to a message :meth:`listen` delivered (not counted as a reading)."""
        if self._listener is not None and not self._interrupted:
            self._listener.respond(topic, payload, qos, correlation)

    def poll(self) -> None:
        """Keep the connection alive between emissions of a paced run: pings, acks, reconnects."""
        if self._conn is not None and not self._interrupted:
            self._service()

    def flush(self) -> None:
        """Wait until every accepted message is acknowledged (QoS >= 1) or written (QoS 0), reconnecting as
        needed for up to ``drain_timeout_s``; then raises DeliveryError. Raises Interrupted after ``interrupt()``."""
        if self._interrupted:
            raise self._stop_now()
        conn = self._conn
        if conn is None:
            return
        stats = self.stats
        deadline = time.monotonic() + self.output.drain_timeout_s
        while True:
            if self.qos == 0 and conn.state is State.UP:
                conn.service()
            if stats.in_flight <= 0 and not (self._listener is not None and self._listener.pending):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeliveryError(
                    f"{stats.in_flight} of {stats.accepted} MQTT messages were not acknowledged by the broker "
                    f"at {self.address} within drain_timeout_s={self.output.drain_timeout_s:g} s"
                )
            self._step(min(STEP_S, remaining))

    def close(self) -> None:
        """Flush, publish the ``offline`` status, then disconnect cleanly. Safe to call twice;
        disconnects even if the flush fails.

        After ``interrupt()`` (also one that arrives during the flush): drops the connection at once,
        counts what is unacknowledged in ``stats.errors``, and raises nothing.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._interrupted:
                self._stop_now()
            else:
                self.flush()
        except Interrupted:
            pass  # flush() has dropped the connection, and the counts are final
        finally:
            conn, waiter = self._conn, self._waiter
            self._conn = self._waiter = None
            if conn is not None:
                self._losses_before += conn.losses
                if waiter is not None and not self._interrupted and self._say_offline(conn, waiter):
                    conn.close(end_session_properties() if self.mqtt5 else None)
                else:
                    conn.abort()  # no DISCONNECT: the broker publishes the will
            if waiter is not None:
                waiter.close()
            lost = self.stats.in_flight
            if lost > 0:
                self.stats.errors += lost

    def _say_offline(self, conn: Connection, waiter: Waiter) -> bool:
        """Publish the retained ``offline`` status and wait briefly for its PUBACK; False if it did not come.

        Then the caller drops the connection without DISCONNECT, so that the broker publishes the
        will (also ``offline``) instead: a clean DISCONNECT would discard it and leave ``online``.
        """
        lifecycle = self._lifecycle
        if lifecycle is None or conn.state is not State.UP:
            return True  # no session, or the connection is already gone (and the will was published)
        if not lifecycle.closing():
            return False
        deadline = time.monotonic() + min(OFFLINE_WAIT_S, self.output.drain_timeout_s)
        # Bounded: the deadline, the interrupt flag and the connection's state end it.
        while self._flow.own_pending():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or conn.state is not State.UP or self._interrupted:
                return False
            waiter.wait(min(STEP_S, remaining))
        return True

    def _came_up(self) -> None:
        """At each accepted CONNACK: the retained ``online`` status, the session's messages, subscriptions."""
        if self._lifecycle is not None:
            self._lifecycle.connected()
        if self._listener is not None and self._client is not None:
            self._listener.connected(self._client)

    # --- driving the connection (the flow calls these while it waits) -------------------------------
    def _is_up(self) -> bool:
        return self._conn is not None and self._conn.state is State.UP

    def _service(self) -> None:
        """Non-blocking housekeeping between batches of publishes."""
        conn = self._conn
        assert conn is not None
        self._check_stop(conn)
        conn.service()
        self._retry_own()
        self._flow.pump()

    def _step(self, timeout_s: float) -> None:
        """Make progress, waiting up to ``timeout_s`` [s] for the network or the next reconnect."""
        conn, waiter = self._conn, self._waiter
        assert conn is not None and waiter is not None
        self._check_stop(conn)
        waiter.wait(timeout_s)
        self._retry_own()  # before the flow's own retry takes the room an acknowledgement made
        self._flow.pump()

    def _retry_own(self) -> None:
        if self._lifecycle is not None:
            self._lifecycle.retry()
        if self._listener is not None:
            self._listener.retry()

    def _check_stop(self, conn: Connection) -> None:
        """Raise Interrupted after ``interrupt()``, DeliveryError once the connection gave up."""
        if self._interrupted:
            raise self._stop_now()
        if not conn.gave_up:
            return
        stats = self.stats
        raise DeliveryError(
            f"MQTT broker at {self.address} unreachable for {conn.away_s:.0f} s "
            f"(give_up_s={self.output.give_up_s:g}; last error: {conn.last_reason}); "
            f"{stats.in_flight} of {stats.accepted} accepted messages unacknowledged"
        )

    def _stop_now(self) -> Interrupted:
        """Drop the connection, count every unacknowledged message as an error; the error to raise."""
        conn, waiter = self._conn, self._waiter
        self._conn = self._waiter = None
        if conn is not None:
            self._losses_before += conn.losses
            conn.abort()
        if waiter is not None:
            waiter.close()
        self._flow.abandon()
        stats = self.stats
        stats.errors += max(0, stats.in_flight)
        return Interrupted(
            f"{self.describe()} interrupted: {stats.errors} of {stats.accepted} accepted messages "
            f"not acknowledged by the broker (counted as errors)"
        )

    def _connect(self) -> Connection:
        """A configured paho client (credentials, TLS, bounded queues) inside a new Connection."""
        output = self.output
        client = new_client(output, self.client_id)
        if output.tls is not None and output.tls.insecure and not self._warned_insecure:
            self._warned_insecure = True
            self._log(f"mqtt: warning: tls.insecure is set: the certificate of {self.address} is not verified")
        self._flow.attach(client)
        self._client = client
        if self._listener is not None:
            self._listener.attach(client)
        qos0 = self.qos == 0
        conn = Connection(
            client,
            self.host,
            self.port,
            keepalive_s=output.keepalive_s,
            connect_timeout_s=output.connect_timeout_s,
            reconnect_max_s=output.reconnect_max_s,
            give_up_s=output.give_up_s,
            log=self._log,
            on_discard=self._flow.discarded if qos0 else None,
            on_drained=self._flow.drained if qos0 else None,
            on_up=self._came_up,
            before_connect=None if self._lifecycle is None else self._lifecycle.before_connect,
            connect_properties=connect_properties(output.session_expiry_s) if self.mqtt5 else None,
            tls=output.uses_tls,
            client_cert=output.tls is not None and output.tls.cert_file is not None,
        )
        conn.read_burst = self._listener is not None
        return conn


def _ignore(_line: str) -> None:
    return None
