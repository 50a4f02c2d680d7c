"""Count readings and drop them, without ever encoding them: the benchmark baseline."""

from __future__ import annotations

from metersim.sinks.base import Outbox, SinkBase


class DiscardSink(SinkBase):
    name = "discard"

    def send(self, outbox: Outbox) -> None:
        n = len(outbox)
        self.stats.accepted += n
        self.stats.acknowledged += n
