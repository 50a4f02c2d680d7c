"""The verifier's MQTT subscriber: a persistent QoS 1 session that records every message it receives.

The one module of :mod:`metersim.verify` that imports paho. The session is persistent (MQTT 3.1.1
``clean_session`` false, a fixed client id), so a broker with persistence keeps the subscription and
queues what is published while the subscriber or the broker itself is away; paho's own loop thread
reconnects with backoff, and every connect re-subscribes (harmless with a session present, needed
without one). Every paho return code is checked; failures become our errors or counters.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from metersim.errors import BrokerUnreachableError, MetersimError
from metersim.verify.reconcile import Arrival

_STEP_S = 0.05
#: the longest pause between reconnect attempts [s]
RECONNECT_MAX_S = 5


def topic_filter(template: str) -> str:
    """A topic template as a subscription: every level that holds a ``{field}`` becomes ``+``."""
    return "/".join("+" if "{" in level else level for level in template.split("/"))


class Subscriber:
    """Subscribes ``filters`` at ``qos`` as ``client_id`` and queues every message as an :class:`Arrival`.

    ``connects``, ``disconnects`` and ``errors`` count what happened to the session; ``session_present``
    says whether the broker had kept the session at the last connect.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        filters: Sequence[str],
        *,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        tls: Any = None,
        use_tls: bool = False,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.filters, self.qos = list(filters), qos
        self.keepalive_s, self.connect_timeout_s = keepalive_s, connect_timeout_s
        self.arrivals: queue.SimpleQueue[Arrival] = queue.SimpleQueue()
        self.connects = self.disconnects = 0
        self.errors: list[str] = []
        self.session_present = False
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._started = False
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if use_tls:
            from metersim.sinks.mqtt.tls import configure_tls

            configure_tls(client, tls)
        client.reconnect_delay_set(1, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._client = client

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Subscriber:
        """Connect, subscribe, and wait for the SUBACK, up to ``connect_timeout_s``.

        Raises BrokerUnreachableError (refused, timed out, unknown host, CONNACK refusal) or
        MetersimError (the broker refused a subscription).
        """
        try:
            rc = self._client.connect(self.host, self.port, self.keepalive_s)
        except (OSError, socket.gaierror) as exc:
            raise BrokerUnreachableError(f"mqtt://{self.address}: {_reason(exc)}") from exc
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise BrokerUnreachableError(f"mqtt://{self.address}: {mqtt.error_string(rc)}")
        rc = self._client.loop_start()
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise MetersimError(f"mqtt: cannot start the network loop: {mqtt.error_string(rc)}")
        self._started = True
        deadline = time.monotonic() + self.connect_timeout_s
        while time.monotonic() < deadline and not self._subscribed.is_set() and self._refused is None:
            time.sleep(_STEP_S)
        if self._refused is not None:
            self.stop()
            raise BrokerUnreachableError(f"mqtt://{self.address}: {self._refused}")
        if not self._subscribed.is_set():
            self.stop()
            raise BrokerUnreachableError(
                f"mqtt://{self.address}: no CONNACK and SUBACK within {self.connect_timeout_s:g} s"
            )
        return self

    def drain(self) -> list[Arrival]:
        """Every message received since the last call, in arrival order."""
        out = []
        while True:
            try:
                out.append(self.arrivals.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop the loop thread. Safe to call twice."""
        if not self._started:
            return
        self._started = False
        rc = self._client.disconnect()
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.errors.append(f"disconnect: {mqtt.error_string(rc)}")
        rc = self._client.loop_stop()
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_INVAL):
            self.errors.append(f"loop_stop: {mqtt.error_string(rc)}")

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- paho callbacks (its loop thread) --------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the connection: {reason}"
            self.errors.append(self._refused)
            return
        self.connects += 1
        self.session_present = bool(flags.session_present)
        rc, _mid = client.subscribe([(f, self.qos) for f in self.filters])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self.errors.append(f"subscribe: {mqtt.error_string(rc)}")

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        failed = [f"{f} ({r})" for f, r in zip(self.filters, reasons) if r.is_failure]
        if failed:
            self._refused = f"the broker refused the subscription(s) {', '.join(failed)}"
            self.errors.append(self._refused)
            return
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.arrivals.put(Arrival(message.topic, bytes(message.payload), time.time()))

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, properties: Any) -> None:
        if self._started:
            self.disconnects += 1


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
