"""Keep every message in memory: for tests and embedding metersim in other programs."""

from __future__ import annotations

import orjson

from metersim.sinks.base import Outbox, SinkBase


class MemorySink(SinkBase):
    name = "memory"

    def __init__(self, topic: str = "metersim/{commodity}/{meter_id}/reading") -> None:
        """``topic`` is the template its messages are rendered with (as an MQTT output's ``topic``)."""
        super().__init__()
        self.topic = topic
        self.messages: list[tuple[str, bytes]] = []

    def send(self, outbox: Outbox) -> None:
        self.messages.extend(zip(outbox.topics, outbox.payloads))
        self.stats.accepted += len(outbox)
        self.stats.acknowledged += len(outbox)

    def readings(self) -> list[dict[str, object]]:
        """Every payload, decoded."""
        return [orjson.loads(payload) for _, payload in self.messages]
