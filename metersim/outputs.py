"""The emission stage: every output gets each emission in its own format, each format encoded once.

An output is a sink, an encoder and (for MQTT) a topic template. For each emission every sink gets
an :class:`~metersim.sinks.base.Outbox` that encodes lazily, so outputs that share a format share
one encoding, outputs that share a template share one rendering, and ``discard`` encodes nothing.

Meter events (:meth:`Outputs.emit_events`) go the same way, to the same sinks: an output with topics
(MQTT, memory) publishes them on its ``events_topic`` template, a stream (file, stdout) writes them as
lines among the readings (their ``schema`` field, ``metersim/event/v1`` or ``metersim/reading/v1``,
tells them apart).
An output whose format has no event encoder gets no events. Readings and events are counted apart
(:attr:`Outputs.encoded`, :attr:`Outputs.events_encoded`); a sink counts both as messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

from metersim._array import Array
from metersim.encoders import DEFAULT_EVENT_TOPIC, Encoder, EventEncoder, encoder_for, event_encoder_for
from metersim.records import EventBatch, ReadingBatch
from metersim.sinks.base import Outbox, Sink


@dataclass(frozen=True)
class Output:
    """One configured output."""

    sink: Sink
    format: str = "json"
    topic: str | None = None  # MQTT topic template; None for outputs without topics
    #: topic template of meter events; None: the default (``metersim/{commodity}/{meter_id}/event``)
    #: for an output with a ``topic``, none for a stream (file, stdout), which writes events as lines
    events_topic: str | None = None

    @property
    def event_template(self) -> str | None:
        """The template events are published with; None for an output without topics."""
        if self.events_topic is not None:
            return self.events_topic
        return DEFAULT_EVENT_TOPIC if self.topic is not None else None


class Outputs:
    """Hands each emission to every output, in configuration order."""

    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs
        self.encoders: dict[str, Encoder] = {o.format: encoder_for(o.format) for o in outputs}
        self.encoded: Counter[str] = Counter()  # messages encoded, per format
        self.event_encoders: dict[str, EventEncoder] = {}
        for fmt in self.encoders:
            event_encoder = event_encoder_for(fmt)
            if event_encoder is not None:
                self.event_encoders[fmt] = event_encoder
        self.events_encoded: Counter[str] = Counter()  # event messages encoded, per format

    @property
    def sinks(self) -> list[Sink]:
        return [o.sink for o in self.outputs]

    def emit(self, batch: ReadingBatch, rows: Array) -> None:
        """Send rows ``rows`` of ``batch`` (indices into it) to every output."""
        emission = _Emission(self, batch, rows)
        for output in self.outputs:
            payloads = partial(emission.payloads, output.format)
            output.sink.send(Outbox(len(rows), payloads, partial(emission.topics, output.format, output.topic)))

    def emit_events(self, events: EventBatch) -> None:
        """Send every event of ``events`` to every output whose format carries events."""
        if not len(events):
            return
        emission = _EventEmission(self, events)
        for output in self.outputs:
            if output.format not in self.event_encoders:
                continue
            payloads = partial(emission.payloads, output.format)
            topics = partial(emission.topics, output.format, output.event_template)
            output.sink.send(Outbox(len(events), payloads, topics))

    def flush(self) -> None:
        """Make every sink deliver what it accepted (written to the OS, acknowledged by the broker)."""
        for sink in self.sinks:
            sink.flush()

    def poll(self) -> None:
        """Let every sink service its transport while the run waits (keepalives, acknowledgements)."""
        for sink in self.sinks:
            sink.poll()


class _Emission:
    """One emission's rows, taken from the batch and encoded at most once per format and template."""

    __slots__ = ("_batch", "_outputs", "_payloads", "_rows", "_taken", "_topics")

    def __init__(self, outputs: Outputs, batch: ReadingBatch, rows: Array) -> None:
        self._outputs, self._batch, self._rows = outputs, batch, rows
        self._taken: ReadingBatch | None = None
        self._payloads: dict[str, list[bytes]] = {}
        self._topics: dict[tuple[str, str | None], list[str]] = {}

    def _rows_batch(self) -> ReadingBatch:
        if self._taken is None:
            self._taken = self._batch.take(self._rows)
        return self._taken

    def payloads(self, fmt: str) -> list[bytes]:
        payloads = self._payloads.get(fmt)
        if payloads is None:
            payloads = self._payloads[fmt] = self._outputs.encoders[fmt].encode(self._rows_batch())
            self._outputs.encoded[fmt] += len(payloads)
        return payloads

    def topics(self, fmt: str, template: str | None) -> list[str]:
        if template is None:
            raise ValueError("this output has no topic template")
        topics = self._topics.get((fmt, template))
        if topics is None:
            topics = self._topics[fmt, template] = self._outputs.encoders[fmt].topics(self._rows_batch(), template)
        return topics


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
