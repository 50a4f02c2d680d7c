"""The MQTT sink: the only package that imports paho.

``connection`` (one client's state machine), ``loop`` (waiting on many sockets with a selector),
``flow`` (pacing, backpressure, counting), ``tls`` (TLS files and failures) and ``sink`` (the
Sink protocol over them).
"""

from metersim.sinks.mqtt.connection import Connection, State
from metersim.sinks.mqtt.loop import Waiter
from metersim.sinks.mqtt.sink import MqttSink

__all__ = ["Connection", "MqttSink", "State", "Waiter"]
