"""The Sink protocol: where encoded readings go.

A sink receives :class:`Outbox` objects, one per engine emission. An outbox encodes lazily, so a
sink that only counts (``discard``) never pays for JSON, and several sinks share one encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar


class Outbox:
    """A batch of readings ready to leave the engine.

    ``payloads`` is computed at most once, on first access, and shared by every sink.
    ``topics(template)`` renders one MQTT topic per message from a template such as
    ``"metersim/{commodity}/{meter_id}/reading"``.
    """

    __slots__ = ("_count", "_encode", "_payloads", "_topics")

    def __init__(
        self,
        count: int,
        encode: Callable[[], list[bytes]],
        topics: Callable[[str], list[str]],
    ) -> None:
        self._count = count
        self._encode = encode
        self._topics = topics
        self._payloads: list[bytes] | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def payloads(self) -> list[bytes]:
        if self._payloads is None:
            self._payloads = self._encode()
        return self._payloads

    def topics(self, template: str) -> list[str]:
        return self._topics(template)

    @classmethod
    def of(cls, topics: list[str], payloads: list[bytes]) -> Outbox:
        """An outbox over messages that are already encoded (tests, benchmarks): ``template`` is ignored."""
        return cls(len(payloads), lambda: payloads, lambda _template: topics)


@dataclass
class SinkStats:
    """Per-sink counters, in messages (one reading is one message)."""

    accepted: int = 0  # handed to the sink by the engine
    acknowledged: int = 0  # durably written, or acknowledged by the broker (QoS >= 1) / sent (QoS 0)
    errors: int = 0  # messages the sink knows it failed to deliver

    @property
    def in_flight(self) -> int:
        """Accepted but neither acknowledged nor known lost."""
        return self.accepted - self.acknowledged - self.errors


class Sink(Protocol):
    """Where readings go. Every sink is a context manager; ``close`` implies ``flush``."""

    name: str
    stats: SinkStats

    def describe(self) -> str:
        """A short human-readable name for the summary table, e.g. ``file out/readings.jsonl``."""

    def open(self) -> None:
        """Acquire resources (files, connections). Raise a MetersimError subclass on failure."""

    def send(self, outbox: Outbox) -> None:
        """Accept every message of ``outbox``; block (apply backpressure) rather than drop."""

    def poll(self) -> None:
        """Service the transport without blocking (keepalives, acknowledgements) while the run waits."""

    def flush(self) -> None:
        """Push buffered data out and wait until it is acknowledged where the transport allows."""

    def close(self) -> None:
        """Flush and release resources. Safe to call twice."""

    def __enter__(self) -> Sink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


_S = TypeVar("_S", bound="SinkBase")


class SinkBase:
    """Shared plumbing: counters and the context-manager protocol."""

    name = "sink"

    def __init__(self) -> None:
        self.stats = SinkStats()

    def describe(self) -> str:
        return self.name

    def open(self) -> None:
        return None

    def poll(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.flush()

    def __enter__(self: _S) -> _S:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
