"""Keep every message in memory: for tests and embedding metersim in other programs."""

from __future__ import annotations

from typing import Any

import orjson

from metersim.sinks.base import Outbox, SinkBase

EVENT_SCHEMA = "metersim/event/v1"  # the ``schema`` of an event payload (see metersim.encoders.events)


class MemorySink(SinkBase):
    name = "memory"

    def __init__(
        self,
        topic: str = "metersim/{commodity}/{meter_id}/reading",
        events_topic: str = "metersim/{commodity}/{meter_id}/event",
        format: str = "json",
        options: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        """``topic`` and ``events_topic`` are the templates of its readings and events (as an MQTT output's);
        ``format`` and ``options`` those of its encoder (as an output's ``format``, e.g. ``batch``)."""
        super().__init__()
        self.topic, self.events_topic = topic, events_topic
        self.format, self.options = format, options
        self.messages: list[tuple[str, bytes]] = []
        self.emissions: list[int] = []  # messages per emission, in order

    def send(self, outbox: Outbox) -> None:
        self.messages.extend(zip(outbox.topics, outbox.payloads))
        self.emissions.append(len(outbox))
        self.stats.accepted += len(outbox)
        self.stats.acknowledged += len(outbox)

    def readings(self) -> list[dict[str, object]]:
        """Every reading payload, decoded (not the events); JSON formats only."""
        return [p for p in self._decoded() if p.get("schema") != EVENT_SCHEMA]

    def events(self) -> list[dict[str, object]]:
        """Every event payload (power down/up, ...), decoded."""
        return [p for p in self._decoded() if p.get("schema") == EVENT_SCHEMA]

    def _decoded(self) -> list[dict[str, object]]:
        return [orjson.loads(payload) for _, payload in self.messages]
