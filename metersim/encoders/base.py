"""The Encoder protocol and the registry of wire formats, chosen per output with ``format:``.

An encoder turns a :class:`~metersim.records.ReadingBatch` into messages: :meth:`Encoder.encode`
gives one payload per message and :meth:`Encoder.topics` one topic per message from the output's
template. The two are separate so that a file output never renders topics, and an output that only
counts (``discard``) calls neither.

Meter events (an :class:`~metersim.records.EventBatch`) have their own encoders, :class:`EventEncoder`,
registered per format in :data:`EVENT_ENCODERS`; a format without one carries no events.
"""

from __future__ import annotations

from typing import Protocol

from metersim.encoders.events import JsonEventEncoder
from metersim.encoders.json import JsonEncoder
from metersim.records import EventBatch, ReadingBatch


class Encoder(Protocol):
    """Makes the messages of one wire format."""

    format: str

    def encode(self, batch: ReadingBatch) -> list[bytes]:
        """One payload per message."""

    def topics(self, batch: ReadingBatch, template: str) -> list[str]:
        """One MQTT topic per message, rendered from ``template`` (e.g. ``metersim/{meter_id}/reading``)."""


class EventEncoder(Protocol):
    """Makes the event messages of one wire format."""

    format: str

    def encode(self, events: EventBatch) -> list[bytes]:
        """One payload per event."""

    def topics(self, events: EventBatch, template: str) -> list[str]:
        """One MQTT topic per event, rendered from ``template`` (e.g. ``metersim/{meter_id}/event/{event}``)."""


#: format name -> encoder class; an encoder is stateless apart from caches, so one serves every output
ENCODERS: dict[str, type[Encoder]] = {JsonEncoder.format: JsonEncoder}


def encoder_for(fmt: str) -> Encoder:
    """A new encoder of format ``fmt``; raises KeyError for an unknown format (config validation prevents it)."""
    return ENCODERS[fmt]()


#: format name -> event encoder class, for the formats that carry meter events
EVENT_ENCODERS: dict[str, type[EventEncoder]] = {JsonEventEncoder.format: JsonEventEncoder}


def event_encoder_for(fmt: str) -> EventEncoder | None:
    """A new event encoder of format ``fmt``, or None if that format carries no events."""
    cls = EVENT_ENCODERS.get(fmt)
    return cls() if cls is not None else None
