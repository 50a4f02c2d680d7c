"""Per-connection session hooks: a will before each connect, own messages after CONNACK and before close.

A format with a lifecycle (Sparkplug B's NBIRTH/NDEATH and ``bdSeq``, the retained online/offline
status) plugs in through :class:`Session` without the sink knowing it: the object is passed to the
sink (``MqttSink(..., session=...)``), the sink calls it per connection, and publishes what it returns
as its own messages, which are never counted as readings.

* :meth:`Session.will` is asked before *every* connect attempt (the first and each reconnect), so a
  session may change its will per attempt (Sparkplug's ``bdSeq``); None: no will.
* :meth:`Session.on_connect` messages are published right after each accepted CONNACK.
* :meth:`Session.on_close` messages are published just before a clean DISCONNECT (which makes the
  broker discard the will); the sink waits briefly for their acknowledgement, and drops the
  connection without DISCONNECT if it does not come, so that the will is published instead.

With several sessions on one connection (the output's retained status and the caller's extra one),
:class:`Lifecycle` combines them: the *extra* session's will wins when it has one (the status then
keeps only its ``online``/``offline`` publishes), and the messages of each hook are published in
session order, the status first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from metersim.sinks.mqtt.properties import new_properties


class OwnMessage(NamedTuple):
    """A message of the sink's own (not a reading): topic, payload, QoS, retain, MQTT 5 Content Type."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    content_type: str | None = None  # sent on MQTT 5 only


class Session(Protocol):
    """The lifecycle of what one connection (identified by its MQTT client id) stands for."""

    def will(self, client_id: str) -> OwnMessage | None:
        """The last will to register before the next connect attempt; None for none."""

    def on_connect(self, client_id: str) -> list[OwnMessage]:
        """Messages to publish after each accepted CONNACK (the connection is up again)."""

    def on_close(self, client_id: str) -> list[OwnMessage]:
        """Messages to publish just before a clean DISCONNECT."""


class OwnPublisher(Protocol):
    """What the lifecycle needs from the flow (:meth:`~metersim.sinks.mqtt.flow.Flow.publish_own`)."""

    def publish_own(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties | None
    ) -> bool: ...


class Lifecycle:
    """Drive the sessions of one connection (one paho client with client id ``client_id``).

    Parameters
    ----------
    sessions
        In publishing order (the status first); the *last* session with a will wins the will.
    publisher
        Publishes own messages; refuses (False) when paho has no room, and :meth:`retry` tries again.
    mqtt5
        Whether Content Types are sent (as MQTT 5 properties).
    """

    def __init__(self, sessions: Sequence[Session], client_id: str, publisher: OwnPublisher, *, mqtt5: bool) -> None:
        self.sessions = tuple(sessions)
        self.client_id = client_id
        self._publisher = publisher
        self._mqtt5 = mqtt5
        self._pending: deque[OwnMessage] = deque()  # due, but paho had no room for them yet
        self._properties: dict[tuple[int, str], Properties] = {}  # (packet type, content type) -> built once

    def before_connect(self, client: mqtt.Client) -> None:
        """Register the will of this attempt on ``client`` (the will travels in CONNECT)."""
        will = None
        for session in self.sessions:
            will = session.will(self.client_id) or will  # the last one that has a will wins
        if will is None:
            client.will_clear()
            return
        props = self._props(PacketTypes.WILLMESSAGE, will.content_type)
        client.will_set(will.topic, will.payload, will.qos, will.retain, props)

    def connected(self) -> None:
        """At each accepted CONNACK: queue every session's ``on_connect`` messages and publish what fits."""
        self._pending.clear()  # what an earlier connection did not get out is stale now
        for session in self.sessions:
            self._pending.extend(session.on_connect(self.client_id))
        self.retry()

    def retry(self) -> None:
        """Publish pending own messages while paho has room (the sink calls this after each wait)."""
        pending = self._pending
        while pending:
            if not self._publish(pending[0]):
                return
            pending.popleft()

    @property
    def pending(self) -> bool:
        """Whether own messages are due that paho had no room for yet."""
        return bool(self._pending)

    def closing(self) -> bool:
        """Before a clean DISCONNECT: publish every ``on_close`` message; False if paho had no room."""
        self._pending.clear()
        ok = True
        for session in self.sessions:
            for message in session.on_close(self.client_id):
                ok = self._publish(message) and ok
        return ok

    def _publish(self, message: OwnMessage) -> bool:
        props = self._props(PacketTypes.PUBLISH, message.content_type)
        return self._publisher.publish_own(message.topic, message.payload, message.qos, message.retain, props)

    def _props(self, packet_type: int, content_type: str | None) -> Properties | None:
        if not self._mqtt5 or content_type is None:
            return None
        key = (packet_type, content_type)
        built = self._properties.get(key)
        if built is None:
            built = new_properties(packet_type)
            built.ContentType = content_type
            self._properties[key] = built
        return built
