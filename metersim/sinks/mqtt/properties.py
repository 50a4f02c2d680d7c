"""MQTT 5 properties of the sink's packets: CONNECT (session expiry), PUBLISH, DISCONNECT.

On MQTT 3.1.1 there are no properties: every function here returns None and nothing is sent, so a
3.1.1 run carries exactly the packets it carried before MQTT 5 existed in metersim.

PUBLISH properties are built once per distinct set of user properties (in practice once per meter
group) and shared by every message of an outbox: paho keeps a reference to them with each stored
message (to re-send it after a reconnect) and never changes them, and building a ``Properties``
object costs about as much as a publish. paho packs the properties of each PUBLISH it writes, so
they are packed once, when built, and paho gets the bytes (:class:`_Packed`).
"""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from metersim.sinks.base import UserProperties

#: distinct user-property sets kept built; a fleet has a handful of groups, so this is never reached
#: in practice, and beyond it the cache is simply emptied (bounded memory, no eviction order needed)
CACHE_MAX = 1024


class PublishProperties:
    """The PUBLISH properties of one MQTT 5 sink: its fixed ones plus each outbox's user properties.

    Parameters
    ----------
    content_type
        The MQTT 5 Content Type of every payload (e.g. ``application/json``); None to send none.
    message_expiry_s
        The Message Expiry Interval [s]; None for messages that never expire.
    """

    def __init__(self, content_type: str | None, message_expiry_s: int | None) -> None:
        self.content_type = content_type
        self.message_expiry_s = message_expiry_s
        self._built: dict[UserProperties, Properties | None] = {}

    def of(self, user_properties: UserProperties) -> Properties | None:
        """The properties for messages with ``user_properties``; None when there is nothing to send."""
        built = self._built.get(user_properties, self)  # ``self``: not built yet (None is a valid result)
        if built is not self:
            return built  # type: ignore[return-value]
        if len(self._built) >= CACHE_MAX:
            self._built.clear()
        properties = self._build(user_properties)
        self._built[user_properties] = properties
        return properties

    def _build(self, user_properties: UserProperties) -> Properties | None:
        if self.content_type is None and self.message_expiry_s is None and not user_properties:
            return None
        properties = _Packed(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if self.content_type is not None:
            properties.ContentType = self.content_type
        if self.message_expiry_s is not None:
            properties.MessageExpiryInterval = self.message_expiry_s
        if user_properties:
            # paho appends on each assignment of a list; one assignment carries them all, in order
            properties.UserProperty = list(user_properties)
        return properties.freeze()


class _Packed(Properties):
    """Properties that are packed once: after :meth:`freeze`, ``pack()`` returns the same bytes.

    paho calls ``pack()`` for every PUBLISH it writes (re-sends included); packing a few user
    properties in pure Python costs a sizeable share of a publish. Nothing may be set after freezing.
    """

    def freeze(self) -> _Packed:
        # object.__setattr__: Properties.__setattr__ accepts property names only
        object.__setattr__(self, "_frozen", super().pack())  # type: ignore[no-untyped-call]
        return self

    def pack(self) -> bytes:
        frozen: bytes | None = self.__dict__.get("_frozen")
        return frozen if frozen is not None else super().pack()  # type: ignore[no-untyped-call]


def connect_properties(session_expiry_s: int) -> Properties:
    """CONNECT: keep the session for ``session_expiry_s`` [s] after the connection is lost."""
    properties = new_properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    return properties


def end_session_properties() -> Properties:
    """DISCONNECT at a clean close: end the session now (Session Expiry Interval 0).

    A publisher's session holds nothing worth keeping once everything is acknowledged, and a broker
    would otherwise keep one per run (random client ids) for ``session_expiry_s``.
    """
    properties = new_properties(PacketTypes.DISCONNECT)
    properties.SessionExpiryInterval = 0
    return properties


def new_properties(packet_type: int) -> Properties:
    """An empty paho ``Properties`` for ``packet_type`` (a :class:`PacketTypes` value)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped
