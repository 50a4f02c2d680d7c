"""Messages *to* the meters: one subscription on the sink's connection, and the answers back.

The sink subscribes again after every CONNACK (a resumed session keeps it, a clean one does not),
hands each message to ``deliver`` from paho's network loop, which runs on the caller's thread, and
publishes answers as its own messages (never counted as readings), retrying those paho had no room
for after each wait. On MQTT 5 the subscription sets No Local (the answers never come back to us)
and an answer carries the request's Correlation Data and Content Type ``application/json``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from metersim.sinks.mqtt.properties import new_properties
from metersim.sinks.mqtt.session import OwnPublisher

#: what a listener receives: topic, payload, MQTT 5 Response Topic, MQTT 5 Correlation Data
Deliver = Callable[[str, bytes, "str | None", "bytes | None"], None]


class _Answer(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    correlation: bytes | None


class Listener:
    """One topic filter and its handler on one connection."""

    def __init__(self, topic_filter: str, qos: int, deliver: Deliver, publisher: OwnPublisher, *, mqtt5: bool) -> None:
        self.topic_filter, self.qos, self.deliver = topic_filter, qos, deliver
        self._publisher, self._mqtt5 = publisher, mqtt5
        self._pending: deque[_Answer] = deque()

    def attach(self, client: mqtt.Client) -> None:
        """Take ``client``'s incoming messages."""
        client.on_message = self._on_message

    def connected(self, client: mqtt.Client) -> None:
        """At each accepted CONNACK: subscribe."""
        if self._mqtt5:
            client.subscribe(self.topic_filter, options=SubscribeOptions(qos=self.qos, noLocal=True))
        else:
            client.subscribe(self.topic_filter, self.qos)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        props = getattr(message, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self.deliver(message.topic, bytes(message.payload), response_topic, correlation)

    def respond(self, topic: str, payload: bytes, qos: int, correlation: bytes | None) -> None:
        """Publish an answer now, or as soon as paho has room."""
        self._pending.append(_Answer(topic, payload, qos, correlation))
        self.retry()

    def retry(self) -> None:
        pending = self._pending
        while pending:
            answer = pending[0]
            props = None
            if self._mqtt5:
                props = new_properties(PacketTypes.PUBLISH)
                props.ContentType = "application/json"
                if answer.correlation is not None:
                    props.CorrelationData = answer.correlation
            if not self._publisher.publish_own(answer.topic, answer.payload, answer.qos, False, props):
                return
            pending.popleft()

    @property
    def pending(self) -> bool:
        """Whether answers wait for room in paho's queue."""
        return bool(self._pending)
