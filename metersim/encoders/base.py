"""The Encoder protocol and the registry of wire formats, chosen per output with ``format:``.

An encoder turns a :class:`~metersim.records.ReadingBatch` into messages: :meth:`Encoder.encode`
gives one payload per message and :meth:`Encoder.topics` one topic per message from the output's
template. The two are separate so that a file output never renders topics, and an output that only
counts (``discard``) calls neither.

Meter events (an :class:`~metersim.records.EventBatch`) have their own encoders, :class:`EventEncoder`,
registered per format in :data:`EVENT_ENCODERS`; a format without one carries no events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from metersim.encoders.batch import BatchEncoder
from metersim.encoders.dsmr import DsmrP1Encoder
from metersim.encoders.events import JsonEventEncoder
from metersim.encoders.json import JsonEncoder
from metersim.encoders.senml import SenmlEncoder
from metersim.encoders.sparkplug import SparkplugEncoder
from metersim.records import EventBatch, ReadingBatch


class Encoder(Protocol):
    """Makes the messages of one wire format."""

    format: str
    #: whether :meth:`encode` gives exactly one message per reading (else: births, batches, none for gas in P1)
    one_per_reading: bool
    content_type: str | None  # the media type of a payload (sent as MQTT 5's Content Type); None: unstated

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


#: format name -> encoder class. An encoder keeps caches (and Sparkplug its sessions' counters), so the
#: outputs that share a format and its options share one encoder, and one encoding of each emission.
def sparkplug_encoder(edge_node: str = "metersim", group_id: str = "metersim") -> SparkplugEncoder:
    """Sparkplug B for one connection: every meter a device of edge node ``edge_node`` in Sparkplug group
    ``group_id``."""
    return SparkplugEncoder(edge_of=lambda meters: [edge_node] * meters.count, group_of=lambda meters: group_id)


ENCODERS: dict[str, Callable[..., Encoder]] = {
    JsonEncoder.format: JsonEncoder,
    SenmlEncoder.format: SenmlEncoder,
    DsmrP1Encoder.format: DsmrP1Encoder,
    SparkplugEncoder.format: sparkplug_encoder,
    BatchEncoder.format: BatchEncoder,
}


def encoder_for(fmt: str, **options: Any) -> Encoder:
    """A new encoder of format ``fmt`` with its options (e.g. ``size`` for batch); raises KeyError for an
    unknown format (config validation prevents it)."""
    return ENCODERS[fmt](**options)


#: format name -> event encoder class, for the formats that carry meter events
EVENT_ENCODERS: dict[str, type[EventEncoder]] = {
    JsonEventEncoder.format: JsonEventEncoder,
    BatchEncoder.format: JsonEventEncoder,  # a head-end gets a concentrator's events one by one, in JSON
}


def event_encoder_for(fmt: str) -> EventEncoder | None:
    """A new event encoder of format ``fmt``, or None if that format carries no events."""
    cls = EVENT_ENCODERS.get(fmt)
    return cls() if cls is not None else None
