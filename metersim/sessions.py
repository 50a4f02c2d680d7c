"""The connection lifecycle of a format that has one: Sparkplug B's edge node.

An MQTT output with ``format: sparkplug-b`` is one Sparkplug edge node (``sparkplug.edge_node`` in group
``sparkplug.group_id``), and its meters are the node's devices. :class:`SparkplugSession` plugs the
node into the MQTT sink's per-connection hooks (:class:`metersim.sinks.mqtt.session.Session`):

* before every connect attempt: a new ``bdSeq`` (Sparkplug 3.0: one per CONNECT) and the node's
  NDEATH, carrying it, registered as the will (QoS 1, not retained), so the broker announces the
  node's death as soon as the connection ends uncleanly (the publisher killed, the network gone);
* after each CONNACK: the NBIRTH (``seq`` 0, the same ``bdSeq``); every device is born again by a
  DBIRTH before its next DDATA;
* before a clean close: the NDEATH, published by the node itself.
"""

from __future__ import annotations

import time

from metersim.encoders.sparkplug import SparkplugEncoder
from metersim.sinks.mqtt.session import OwnMessage

WILL_QOS = 1  # Sparkplug 3.0: NDEATH as the will at QoS 1; births and data at QoS 0 or the output's


class SparkplugSession:
    """The edge node ``group_id``/``edge_node`` of ``encoder`` as the lifecycle of one connection."""

    def __init__(self, encoder: SparkplugEncoder, group_id: str, edge_node: str) -> None:
        self.encoder = encoder
        self.node = encoder.node(group_id, edge_node)
        self._attempts = 0

    def will(self, client_id: str) -> OwnMessage | None:
        if self._attempts:  # every CONNECT after the first is a new session
            self.encoder.reconnect()
        self._attempts += 1
        death = self.node.ndeath()
        return OwnMessage(death.topic, death.payload, WILL_QOS, False)

    def on_connect(self, client_id: str) -> list[OwnMessage]:
        return [OwnMessage(m.topic, m.payload, 0, False) for m in self.encoder.births(int(time.time()))]

    def on_close(self, client_id: str) -> list[OwnMessage]:
        death = self.node.ndeath()
        return [OwnMessage(death.topic, death.payload, WILL_QOS, False)]
