"""MqttSink with its socket above file descriptor 1024, where ``select.select()`` cannot reach.

``select.select()`` raises ValueError for a descriptor >= FD_SETSIZE (1024). A wait that swallows
that error turns into a busy spin: messages still flow, but every wait burns a core. The sink
waits with a selector (epoll) instead; these tests check delivery and that its waits sleep.

The subscriber is ``mosquitto_sub`` in its own process, started before the filler files are opened.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metersim.errors import DeliveryError
from metersim.sinks.mqtt import MqttSink
from metersim.sinks.mqtt.flow import STEP_S
from tests.integration.conftest import ExternalSubscriber, PrivateMosquitto
from tests.integration.test_mqtt_sink import WAIT_S, batch, output, prefix

pytestmark = pytest.mark.integration

#: descriptors opened before the sink, so that its socket lands above 1024
FILLER = 1_100
_SEQ = re.compile(r"seq=(\d+);")


@contextlib.contextmanager
def fds_above_1024() -> Iterator[None]:
    """Open FILLER descriptors on /dev/null (raising RLIMIT_NOFILE if needed); close them afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = FILLER + 512
    raised = soft != resource.RLIM_INFINITY and soft < need
    if raised:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    # Sockets of earlier clients still waiting in reference cycles would free low numbers later, when
    # the collector runs, and the sink's socket would take one: close them now, before filling.
    gc.collect()
    fds: list[int] = []
    try:
        for _ in range(FILLER):
            fds.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in fds:
            os.close(fd)
        if raised:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def sink_fd(sink: MqttSink) -> int:
    assert sink.connection is not None
    fd: int = sink.connection.socket.fileno()
    return fd


def seqs(sub: ExternalSubscriber) -> Counter[int]:
    out: Counter[int] = Counter()
    for _topic, payload in sub.messages():
        match = _SEQ.search(payload)
        assert match is not None, payload
        out[int(match.group(1))] += 1
    return out


def cpu_during(action: Callable[[], object]) -> tuple[float, float]:
    """(wall s, process CPU s) that ``action`` took."""
    wall, cpu = time.monotonic(), time.process_time()
    action()
    return time.monotonic() - wall, time.process_time() - cpu


def test_delivers_every_message_and_idles_without_spinning(broker_url: str, tmp_path: Path) -> None:
    base = prefix()
    sub = ExternalSubscriber(broker_url, f"{base}/#", tmp_path)
    reliable_total, qos0_total = 5_000, 20
    try:
        with fds_above_1024():
            # A small window and buffer, so that backpressure (blocking waits) is exercised too.
            reliable = MqttSink(output(broker_url, qos=1, max_rate_msg_s=None, max_inflight=100, buffer_messages=500))
            with reliable:
                assert sink_fd(reliable) > 1024
                for first in range(0, reliable_total, 1000):
                    reliable.send(batch(base, first, 1000))
                    reliable.flush()
                    # Keep within the shared broker's default per-subscriber queue (1000 messages).
                    assert sub.wait_for(first + 1000, WAIT_S), f"subscriber behind at {first + 1000}"

                def idle() -> None:
                    end = time.monotonic() + 1.0
                    while time.monotonic() < end:
                        reliable._step(STEP_S)  # the blocking step that send() and flush() wait with

                wall_s, cpu_s = cpu_during(idle)
                assert wall_s >= 1.0
                assert cpu_s < 0.25, f"an idle second of waiting used {cpu_s:.2f} s of CPU: the wait spins"

            best_effort = MqttSink(output(broker_url, qos=0))
            with best_effort:
                assert sink_fd(best_effort) > 1024
                best_effort.send(batch(base, reliable_total, qos0_total))
    finally:
        total = reliable_total + qos0_total
        sub.wait_for(total, WAIT_S)
        sub.wait_quiet(0.3)
        sub.stop()
    for sink, count in ((reliable, reliable_total), (best_effort, qos0_total)):
        assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (count, count, 0)
    received = seqs(sub)
    assert sorted(received) == list(range(total)), f"{total - len(received)} messages lost"
    assert max(received.values()) == 1, "duplicated messages"


def test_a_dropped_socket_is_reported_and_replaced(broker_url: str, tmp_path: Path) -> None:
    base = prefix()
    sub = ExternalSubscriber(broker_url, f"{base}/#", tmp_path)
    lines: list[str] = []
    try:
        with fds_above_1024():
            sink = MqttSink(output(broker_url, qos=1, max_rate_msg_s=None, reconnect_max_s=0.5), log=lines.append)
            with sink:
                sink.send(batch(base, 0, 500))
                sink.flush()
                assert sink.connection is not None
                old = sink.connection.socket
                old.shutdown(socket.SHUT_RDWR)  # behind paho's back: the next read sees the end
                sink.send(batch(base, 500, 500))
                sink.flush()
                assert sink.connection.socket is not old, "the sink never reconnected"
                assert sink_fd(sink) > 1024
                assert sink.connection.losses == 1
    finally:
        sub.wait_for(1000, WAIT_S)
        sub.wait_quiet(0.3)
        sub.stop()
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (1000, 1000, 0)
    assert any("lost" in line for line in lines), lines
    assert any("reconnected" in line for line in lines), lines
    assert sorted(seqs(sub)) == list(range(1000)), "lost messages"  # QoS 1: re-sent ones may repeat


def test_waiting_for_a_frozen_broker_sleeps(private_mosquitto: Callable[..., PrivateMosquitto]) -> None:
    """flush() blocks on acknowledgements that do not come, then on a dead broker: both waits sleep."""
    broker = private_mosquitto().start()
    with fds_above_1024():
        sink = MqttSink(output(broker.url, qos=1, drain_timeout_s=1, reconnect_max_s=0.2))
        sink.open()
        assert sink_fd(sink) > 1024
        sink.send(batch(prefix(), 0, 10))
        sink.flush()
        broker.freeze()
        sink.send(batch(prefix(), 10, 100))

        def flush_unacknowledged() -> None:
            with pytest.raises(DeliveryError, match="were not acknowledged"):
                sink.flush()

        wall_s, cpu_s = cpu_during(flush_unacknowledged)
        assert 0.9 < wall_s < 3
        assert cpu_s < 0.25, f"waiting {wall_s:.1f} s for acknowledgements used {cpu_s:.2f} s of CPU"

        broker.kill()  # now the sink is down and retries with backoff until drain_timeout_s
        wall_s, cpu_s = cpu_during(flush_unacknowledged)
        assert cpu_s < 0.25, f"waiting {wall_s:.1f} s for a dead broker used {cpu_s:.2f} s of CPU"
        with pytest.raises(DeliveryError):
            sink.close()
    assert sink.stats.errors == 100
