"""The emission stage: every output gets each emission in its own format, each format encoded once.

An output is a sink, an encoder and (for MQTT) a topic template. For each emission every sink gets
an :class:`~metersim.sinks.base.Outbox` that encodes lazily, so outputs that share a format share
one encoding, outputs that share a template share one rendering, and ``discard`` encodes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial

from metersim._array import Array
from metersim.encoders import Encoder, encoder_for
from metersim.records import ReadingBatch
from metersim.sinks.base import Outbox, Sink


@dataclass(frozen=True)
class Output:
    """One configured output."""

    sink: Sink
    format: str = "json"
    topic: str | None = None  # MQTT topic template; None for outputs without topics


class Outputs:
    """Hands each emission to every output, in configuration order."""

    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs
        self.encoders: dict[str, Encoder] = {o.format: encoder_for(o.format) for o in outputs}
        self.encoded: Counter[str] = Counter()  # messages encoded, per format

    @property
    def sinks(self) -> list[Sink]:
        return [o.sink for o in self.outputs]

    def emit(self, batch: ReadingBatch, rows: Array) -> None:
        """Send rows ``rows`` of ``batch`` (indices into it) to every output."""
        emission = _Emission(self, batch, rows)
        for output in self.outputs:
            payloads = partial(emission.payloads, output.format)
            output.sink.send(Outbox(len(rows), payloads, partial(emission.topics, output.format, output.topic)))

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
