"""The emission stage: every output gets each emission in its own format, each format encoded once.

An output is a sink, an encoder and (for MQTT) a topic template. For each emission every sink gets
an :class:`~metersim.sinks.base.Outbox` that encodes lazily, so outputs that share a format share
one encoding, outputs that share a template share one rendering, and ``discard`` encodes nothing.

Meter events (:meth:`Outputs.emit_events`) go the same way, to the same sinks: an output with topics
(MQTT, memory) publishes them on its ``events_topic`` template, a stream (file, stdout) writes them as
lines among the readings (their ``schema`` field, ``metersim/event/v1`` or ``metersim/reading/v1``,
tells them apart).
An output whose format has no event encoder gets no events.
A sink with a ``send_batch(batch, rows)`` method (Parquet) gets the numeric batch and the emission's rows
instead of an outbox, so nothing is encoded for it; it gets no events. Readings and events are counted apart
(:attr:`Outputs.encoded`, :attr:`Outputs.events_encoded`); a sink counts both as messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Literal, Protocol, cast

import numpy as np

from metersim._array import Array
from metersim.encoders import DEFAULT_EVENT_TOPIC, Encoder, EventEncoder, encoder_for, event_encoder_for
from metersim.encoders.homeassistant import discovery_messages
from metersim.encoders.json_text import Payloads
from metersim.encoders.topics import TopicCache
from metersim.records import EventBatch, MeterSet, ReadingBatch
from metersim.sinks.base import Outbox, Sink

#: a format and its options (sorted ``(name, value)`` pairs): outputs with equal keys share an encoder
EncoderKey = tuple[str, tuple[tuple[str, Any], ...]]


def encoder_key(fmt: str, options: tuple[tuple[str, Any], ...]) -> EncoderKey:
    """What identifies an encoder: its format and its options, in a fixed order."""
    return fmt, tuple(sorted(options))


@dataclass(frozen=True)
class Output:
    """One configured output."""

    sink: Sink
    format: str = "json"
    topic: str | None = None  # MQTT topic template; None for outputs without topics
    #: topic template of meter events; None: the default (``metersim/{commodity}/{meter_id}/event``)
    #: for an output with a ``topic``, none for a stream (file, stdout), which writes events as lines
    events_topic: str | None = None
    options: tuple[tuple[str, Any], ...] = ()  # the encoder's options, e.g. (("size", 100),) for batch
    #: who sends each message, for an output with a connection per sender: "meter" or "concentrator"
    senders: Literal["meter", "concentrator"] | None = None
    #: Home Assistant discovery: ``(prefix, availability topic or None)``; None: no discovery
    discovery: tuple[str, str | None] | None = None

    @cached_property
    def key(self) -> EncoderKey:
        return encoder_key(self.format, self.options)

    @property
    def event_template(self) -> str | None:
        """The template events are published with; None for an output without topics."""
        if self.events_topic is not None:
            return self.events_topic
        return DEFAULT_EVENT_TOPIC if self.topic is not None else None


class Outputs:
    """Hands each emission to every output, in configuration order."""

    def __init__(self, outputs: list[Output], encoders: dict[EncoderKey, Encoder] | None = None) -> None:
        """``encoders``: encoders made beforehand (one whose sink needs it while connecting: Sparkplug)."""
        self.outputs = outputs
        self.encoders: dict[EncoderKey, Encoder] = dict(encoders or {})
        for o in outputs:
            if o.key not in self.encoders:
                self.encoders[o.key] = encoder_for(o.format, **dict(o.options))
        self.encoded: Counter[str] = Counter()  # readings encoded, per format
        self.event_encoders: dict[str, EventEncoder] = {}
        for o in outputs:
            # a format whose events belong to its readings' sessions (Sparkplug) makes its event encoder
            make = getattr(self.encoders[o.key], "event_encoder", None)
            event_encoder = make() if make is not None else event_encoder_for(o.format)
            if event_encoder is not None and o.format not in self.event_encoders:
                self.event_encoders[o.format] = event_encoder
        self.events_encoded: Counter[str] = Counter()  # event messages encoded, per format
        self._announced: dict[int, tuple[MeterSet, set[int]]] = {}  # meter set -> outputs that announced it
        self._topics = TopicCache()

    def encoder(self, output: Output) -> Encoder:
        """The encoder that makes ``output``'s messages (shared with the outputs of the same key)."""
        return self.encoders[output.key]

    @property
    def sinks(self) -> list[Sink]:
        return [o.sink for o in self.outputs]

    def emit(self, batch: ReadingBatch, rows: Array) -> None:
        """Send rows ``rows`` of ``batch`` (indices into it) to every output."""
        emission = _Emission(self, batch, rows)
        for number, output in enumerate(self.outputs):
            send_batch = getattr(output.sink, "send_batch", None)
            if send_batch is not None:  # a sink that writes the numbers themselves (Parquet): nothing encoded
                send_batch(batch, rows)
                continue
            if output.discovery is not None:
                self._announce(number, output, batch)
            key = output.key
            payloads = partial(emission.payloads, key)
            # a format with births, batches or nothing for a reading is encoded now, to count its messages
            count = len(rows) if self.encoders[key].one_per_reading else len(payloads())
            topics = partial(emission.topics, key, output.topic)
            senders = partial(emission.senders, key, output.senders) if output.senders else None
            lines = partial(emission.lines, key) if hasattr(self.encoders[key], "lines") else None
            output.sink.send(
                Outbox(count, payloads, topics, user_properties=batch.meters.hardware, senders=senders, lines=lines)
            )

    def _announce(self, number: int, output: Output, batch: ReadingBatch) -> None:
        """Before a meter set's first reading on ``output``: its Home Assistant discovery configs, retained."""
        meters = batch.meters
        entry = self._announced.setdefault(id(meters), (meters, set()))  # keeps the set alive: ids stay unique
        if number in entry[1] or output.discovery is None or output.topic is None:
            return
        entry[1].add(number)
        prefix, availability = output.discovery
        hardware = dict(meters.hardware)
        messages = discovery_messages(
            meters,
            self._topics.for_meters(meters, output.topic),
            prefix=prefix,
            export=batch.registers.export_total is not None,
            availability_topic=availability,
            manufacturer=hardware.get("manufacturer"),
            model=hardware.get("model"),
            sw_version=hardware.get("firmware"),
        )
        topics, payloads = [t for t, _ in messages], [p for _, p in messages]
        senders = None
        if output.senders is not None:
            every = sender_ids(meters, np.arange(meters.count), output.senders)
            senders = [s for s in every for _ in range(len(messages) // max(meters.count, 1))]
        output.sink.send(Outbox(len(messages), lambda: payloads, lambda: topics, retain=True,
                                senders=None if senders is None else (lambda: senders)))  # fmt: skip

    def emit_events(self, events: EventBatch) -> None:
        """Send every event of ``events`` to every output whose format carries events."""
        if not len(events):
            return
        emission = _EventEmission(self, events)
        for output in self.outputs:
            if output.format not in self.event_encoders or hasattr(output.sink, "send_batch"):
                continue  # (a sink of batches holds readings only)
            payloads = partial(emission.payloads, output.format)
            topics = partial(emission.topics, output.format, output.event_template)
            senders = partial(sender_ids, events.meters, events.meters_at, output.senders) if output.senders else None
            one_each = getattr(self.event_encoders[output.format], "one_per_event", True)
            count = len(events) if one_each else len(payloads())
            output.sink.send(Outbox(count, payloads, topics, user_properties=events.meters.hardware, senders=senders))

    def flush(self) -> None:
        """Make every sink deliver what it accepted (written to the OS, acknowledged by the broker)."""
        for sink in self.sinks:
            sink.flush()

    def poll(self) -> None:
        """Let every sink service its transport while the run waits (keepalives, acknowledgements)."""
        for sink in self.sinks:
            sink.poll()


class _LinesEncoder(Protocol):
    """An encoder that also renders a batch as JSON Lines blocks (JSON): what a stream writes."""

    def lines(self, batch: ReadingBatch) -> list[bytes]: ...


class _Emission:
    """One emission's rows, taken from the batch and encoded at most once per format and template."""

    __slots__ = ("_batch", "_lines", "_outputs", "_payloads", "_rows", "_taken", "_topics")

    def __init__(self, outputs: Outputs, batch: ReadingBatch, rows: Array) -> None:
        self._outputs, self._batch, self._rows = outputs, batch, rows
        self._taken: ReadingBatch | None = None
        self._payloads: dict[EncoderKey, list[bytes]] = {}
        self._lines: dict[EncoderKey, list[bytes]] = {}
        self._topics: dict[tuple[EncoderKey, str | None], list[str]] = {}

    def _rows_batch(self) -> ReadingBatch:
        if self._taken is None:
            self._taken = self._batch.take(self._rows)
        return self._taken

    def payloads(self, key: EncoderKey) -> list[bytes]:
        payloads = self._payloads.get(key)
        if payloads is None:
            lines = self._lines.get(key)
            if lines is not None:  # a stream asked first: split its blocks, rather than encode again
                payloads = self._payloads[key] = Payloads(lines)
            else:
                payloads = self._payloads[key] = self._outputs.encoders[key].encode(self._rows_batch())
                self._outputs.encoded[key[0]] += len(self._rows)
        return payloads

    def lines(self, key: EncoderKey) -> list[bytes]:
        """The payloads of ``key``'s format as JSON Lines blocks, from its encoder's ``lines(batch)``
        (see :class:`~metersim.sinks.base.Outbox`); the payloads' own blocks when they came first."""
        lines = self._lines.get(key)
        if lines is None:
            payloads = self._payloads.get(key)
            if payloads is not None:
                lines = getattr(payloads, "blocks", None)
                if lines is None:
                    lines = [b"\n".join(payloads) + b"\n"] if payloads else []
            else:
                lines = cast(_LinesEncoder, self._outputs.encoders[key]).lines(self._rows_batch())
                self._outputs.encoded[key[0]] += len(self._rows)
            self._lines[key] = lines
        return lines

    def senders(self, key: EncoderKey, by: Literal["meter", "concentrator"]) -> list[str]:
        encoder, batch = self._outputs.encoders[key], self._rows_batch()
        own = getattr(encoder, "senders", None)  # a format whose messages are not the rows' (batch)
        if own is not None:
            return list(own(batch, by))
        if len(self.payloads(key)) != len(batch):  # DSMR P1's gas rows: carried by the electricity telegrams
            return []
        return sender_ids(batch.meters, batch.meters_at, by)

    def topics(self, key: EncoderKey, template: str | None) -> list[str]:
        if template is None:
            raise ValueError("this output has no topic template")
        topics = self._topics.get((key, template))
        if topics is None:
            topics = self._topics[key, template] = self._outputs.encoders[key].topics(self._rows_batch(), template)
        return topics


def sender_ids(meters: MeterSet, at: Array, by: Literal["meter", "concentrator"]) -> list[str]:
    """The sender of each row (meter position ``at``): its meter id, or its concentrator's id (the group's
    name for meters that reach the head-end directly, so they share one connection)."""
    ids = meters.ids if by == "meter" else meters.concentrators
    if ids is None:
        return [meters.group] * len(at)
    return [ids[p] for p in at.tolist()]


class _EventEmission:
    """One batch of events, encoded at most once per format and template."""

    __slots__ = ("_events", "_outputs", "_payloads", "_topics")

    def __init__(self, outputs: Outputs, events: EventBatch) -> None:
        self._outputs, self._events = outputs, events
        self._payloads: dict[str, list[bytes]] = {}
        self._topics: dict[tuple[str, str | None], list[str]] = {}

    def payloads(self, fmt: str) -> list[bytes]:
        payloads = self._payloads.get(fmt)
        if payloads is None:
            payloads = self._payloads[fmt] = self._outputs.event_encoders[fmt].encode(self._events)
            self._outputs.events_encoded[fmt] += len(payloads)
        return payloads

    def topics(self, fmt: str, template: str | None) -> list[str]:
        if template is None:
            raise ValueError("this output has no topic template for events")
        topics = self._topics.get((fmt, template))
        if topics is None:
            topics = self._topics[fmt, template] = self._outputs.event_encoders[fmt].topics(self._events, template)
        return topics
