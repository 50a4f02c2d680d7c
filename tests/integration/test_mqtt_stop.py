"""``Sink.interrupt()`` ends every blocking wait of the MQTT sink promptly (issue 7).

The run calls ``interrupt()`` from its SIGINT/SIGTERM handler. Before, a Ctrl-C while the broker was
away went unnoticed until ``give_up_s`` (300 s) when the buffer was full, and one during the final
drain lost the summary. Here the broker is frozen (SIGSTOP) or killed so that ``send()``, ``flush()``,
``close()`` or ``open()`` blocks, another thread (or a signal handler) interrupts, and the call must
end within a second, with counts that add up: ``accepted == acknowledged + errors`` and nothing in
flight, where ``errors`` is exactly what the independent subscriber never received.

The brokers run at Mosquitto's stock limits. Each scenario first delivers a batch completely (flushed,
and seen by the subscriber), then takes the broker away, so that what the subscriber has is exactly
what the sink saw acknowledged. A frozen broker is killed before the subscriber is checked: bytes the
sink wrote into its socket must never be read by it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from metersim.errors import MetersimError
from metersim.sinks.base import Interrupted, SinkBase
from metersim.sinks.discard import DiscardSink
from metersim.sinks.memory import MemorySink
from metersim.sinks.mqtt import MqttSink
from tests.integration.test_mqtt_qos2 import DurableSubscriber, StockMosquitto
from tests.integration.test_mqtt_sink import WAIT_S, batch, output, prefix

pytestmark = pytest.mark.integration

#: messages delivered completely before the broker goes away
FIRST = 1_000
#: an interrupted call must end within this [s] of ``interrupt()``
PROMPT_S = 1.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[StockMosquitto]:
    """A started Mosquitto at stock limits, stopped after the test."""
    started = StockMosquitto(tmp_path / "broker")
    started.start()
    try:
        yield started
    finally:
        started.kill()


class Setup:
    """A sink that has delivered FIRST messages (flushed, and seen by the subscriber)."""

    def __init__(self, broker: StockMosquitto, tmp_path: Path, **fields: object) -> None:
        self.broker = broker
        self.base = prefix()
        self.sub = DurableSubscriber(broker.port, f"{self.base}/#", tmp_path, qos=1)
        self.lines: list[str] = []
        settings: dict[str, object] = {"qos": 1, "buffer_messages": 500, "max_inflight": 100, "reconnect_max_s": 0.2}
        settings.update(fields)
        self.sink = MqttSink(output(broker.url, **settings), log=self.lines.append)
        self.sink.open()
        self.sink.send(batch(self.base, 0, FIRST))
        self.sink.flush()
        assert self.sub.wait_for_distinct(FIRST, WAIT_S)

    def check_counts(self) -> None:
        """The counts add up, and ``errors`` is exactly what the subscriber never got."""
        stats = self.sink.stats
        assert stats.accepted == stats.acknowledged + stats.errors
        assert stats.in_flight == 0
        assert stats.acknowledged == FIRST
        assert stats.errors > 0
        if self.broker.running:
            self.broker.kill()  # a frozen broker must never read what the sink had written
        self.sub.wait_quiet(0.3)
        received = self.sub.seqs()
        assert set(received) == set(range(FIRST))
        assert stats.accepted - len(received) == stats.errors


@pytest.fixture
def setup(broker: StockMosquitto, tmp_path: Path) -> Iterator[Callable[..., Setup]]:
    made: list[Setup] = []

    def make(**fields: object) -> Setup:
        made.append(Setup(broker, tmp_path, **fields))
        return made[-1]

    yield make
    for one in made:
        one.sink.close()
        one.broker.kill()  # frozen: a SIGTERM would wait for SIGCONT
        one.sub.stop()


def interrupt_later(sink: SinkBase, delay_s: float = 0.5) -> list[float]:
    """Call ``sink.interrupt()`` from another thread after ``delay_s``; the list gets the monotonic time."""
    when: list[float] = []

    def later() -> None:
        time.sleep(delay_s)
        when.append(time.monotonic())
        sink.interrupt()

    threading.Thread(target=later, daemon=True).start()
    return when


def _take_away(broker: StockMosquitto, how: str) -> None:
    if how == "frozen":
        broker.freeze()
    else:
        broker.kill()


@pytest.mark.parametrize(
    ("qos", "how"),
    [(1, "frozen"), (1, "killed"), (2, "frozen"), (2, "killed"), (0, "killed")],
)
def test_interrupt_ends_a_send_that_waits_for_the_broker(setup: Callable[..., Setup], qos: int, how: str) -> None:
    """The buffer is full (or at QoS 0 the connection is down): send() waited for give_up_s before."""
    one = setup(qos=qos)
    sink = one.sink
    _take_away(one.broker, how)
    when = interrupt_later(sink)
    started = time.monotonic()
    with pytest.raises(Interrupted, match=r"interrupted: \d+ of \d+ accepted messages not acknowledged"):
        sink.send(batch(one.base, FIRST, 2_000))  # more than buffer_messages
    ended = time.monotonic()
    assert when, "send() returned before the interrupt: it did not block"
    assert ended - when[0] < PROMPT_S
    assert ended - started >= 0.4
    assert sink.connection is None, "the connection should be dropped"
    if qos == 0:
        # Written to the socket is "sent" at QoS 0, so the subscriber cannot be reconciled: counts only.
        assert sink.stats.accepted == sink.stats.acknowledged + sink.stats.errors
        assert sink.stats.in_flight == 0
        return
    one.check_counts()
    started = time.monotonic()
    sink.close()  # quick and silent
    assert time.monotonic() - started < 0.2
    with pytest.raises(Interrupted):
        sink.send(batch(one.base, 9_000, 1))
    with pytest.raises(Interrupted):
        sink.flush()


@pytest.mark.parametrize("qos", [1, 2])
def test_interrupt_ends_the_final_drain(setup: Callable[..., Setup], qos: int) -> None:
    one = setup(qos=qos)
    sink = one.sink
    one.broker.freeze()
    sink.send(batch(one.base, FIRST, 300))  # fits in the buffer: only the drain waits
    when = interrupt_later(sink)
    with pytest.raises(Interrupted):
        sink.flush()
    assert time.monotonic() - when[0] < PROMPT_S
    one.check_counts()
    assert sink.stats.accepted == FIRST + 300


def test_interrupt_during_close_ends_it_silently(setup: Callable[..., Setup]) -> None:
    one = setup(qos=1)
    sink = one.sink
    one.broker.freeze()
    sink.send(batch(one.base, FIRST, 300))
    when = interrupt_later(sink)
    sink.close()  # drains first; the interrupt ends the drain, and close() raises nothing
    assert time.monotonic() - when[0] < PROMPT_S
    one.check_counts()


def test_interrupt_from_a_signal_handler(setup: Callable[..., Setup]) -> None:
    """As the run does it: the handler runs in the thread that is blocked in send()."""
    one = setup(qos=1)
    sink = one.sink
    one.broker.kill()
    raised: list[float] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        raised.append(time.monotonic())
        sink.interrupt()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(Interrupted):
            sink.send(batch(one.base, FIRST, 2_000))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert raised and time.monotonic() - raised[0] < PROMPT_S
    one.check_counts()


def test_interrupt_ends_a_wait_for_connack(broker: StockMosquitto) -> None:
    broker.freeze()  # the kernel accepts the TCP connection; the CONNACK never comes
    sink = MqttSink(output(broker.url, connect_timeout_s=30))
    when = interrupt_later(sink)
    with pytest.raises(Interrupted):
        sink.open()
    assert time.monotonic() - when[0] < PROMPT_S
    assert sink.connection is None
    sink.close()
    broker.kill()


def test_an_interrupted_sink_does_not_connect() -> None:
    sink = MqttSink(output("mqtt://127.0.0.1:9", connect_timeout_s=30))  # nothing listens on port 9
    sink.interrupt()
    with pytest.raises(Interrupted):
        sink.open()
    with pytest.raises(Interrupted):
        sink.send(batch(prefix(), 0, 10))
    sink.close()
    assert (sink.stats.accepted, sink.stats.errors, sink.stats.in_flight) == (0, 0, 0)


def test_interrupt_is_a_flag_on_every_sink() -> None:
    assert issubclass(Interrupted, Exception) and not issubclass(Interrupted, MetersimError)
    for sink in (MemorySink(), DiscardSink()):
        assert not sink.interrupted
        sink.interrupt()
        sink.interrupt()
        assert sink.interrupted
        sink.close()  # sinks that never wait carry on as before
