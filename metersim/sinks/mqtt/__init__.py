"""The MQTT sink: the only package that imports paho.

``connection`` (one client's state machine), ``loop`` (waiting on many sockets with a selector),
``flow`` (pacing, backpressure, counting), ``tls`` (TLS files and failures) and ``sink`` (the
Sink protocol over them); for many connections ``selector_loop`` (one epoll loop over thousands of
clients), ``peer`` (one sender's connection) and ``topology`` (the sink over them); ``session`` (the
per-connection lifecycle hook) and ``status`` (the retained status, one such session).
"""

from metersim.sinks.mqtt.connection import Connection, State
from metersim.sinks.mqtt.loop import Waiter
from metersim.sinks.mqtt.session import OwnMessage, Session
from metersim.sinks.mqtt.sink import MqttSink
from metersim.sinks.mqtt.topology import ManyMqttSink

__all__ = ["Connection", "ManyMqttSink", "MqttSink", "OwnMessage", "Session", "State", "Waiter"]
