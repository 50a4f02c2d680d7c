"""The Sink protocol: where encoded readings go.

A sink receives :class:`Outbox` objects, one per engine emission. An outbox encodes lazily, so a
sink that only counts (``discard``) never pays for encoding, and several sinks share one encoding.
Sinks never call back upstream: the topics arrive rendered, like the payloads.

Stopping (Ctrl-C, SIGTERM): the run calls :meth:`Sink.interrupt` on every sink, from its signal
handler. A sink that blocks (waiting for a broker, for acknowledgements, for room in its buffer)
then stops waiting within a fraction of a second: ``send()`` and ``flush()`` raise
:class:`Interrupted`, whatever was accepted but not acknowledged is counted in ``stats.errors``, and
``close()`` returns quickly without raising.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

#: MQTT 5 user properties of an outbox: (name, value) pairs, in order; a name may repeat
UserProperties = tuple[tuple[str, str], ...]


class Outbox:
    """The messages of one engine emission, as one output sees them: its format, its topics.

    ``payloads`` and ``topics`` are each computed at most once, on first access; outputs that share a
    format share the payloads, and outputs that share a topic template share the topics. A sink that
    only counts (``discard``) touches neither, so nothing is encoded for it.

    ``user_properties`` and ``retain`` hold for every message of the outbox (one outbox carries one
    group's meters, so they share manufacturer, model and firmware). ``user_properties`` are sent as
    MQTT 5 User Properties (sinks without properties ignore them); ``retain`` None means the output's
    own ``retain``, True or False overrides it (True for, e.g., Home Assistant discovery configs).

    ``senders`` (computed on first access, like the topics) names, per message, who sends it: the
    meter id, or its concentrator's id; an output with one connection per sender (``connections:
    per-meter`` or ``per-concentrator``) publishes each message on its sender's connection. None: the
    outbox has no senders (tests, benchmarks); such an output then uses one connection.

    ``lines`` (a stream's view: file, stdout) are the payloads as JSON Lines blocks, each payload
    followed by a newline. A format that renders such blocks itself (JSON) gives ``lines``, so a
    stream writes them without the payloads ever being split apart and joined again.
    """

    __slots__ = (
        "_count", "_lines", "_lines_of", "_payloads", "_payloads_of", "_senders", "_senders_of", "_topics",
        "_topics_of", "retain", "user_properties",
    )  # fmt: skip

    def __init__(
        self,
        count: int,
        payloads: Callable[[], list[bytes]],
        topics: Callable[[], list[str]],
        *,
        user_properties: UserProperties = (),
        retain: bool | None = None,
        senders: Callable[[], list[str]] | None = None,
        lines: Callable[[], list[bytes]] | None = None,
    ) -> None:
        self._count = count
        self._lines_of = lines
        self._lines: list[bytes] | None = None
        self._payloads_of = payloads
        self._topics_of = topics
        self._senders_of = senders
        self._payloads: list[bytes] | None = None
        self._topics: list[str] | None = None
        self._senders: list[str] | None = None
        self.user_properties = user_properties
        self.retain = retain

    def __len__(self) -> int:
        return self._count

    @property
    def payloads(self) -> list[bytes]:
        """One encoded payload per message."""
        if self._payloads is None:
            self._payloads = self._payloads_of()
        return self._payloads

    @property
    def lines(self) -> list[bytes]:
        """The payloads as JSON Lines blocks [UTF-8 text]: every payload followed by ``\\n``, in order.

        The format's own blocks when it renders them (asked once) and the payloads were not asked
        first; else the payloads joined (the blocks an encoder kept with them, when it did:
        :class:`~metersim.encoders.json_text.Payloads`); ``[]`` for no payloads.
        """
        if self._lines is None:
            if self._lines_of is not None and self._payloads is None:
                self._lines = self._lines_of()
            else:
                payloads = self.payloads
                blocks: list[bytes] | None = getattr(payloads, "blocks", None)
                if blocks is None:
                    blocks = [b"\n".join(payloads) + b"\n"] if payloads else []
                self._lines = blocks
        return self._lines

    @property
    def topics(self) -> list[str]:
        """One MQTT topic per message, rendered from the output's topic template."""
        if self._topics is None:
            self._topics = self._topics_of()
        return self._topics

    @property
    def senders(self) -> list[str] | None:
        """Who sends each message (a meter or concentrator id), or None when the outbox does not say."""
        if self._senders is None and self._senders_of is not None:
            self._senders = self._senders_of()
        return self._senders

    @classmethod
    def of(
        cls,
        topics: list[str],
        payloads: list[bytes],
        *,
        user_properties: UserProperties = (),
        retain: bool | None = None,
    ) -> Outbox:
        """An outbox over messages that are already encoded (tests, benchmarks)."""
        return cls(len(payloads), lambda: payloads, lambda: topics, user_properties=user_properties, retain=retain)


class Interrupted(Exception):
    """The run interrupted the sink (:meth:`Sink.interrupt`); it stopped without delivering everything.

    Raised by ``send()`` and ``flush()``. When it is raised, the sink's counters are final:
    ``accepted == acknowledged + errors``, and nothing is in flight.
    """


@dataclass
class SinkStats:
    """Per-sink counters, in messages (one reading is one message)."""

    accepted: int = 0  # handed to the sink by the engine
    acknowledged: int = 0  # handed to the OS (files, stdout), or acknowledged by the broker (QoS >= 1) / sent (QoS 0)
    errors: int = 0  # messages the sink knows it failed to deliver

    @property
    def in_flight(self) -> int:
        """Accepted but neither acknowledged nor known lost: sent and awaiting its acknowledgement.

        Only MQTT has such messages (published, PUBACK/PUBCOMP not yet in; at QoS 0 not yet written
        to the socket; and those waiting in its bounded buffer while the broker is away). Sinks that
        write (file, stdout) hand every line to the OS within ``send()`` and keep no buffer of their
        own, so theirs is 0 whenever the engine, the progress display or the report looks.
        """
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
        """Flush and release resources. Safe to call twice. After ``interrupt()``: quick, and never raises."""

    def interrupt(self) -> None:
        """Stop now: blocking calls give up promptly and raise :class:`Interrupted`.

        Safe from any thread and from a signal handler: it only sets a flag, which the sink's own
        thread checks at least every few tens of milliseconds while it waits.
        """

    def __enter__(self) -> Sink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


_S = TypeVar("_S", bound="SinkBase")


class SinkBase:
    """Shared plumbing: counters, the interrupt flag and the context-manager protocol.

    Sinks that never wait (files, memory) inherit ``interrupt()`` as a flag that nothing reads.
    """

    name = "sink"
    #: set by ``interrupt()``; a plain attribute (not a threading.Event, whose lock a signal handler
    #: running in the thread that holds it would wait on forever), read by the sink's own thread
    _interrupted = False

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

    def interrupt(self) -> None:
        self._interrupted = True

    @property
    def interrupted(self) -> bool:
        """Whether ``interrupt()`` was called."""
        return self._interrupted

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
