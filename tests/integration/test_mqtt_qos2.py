"""QoS 2 across reconnects, against a Mosquitto at its stock limits (issue 7).

A stock Mosquitto keeps at most ``max_inflight_messages 20`` incoming QoS 2 messages per client; the
excess it acknowledges (PUBREC, PUBCOMP) and drops, because MQTT 3.1.1 cannot say "quota exceeded".
After a reconnect paho re-sends every message it holds at once, so a sink that let paho hold its
whole buffer lost thousands of messages after one dropped connection and still counted them all as
acknowledged. These tests drop the connection (a) with the broker still running and (b) by a SIGKILL
and restart of the broker, and check with an independent subscriber that every message arrived.

The project's shared test broker (and conftest's ``PrivateMosquitto``) lift both limits, so here the
brokers run with a configuration that sets neither ``max_inflight_messages`` nor ``max_queued_messages``.
The sink reaches the broker through a small TCP proxy that can cut its connection and hold back its
reconnects; the subscriber, ``mosquitto_sub -q 2`` with a persistent session, connects directly.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metersim.sinks.mqtt import MqttSink
from tests.integration.conftest import IN_CI, LOOPBACK, PrivateMosquitto
from tests.integration.test_mqtt_sink import WAIT_S, batch, output, prefix

pytestmark = pytest.mark.integration

TOTAL = 12_000
#: as fast as the broker completes (so that a long backlog waits in the sink), reconnecting quickly
FAST: dict[str, object] = {"max_rate_msg_s": None, "reconnect_max_s": 0.5}
_SEQ = re.compile(r"seq=(\d+);")


# --- a broker at stock limits -------------------------------------------------------------------------


class StockMosquitto(PrivateMosquitto):
    """A PrivateMosquitto with Mosquitto's default ``max_inflight_messages`` (20) and ``max_queued_messages`` (1000)."""

    def __init__(self, workdir: Path, **kwargs: object) -> None:
        super().__init__(workdir, **kwargs)  # type: ignore[arg-type]
        lines = self.config_path.read_text().splitlines(keepends=True)
        stock = [line for line in lines if not line.startswith(("max_inflight_messages", "max_queued_messages"))]
        self.config_path.write_text("".join(stock))

    def connections_of(self, client_id: str) -> int:
        """How many times ``client_id`` has connected, from the broker's log."""
        return self._log_text().count(f" as {client_id} (")


@pytest.fixture
def stock_mosquitto(tmp_path: Path) -> Iterator[Callable[..., StockMosquitto]]:
    """A factory of StockMosquitto instances (not yet started); all are stopped after the test."""
    made: list[StockMosquitto] = []

    def make(**kwargs: object) -> StockMosquitto:
        broker = StockMosquitto(tmp_path / f"stock{len(made)}", **kwargs)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


# --- an independent subscriber ------------------------------------------------------------------------


class DurableSubscriber:
    """``mosquitto_sub -q QOS -c -i ID -v``: another process, a persistent session, every message to a file."""

    def __init__(self, port: int, topic_filter: str, workdir: Path, *, qos: int = 2) -> None:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            if IN_CI:
                pytest.fail("CI=true: mosquitto_sub (mosquitto-clients) is required")
            pytest.skip("no mosquitto_sub")
        self.port = port
        self.client_id = f"metersim-test-sub-{uuid.uuid4().hex[:12]}"
        self.path = workdir / f"{self.client_id}.txt"
        self._marker = topic_filter.rstrip("#").rstrip("/") + "/_ready"
        self._out = open(self.path, "w")  # noqa: SIM115 - closed in stop()
        args = ["-h", LOOPBACK, "-p", str(port), "-q", str(qos), "-c", "-i", self.client_id, "-v", "-t", topic_filter]
        self._process = subprocess.Popen([binary, *args], stdout=self._out, stderr=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        """Publish probes until one comes back: then the subscription is in place."""
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"metersim-test-probe-{uuid.uuid4().hex[:8]}")
        probe.connect(LOOPBACK, self.port)
        probe.loop_start()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                probe.publish(self._marker, b"probe", qos=1).wait_for_publish(2)
                time.sleep(0.2)
                if self._marker in self.path.read_text():
                    return
            raise TimeoutError(f"mosquitto_sub did not receive on port {self.port}")
        finally:
            probe.loop_stop()
            probe.disconnect()

    def seqs(self) -> Counter[int]:
        """How often each sequence number arrived (complete lines only, probes left out)."""
        text = self.path.read_text()
        out: Counter[int] = Counter()
        for line in text[: text.rfind("\n") + 1].splitlines():
            if not line.startswith(self._marker):
                match = _SEQ.search(line)
                assert match is not None, line
                out[int(match.group(1))] += 1
        return out

    def wait_for_distinct(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.seqs()) >= n:
                return True
            time.sleep(0.1)
        return False

    def wait_quiet(self, quiet_s: float = 0.5, timeout_s: float = 10.0) -> int:
        deadline, last = time.monotonic() + timeout_s, -1
        while time.monotonic() < deadline:
            count = sum(self.seqs().values())
            if count == last:
                break
            last = count
            time.sleep(quiet_s)
        return last

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._out.close()


# --- a proxy that cuts connections --------------------------------------------------------------------


class CuttingProxy:
    """Forward loopback TCP connections to ``upstream_port``; ``cut()`` closes them all, once.

    While ``admit`` is clear, a new connection is accepted but not forwarded (its CONNECT waits), so
    that a reconnecting client can be held back until the test lets it through. While ``forward`` is
    clear, nothing more goes from the clients to the broker, but the broker's answers still come back.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.admit = threading.Event()
        self.admit.set()
        self.forward = threading.Event()
        self.forward.set()
        self.accepted = 0
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def cut(self) -> None:
        """Close every forwarded connection, both ways (the client and the broker see it end)."""
        with self._lock:
            socks, self._open = self._open, []
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.admit.set()
        self.forward.set()
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), name="proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        while not self.admit.wait(0.05):
            pass
        try:
            upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._closed:
                client.close()
                upstream.close()
                return
            self._open += [client, upstream]
        threading.Thread(target=self._pipe, args=(upstream, client), name="proxy-down", daemon=True).start()
        self._pipe(client, upstream, self.forward)

    def _pipe(self, src: socket.socket, dst: socket.socket, flowing: threading.Event | None = None) -> None:
        try:
            while data := src.recv(65536):
                while flowing is not None and not flowing.wait(0.05):
                    if dst.fileno() < 0:  # cut while held: what was held is gone
                        return
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):  # one side ended: end the other too, as a broken link would
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy_to() -> Iterator[Callable[[int], CuttingProxy]]:
    made: list[CuttingProxy] = []

    def make(port: int) -> CuttingProxy:
        made.append(CuttingProxy(port))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


# --- the tests ----------------------------------------------------------------------------------------


def _when_accepted(sink: MqttSink, count: int, timeout_s: float = WAIT_S) -> None:
    """Block until the sink has accepted ``count`` messages: the run is well under way."""
    deadline = time.monotonic() + timeout_s
    while sink.stats.accepted < count and time.monotonic() < deadline:
        time.sleep(0.005)


def _run(sink: MqttSink, base: str, chaos: Callable[[], None]) -> None:
    """Send TOTAL messages in batches of 1000 while ``chaos`` runs in a thread; flush."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            chaos()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=guarded, daemon=True)
    try:
        with sink:
            thread.start()
            for first in range(0, TOTAL, 1000):
                sink.send(batch(base, first, 1000))
            sink.flush()
    finally:
        thread.join(WAIT_S)
        assert not errors, errors
    assert not thread.is_alive(), "the chaos thread hung"


def _assert_all_arrived(sink: MqttSink, sub: DurableSubscriber, lines: list[str]) -> None:
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (TOTAL, TOTAL, 0)
    assert sink.stats.in_flight == 0
    assert any("lost" in line for line in lines), lines
    assert any("reconnected" in line for line in lines), lines
    sub.wait_for_distinct(TOTAL, WAIT_S)
    sub.wait_quiet()
    missing = sorted(set(range(TOTAL)) - set(sub.seqs()))
    assert not missing, f"{len(missing)} of {TOTAL} QoS 2 messages never arrived, e.g. {missing[:10]}; log: {lines}"


def test_a_stock_broker_gets_every_qos2_message_across_a_dropped_connection(
    stock_mosquitto: Callable[..., StockMosquitto], proxy_to: Callable[[int], CuttingProxy], tmp_path: Path
) -> None:
    broker = stock_mosquitto()
    broker.start()
    assert "max_inflight" not in broker.config_path.read_text()
    base = prefix()
    sub = DurableSubscriber(broker.port, f"{base}/#", tmp_path)
    proxy = proxy_to(broker.port)
    lines: list[str] = []
    sink = MqttSink(output(f"mqtt://{LOOPBACK}:{proxy.port}", qos=2, **FAST), log=lines.append)
    backlog: list[int] = []

    def cut_once() -> None:
        _when_accepted(sink, 6_000)
        backlog.append(sink.stats.in_flight)
        proxy.cut()

    try:
        _run(sink, base, cut_once)
        _assert_all_arrived(sink, sub, lines)
    finally:
        sub.stop()
    assert proxy.accepted >= 2, "the sink never reconnected"
    # The cut hit a long backlog: a paho holding all of it would have re-sent it at once.
    assert backlog[0] > 1_000, backlog


def test_a_stock_broker_gets_every_qos2_message_across_a_kill_and_restart(
    stock_mosquitto: Callable[..., StockMosquitto], proxy_to: Callable[[int], CuttingProxy], tmp_path: Path
) -> None:
    # What a broker needs for nothing to be lost across its own crash: ``persistence true`` (with a
    # ``persistence_location``) and a short ``autosave_interval`` (default 1800 s; here 1 s), or
    # ``autosave_on_changes true``; and subscribers with persistent sessions (clean session off, a
    # fixed client id, QoS >= 1), whose subscriptions and queued messages the saved database keeps.
    # Even so, Mosquitto writes its database only at those save points: what it completed after the
    # last save and had not yet passed on dies with it. That loss is the broker's, not the sink's, so
    # the test removes it: before the SIGKILL it holds back what the sink sends (the broker's answers
    # still reach the sink) and lets the subscriber catch up with everything the sink saw completed.
    # The broker dies holding up to 20 messages that await PUBREL; the sink re-sends those.
    broker = stock_mosquitto(persistence=True)
    broker.start()
    base = prefix()
    sub = DurableSubscriber(broker.port, f"{base}/#", tmp_path)
    broker.wait_for_save()  # the subscriber's session must survive the SIGKILL
    proxy = proxy_to(broker.port)
    lines: list[str] = []
    sink = MqttSink(output(f"mqtt://{LOOPBACK}:{proxy.port}", qos=2, **FAST), log=lines.append)
    at_kill: list[int] = []

    def kill_and_restart() -> None:
        _when_accepted(sink, 6_000)
        # A stock broker queues at most 1000 messages for an offline subscriber and drops the rest: hold
        # the sink's reconnect back until the subscriber has reconnected to the restarted broker.
        proxy.admit.clear()
        proxy.forward.clear()
        _wait_until_caught_up(sink, sub)
        at_kill.append(sink.stats.in_flight)
        connects = broker.connections_of(sub.client_id)
        broker.kill()
        proxy.cut()
        proxy.forward.set()
        time.sleep(0.5)
        broker.start()
        deadline = time.monotonic() + WAIT_S
        while broker.connections_of(sub.client_id) == connects and time.monotonic() < deadline:
            time.sleep(0.05)
        proxy.admit.set()

    try:
        _run(sink, base, kill_and_restart)
        _assert_all_arrived(sink, sub, lines)
    finally:
        sub.stop()
    assert at_kill[0] > 1_000, f"the kill should hit a long backlog, not {at_kill}"


def _wait_until_caught_up(sink: MqttSink, sub: DurableSubscriber, timeout_s: float = 10.0) -> None:
    """Until the sink's acknowledged count has settled and the subscriber holds at least as many."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        acked = sink.stats.acknowledged
        if acked != last:
            last, since = acked, time.monotonic()
        elif time.monotonic() - since > 0.3 and len(sub.seqs()) >= acked:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the subscriber did not catch up: {len(sub.seqs())} of {sink.stats.acknowledged}")
