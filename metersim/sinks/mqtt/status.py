"""The retained online/offline status of each connection, with ``offline`` as its last will.

Payloads (UTF-8 text, QoS 1, retained, on the output's ``status_topic`` rendered with the
connection's client id; on MQTT 5 with Content Type ``text/plain``):

* ``online``: published at every CONNACK, so a (re)connect shows at once (when paho's bounded
  queue is full of readings to re-send, as soon as an acknowledgement makes room);
* ``offline``: registered as the will, so the broker publishes it as soon as the connection ends
  without a DISCONNECT (the process was killed, the network failed, the keepalive ran out, the run
  was interrupted: the sink then drops its connection), and published by the sink itself just
  before a clean DISCONNECT (which suppresses the will). Should that ``offline`` not be
  acknowledged within ``OFFLINE_WAIT_S``, the sink drops the connection instead, and the will says it.

A subscriber sees the current state on subscribing, because both are retained. The status messages
are the sink's own: they are not counted as readings (accepted, acknowledged, errors).

:class:`StatusSession` is one :class:`~metersim.sinks.mqtt.session.Session`: when the caller passes
another session that has a will of its own (Sparkplug's NDEATH), that will wins, and the status keeps
only its ``online``/``offline`` publishes.
"""

from __future__ import annotations

from metersim.sinks.mqtt.session import OwnMessage

ONLINE = b"online"
OFFLINE = b"offline"
#: QoS of both status messages: the broker stores the will and the retained status at this QoS
STATUS_QOS = 1
CONTENT_TYPE = "text/plain"


class StatusSession:
    """The status of every connection of one output; ``template`` is its ``status_topic`` (field {client_id})."""

    def __init__(self, template: str) -> None:
        self.template = template

    def will(self, client_id: str) -> OwnMessage | None:
        return self._message(client_id, OFFLINE)

    def on_connect(self, client_id: str) -> list[OwnMessage]:
        return [self._message(client_id, ONLINE)]

    def on_close(self, client_id: str) -> list[OwnMessage]:
        return [self._message(client_id, OFFLINE)]

    def _message(self, client_id: str, payload: bytes) -> OwnMessage:
        return OwnMessage(self.template.format(client_id=client_id), payload, STATUS_QOS, True, CONTENT_TYPE)
