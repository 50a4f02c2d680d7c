"""Publish each reading as one MQTT message (paho-mqtt 2.x, MQTT v3.1.1).

The sink drives paho's network loop itself, in the caller's thread, instead of ``loop_start()``:
the measured publish rate is higher without the extra thread, and backpressure is simple when the
same thread that publishes also services the socket. It ties together a :class:`Connection`
(connect, reconnect, give up), a :class:`Flow` (pace, publish, count) and a :class:`Waiter`
(sleep on the socket with a selector).

Delivery rules:

* QoS >= 1: an accepted message stays in the bounded buffer (``buffer_messages``: paho's out-queue,
  and at QoS 2 also the flow's backlog) until the broker acknowledges it (QoS 2: PUBCOMP); paho
  re-sends it after a reconnect, at QoS 2 never more than the 20-message window. Nothing is dropped:
  when the buffer is full, :meth:`MqttSink.send` services the connection (and reconnects) until there
  is room.
* QoS 0: a message counts as acknowledged once it has been written to the socket. Messages still
  waiting to be written when the connection drops are lost and counted in ``stats.errors``.
* The broker may go away mid-run: the sink reconnects with exponential backoff and logs one line per
  state change. After ``give_up_s`` without a broker it raises :class:`DeliveryError`.
* :meth:`MqttSink.interrupt` (from any thread or a signal handler) ends every wait within ``STEP_S``:
  the connection is dropped, every accepted message not yet acknowledged is counted in
  ``stats.errors``, ``send()`` and ``flush()`` raise :class:`Interrupted`, and ``close()`` returns at
  once. (A connection attempt already under way, a TCP connect or TLS handshake, still runs to its
  end, up to ``connect_timeout_s``; to a refusing or local broker that is immediate.)
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from metersim.config import MqttOutput
from metersim.errors import ConfigError, DeliveryError
from metersim.sinks.base import Interrupted, Outbox, SinkBase
from metersim.sinks.mqtt.connection import Connection, State
from metersim.sinks.mqtt.flow import STEP_S, Flow
from metersim.sinks.mqtt.loop import Waiter
from metersim.sinks.mqtt.tls import configure_tls


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
        self._warned_insecure = False
        self._conn: Connection | None = None
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

    # --- describing ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connection(self) -> Connection | None:
        """The open connection (its state, socket and loss count), or None before open / after close."""
        return self._conn

    @property
    def topic(self) -> str:
        """The output's topic template: the topics of this sink's messages are rendered from it."""
        return self.output.topic

    def describe(self) -> str:
        """One line for the run summary, e.g. ``mqtt://127.0.0.1:1883 qos=1``."""
        scheme = "mqtts" if self.output.uses_tls else "mqtt"
        retain = " retain" if self.retain else ""
        return f"{scheme}://{self.address} qos={self.qos}{retain}"

    def __repr__(self) -> str:
        state = self._conn.state if self._conn is not None else State.DOWN
        return f"MqttSink({self.describe()}, {state.value})"

    # --- the Sink protocol --------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and wait for the broker's CONNACK, up to ``connect_timeout_s``.

        Raises BrokerUnreachableError (refused, timed out, unknown host, CONNACK refusal),
        TlsError (unusable TLS files, failed handshake) or Interrupted.
        """
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
        self._flow.send(topics, payloads)

    def poll(self) -> None:
        """Keep the connection alive between emissions of a paced run: pings, acks, reconnects."""
        if self._conn is not None and not self._interrupted:
            self._service()

    def flush(self) -> None:
        """Wait until every accepted message is acknowledged (QoS >= 1) or written (QoS 0).

        Reconnects as needed, for up to ``drain_timeout_s``; then raises DeliveryError. Raises
        Interrupted after ``interrupt()``.
        """
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
        """Flush, then disconnect cleanly. Safe to call twice; disconnects even if the flush fails.

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
                conn.close()
            if waiter is not None:
                waiter.close()
            lost = self.stats.in_flight
            if lost > 0:
                self.stats.errors += lost

    # --- driving the connection (the flow calls these while it waits) -------------------------------

    def _is_up(self) -> bool:
        return self._conn is not None and self._conn.state is State.UP

    def _service(self) -> None:
        """Non-blocking housekeeping between batches of publishes."""
        conn = self._conn
        assert conn is not None
        self._check_stop(conn)
        conn.service()
        self._flow.pump()

    def _step(self, timeout_s: float) -> None:
        """Make progress, waiting up to ``timeout_s`` [s] for the network or the next reconnect."""
        conn, waiter = self._conn, self._waiter
        assert conn is not None and waiter is not None
        self._check_stop(conn)
        waiter.wait(timeout_s)
        self._flow.pump()

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

    # --- setting up ---------------------------------------------------------------------------------

    def _connect(self) -> Connection:
        """A configured paho client (credentials, TLS, bounded queues) inside a new Connection."""
        output = self.output
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        # Named environment variables win over credentials in the URL (mqtt://user:pass@host), as
        # mosquitto_pub's -u/-P win over -L; neither is ever logged.
        username = _env(output.username_env, "username_env")
        password = _env(output.password_env, "password_env")
        if output.username_env is None:
            username = output.url_username
        if output.password_env is None:
            password = output.url_password
        if username is not None or password is not None:
            client.username_pw_set(username or "", password)
        if output.uses_tls:
            configure_tls(client, output.tls)
            if output.tls is not None and output.tls.insecure and not self._warned_insecure:
                self._warned_insecure = True
                self._log(f"mqtt: warning: tls.insecure is set: the certificate of {self.address} is not verified")
        self._flow.attach(client)
        qos0 = self.qos == 0
        return Connection(
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
            tls=output.uses_tls,
            client_cert=output.tls is not None and output.tls.cert_file is not None,
        )


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
