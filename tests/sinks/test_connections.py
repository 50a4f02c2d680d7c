"""Many MQTT connections (``connections: per-meter`` / ``per-concentrator``) and the session hook.

Every test runs its own Mosquitto (``max_connections -1``) on a free loopback port. The oracles are
independent of the sink: the broker's own log ("New client connected ... as <client id>") and its
``$SYS/broker/clients/maximum``, the kernel's socket table (``/proc/net/tcp``), and a subscriber that
is another paho client in its own thread (``tests.integration.conftest.Subscriber``).
"""

from __future__ import annotations

import re
import resource
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metersim.config import MqttOutput, parse_scenario
from metersim.errors import BrokerUnreachableError, DeliveryError
from metersim.simulation import Simulation
from metersim.sinks.base import Interrupted, Outbox
from metersim.sinks.mqtt import ManyMqttSink, MqttSink, OwnMessage
from metersim.sinks.mqtt import topology as topology_module
from tests.conftest import scenario_dict
from tests.integration.conftest import PrivateMosquitto, Subscriber, free_port, need_mosquitto

#: how long a subscriber may take to see everything [s]
WAIT_S = 20.0


@pytest.fixture(scope="module", autouse=True)
def _file_limit() -> None:
    """Soft RLIMIT_NOFILE = hard, for this process and (inherited) for every broker it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    need_mosquitto()
    extra = "max_connections -1\nsys_interval 1\nlog_type all\nconnection_messages true\n"
    with PrivateMosquitto(tmp_path / "broker", extra_config=extra) as started:
        yield started


@pytest.fixture
def subscribe(broker: PrivateMosquitto) -> Iterator[Callable[[str], Subscriber]]:
    made: list[Subscriber] = []

    def make(topic_filter: str) -> Subscriber:
        sub = Subscriber(broker.url, topic_filter)
        made.append(sub)
        return sub.start()

    yield make
    for sub in made:
        sub.stop()


def output(url: str, **fields: Any) -> MqttOutput:
    data: dict[str, Any] = {"type": "mqtt", "url": url, "connections": "per-meter", "max_rate_msg_s": None}
    data.update(fields)
    return MqttOutput.model_validate(data)


def outbox(prefix: str, senders: list[str], seq: int = 0) -> Outbox:
    """One message per sender, on ``prefix/<sender>``, payload ``<sender>:<seq>``."""
    topics = [f"{prefix}/{s}" for s in senders]
    payloads = [f"{s}:{seq}".encode() for s in senders]
    return Outbox(len(senders), lambda: payloads, lambda: topics, senders=lambda: senders)


def client_ids_in_log(broker: PrivateMosquitto) -> list[str]:
    """Client ids of every CONNECT the broker logged, in order (but the test's subscribers)."""
    text = broker.log_path.read_text(errors="replace")
    found = re.findall(r"New client connected from \S+ as (\S+) ", text)
    return [c for c in found if not c.startswith("metersim-test-sub-")]


def established(port: int) -> int:
    """ESTABLISHED TCP sockets whose local port is ``port`` (the broker's side), from the kernel's table."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def sys_value(broker: PrivateMosquitto, topic: str) -> int:
    """A retained ``$SYS`` counter of the broker, read by a fresh subscriber."""
    sub = Subscriber(broker.url, topic)
    try:
        sub.start()
        assert sub.wait_for(1, 5.0), f"no {topic}"
        return int(sub.messages[-1][1])
    finally:
        sub.stop()


# --- per-meter: 5,000 connections through a real run ----------------------------------------------


@pytest.mark.slow
def test_a_per_meter_run_of_5000_meters_keeps_5000_connections_and_delivers_every_reading(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    meters, prefix = 5000, f"conn-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    # 1 h at 900x: 4 readings per meter over ~4 s of wall time, the connections up after a 2.5 s ramp
    data = scenario_dict(duration="1h", speed=900)
    data["fleet"] = [dict(data["fleet"][0], count=meters, id_format="M{index:05d}", interval_s=900, jitter_s=0)]
    data["outputs"] = [
        {
            "type": "mqtt",
            "url": broker.url,
            "qos": 1,
            "topic": prefix + "/{meter_id}",
            "connections": "per-meter",
            "client_id": "fleet",
            "max_rate_msg_s": None,
            "connections_options": {"connect_rate_per_s": 2000},
        }
    ]
    peak, done = [0], threading.Event()

    def sample() -> None:  # the kernel's count of the broker's connections (the subscriber's is one)
        while not done.wait(0.2):
            peak[0] = max(peak[0], established(broker.port))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        report = Simulation(parse_scenario(data)).run()
    finally:
        done.set()
        sampler.join()
    readings = 4 * meters
    assert report.status == "completed", report.error_message
    assert report.errors == 0
    assert report.messages_published == report.messages_acknowledged == readings
    assert sub.wait_for(readings, WAIT_S), f"{sub.count} of {readings} readings arrived"
    per_meter = Counter(topic for topic, _ in sub.messages)
    assert per_meter == {f"{prefix}/M{i:05d}": 4 for i in range(1, meters + 1)}
    assert len(set(sub.messages)) == readings  # four different readings each, none twice
    assert peak[0] >= meters + 1  # 5,000 connections open at the same time
    logged = client_ids_in_log(broker)
    assert len({c for c in logged if c.startswith("fleet-M")}) == meters
    assert len(logged) == len(set(logged)) == meters  # no reconnects


# --- per-concentrator through a real run ------------------------------------------------------------


def test_per_concentrator_opens_one_connection_per_concentrator_with_templated_client_ids(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    prefix = f"dcu-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    status = subscribe(f"{prefix}-status/#")
    data = scenario_dict(duration="1h")
    data["fleet"] = [
        dict(data["fleet"][0], count=25, interval_s=900, jitter_s=0, concentrator={"meters": 10}),
    ]
    data["outputs"] = [
        {
            "type": "mqtt",
            "url": broker.url,
            "qos": 1,
            "topic": prefix + "/{meter_id}",
            "connections": "per-concentrator",
            "client_id": "head",
            "status_topic": prefix + "-status/{client_id}",
            "connections_options": {"client_id": "{client_id}.{index}.{sender}"},
        }
    ]
    report = Simulation(parse_scenario(data)).run()
    assert report.status == "completed", report.error_message
    assert report.errors == 0 and report.messages_acknowledged == 25 * 4
    assert sub.wait_for(100, WAIT_S)
    expected = [f"head.{i}.lahore-DCU{i + 1:04d}" for i in range(3)]  # 25 meters, 10 per DCU: 3 DCUs
    assert sorted(client_ids_in_log(broker)) == expected
    # each connection has its own retained status: online, then offline at the clean close
    assert status.wait_for(6, WAIT_S)
    seen: dict[str, list[bytes]] = {}
    for topic, payload in status.messages:
        seen.setdefault(topic.rsplit("/", 1)[1], []).append(payload)
    assert seen == {client: [b"online", b"offline"] for client in expected}


# --- the ramp, and no thread per client ---------------------------------------------------------------


def test_the_connect_rate_is_honoured(broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber]) -> None:
    prefix = f"ramp-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    senders = [f"s{i}" for i in range(200)]
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:  # the kernel's count of the broker's connections, every 0.1 s
        while not done.wait(0.1):
            count = established(broker.port)
            samples.append((time.monotonic(), count))  # the time after the count: an upper bound

    sink = ManyMqttSink(output(broker.url, qos=1, connections_options={"connect_rate_per_s": 100}))
    sampler = threading.Thread(target=sample)
    start = time.monotonic()
    sampler.start()
    try:
        with sink:
            sink.send(outbox(prefix, senders))  # every message waits for its connection: nothing blocks here
            sink.flush()
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed <= 6.0
    assert sub.wait_for(200, WAIT_S)
    # 100/s, after a burst of a few: never more than ~100 * t + 15 open (the subscriber is one)
    for at, count in samples:
        assert count <= 100 * (at - start) + 15, (at - start, count)
    assert sink.stats.accepted == sink.stats.acknowledged == 200 and sink.stats.errors == 0


def test_2000_connections_share_the_callers_thread(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    prefix = f"threads-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    before = threading.active_count()
    senders = [f"m{i}" for i in range(2000)]
    sink = ManyMqttSink(output(broker.url, qos=0, connections_options={"connect_rate_per_s": 10_000}))
    with sink:
        sink.send(outbox(prefix, senders, 0))
        sink.flush()
        assert sink.connected == 2000
        assert established(broker.port) >= 2000  # fds far past 1023: select() would have failed here
        sink.send(outbox(prefix, senders, 1))
        sink.flush()
        assert threading.active_count() == before  # no thread per client (nor any other)
    assert sub.wait_for(4000, WAIT_S)
    assert sorted(sub.messages) == sorted((f"{prefix}/{s}", f"{s}:{n}".encode()) for s in senders for n in (0, 1))
    assert sink.stats.accepted == sink.stats.acknowledged == 4000 and sink.stats.errors == 0


# --- counting -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_counts_are_exact_across_connections(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber], qos: int
) -> None:
    prefix = f"count-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    senders = [f"m{i}" for i in range(50)]
    with ManyMqttSink(output(broker.url, qos=qos, connections_options={"connect_rate_per_s": 5000})) as sink:
        for seq in range(5):
            sink.send(outbox(prefix, senders[seq:], seq))  # uneven: 50 + 49 + 48 + 47 + 46
    assert sink.stats.accepted == sink.stats.acknowledged == 240 and sink.stats.errors == 0
    assert sub.wait_for(240, WAIT_S) and sub.wait_quiet() == 240
    assert len(sink.client_ids) == 50


def test_an_outbox_without_senders_uses_one_connection_with_the_outputs_client_id(broker: PrivateMosquitto) -> None:
    with ManyMqttSink(output(broker.url, client_id="solo", qos=1)) as sink:
        sink.send(Outbox.of(["t/a", "t/b"], [b"1", b"2"]))
    assert sink.client_ids == ["solo"] and client_ids_in_log(broker) == ["solo"]
    assert sink.stats.acknowledged == 2


def test_no_broker_is_a_broker_error_at_the_first_connection() -> None:
    sink = ManyMqttSink(output(f"mqtt://127.0.0.1:{free_port()}", give_up_s=30))
    with pytest.raises(BrokerUnreachableError, match="cannot reach MQTT broker"), sink:
        sink.send(outbox("x", ["a", "b"]))
    # "a" waited for its connection; "b" was never taken: the first connect failed before
    assert sink.stats.in_flight == 0 and sink.stats.errors == sink.stats.accepted == 1


def test_too_few_file_descriptors_is_one_line(monkeypatch: pytest.MonkeyPatch, broker: PrivateMosquitto) -> None:
    monkeypatch.setattr(topology_module, "raise_nofile_limit", lambda: 100.0)
    monkeypatch.setattr(topology_module, "open_fds", lambda: 20)
    with pytest.raises(DeliveryError) as info, ManyMqttSink(output(broker.url)) as sink:
        sink.send(outbox("x", [f"m{i}" for i in range(50)]))
    message = str(info.value)
    assert "\n" not in message and "RLIMIT_NOFILE" in message and "100" in message
    assert info.value.exit_code == 6


def test_interrupt_counts_every_waiting_message_as_an_error(broker: PrivateMosquitto) -> None:
    sink = ManyMqttSink(output(broker.url, qos=1, connections_options={"connect_rate_per_s": 10}))
    sink.open()
    timer = threading.Timer(0.3, sink.interrupt)
    timer.start()
    try:
        with pytest.raises(Interrupted):
            sink.send(outbox("x", [f"m{i}" for i in range(100)]))
            sink.flush()  # 100 connections at 10/s: the interrupt comes long before
    finally:
        timer.cancel()
        sink.close()
    stats = sink.stats
    assert stats.accepted == 100 and stats.acknowledged + stats.errors == 100 and stats.errors > 50


# --- the session hook -----------------------------------------------------------------------------------


class FakeSession:
    """Numbers its wills per client: ``will`` n carries payload ``will-<n>``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.wills: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []

    def will(self, client_id: str) -> OwnMessage | None:
        n = self.wills[client_id] = self.wills.get(client_id, 0) + 1
        self.calls.append(("will", client_id))
        return OwnMessage(f"{self.prefix}/will/{client_id}", f"will-{n}".encode(), 1, False)

    def on_connect(self, client_id: str) -> list[OwnMessage]:
        self.calls.append(("connect", client_id))
        return [OwnMessage(f"{self.prefix}/hello/{client_id}", f"hello-{self.wills[client_id]}".encode(), 1, False)]

    def on_close(self, client_id: str) -> list[OwnMessage]:
        self.calls.append(("close", client_id))
        return [OwnMessage(f"{self.prefix}/bye/{client_id}", b"bye", 1, False)]


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _payloads(sub: Subscriber, kind: str) -> dict[str, list[bytes]]:
    seen: dict[str, list[bytes]] = {}
    for topic, payload in list(sub.messages):
        parts = topic.split("/")
        if parts[-2] == kind:
            seen.setdefault(parts[-1], []).append(payload)
    return seen


@pytest.mark.parametrize("many", [False, True], ids=["single", "per-meter"])
def test_the_session_hook_across_a_broker_restart(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber], many: bool
) -> None:
    prefix = f"hook-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    session = FakeSession(prefix)
    fast = {"reconnect_max_s": 0.3, "give_up_s": 20, "qos": 1, "client_id": "hk"}
    if many:
        sink: MqttSink | ManyMqttSink = ManyMqttSink(output(broker.url, **fast), session=session)
        clients = ["hk-a", "hk-b"]
    else:
        sink = MqttSink(output(broker.url, connections="single", **fast), session=session)
        clients = ["hk"]
    with sink:
        sink.send(outbox(f"{prefix}/r", ["a", "b"], 0))
        sink.flush()
        assert sub.wait_for(2 + len(clients), WAIT_S)
        assert _payloads(sub, "hello") == {c: [b"hello-1"] for c in clients}  # after the first CONNACK
        broker.restart()  # no will: the broker dies with the connections
        # the subscriber first (the sink makes progress only in poll()), so that it sees the second hello
        _wait(lambda: sub.connects >= 2, "the subscriber to reconnect")
        time.sleep(0.3)  # its SUBACK
        # the sink reconnects: it asks for a fresh will, then says hello again
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and _payloads(sub, "hello") != {c: [b"hello-1", b"hello-2"] for c in clients}:
            sink.poll()
            time.sleep(0.02)
        assert _payloads(sub, "hello") == {c: [b"hello-1", b"hello-2"] for c in clients}
        assert all(session.wills[c] >= 2 for c in clients)
        for c in clients:  # each connect attempt was preceded by a will() for that client
            calls = [kind for kind, client in session.calls if client == c]
            assert calls[:4] == ["will", "connect", "will", "connect"]
        sink.send(outbox(f"{prefix}/r", ["a", "b"], 1))
    # a clean close: on_close messages arrive, and the will (which DISCONNECT discards) does not
    _wait(lambda: len(_payloads(sub, "bye")) >= len(clients), "the goodbyes")
    assert _payloads(sub, "bye") == {c: [b"bye"] for c in clients}
    assert sub.wait_quiet() and _payloads(sub, "will") == {}
    assert [k for k, _ in session.calls].count("close") == len(clients)
    assert sink.stats.accepted == sink.stats.acknowledged == 4  # own messages are not counted


@pytest.mark.parametrize("many", [False, True], ids=["single", "per-meter"])
def test_the_sessions_latest_will_is_published_on_an_unclean_end(
    broker: PrivateMosquitto, subscribe: Callable[[str], Subscriber], many: bool
) -> None:
    prefix = f"will-{uuid.uuid4().hex[:8]}"
    sub = subscribe(f"{prefix}/#")
    session = FakeSession(prefix)
    status = prefix + "/status/{client_id}"
    fields = {"reconnect_max_s": 0.3, "give_up_s": 20, "qos": 1, "client_id": "wl", "status_topic": status}
    if many:
        sink: MqttSink | ManyMqttSink = ManyMqttSink(output(broker.url, **fields), session=session)
        client = "wl-a"
    else:
        sink = MqttSink(output(broker.url, connections="single", **fields), session=session)
        client = "wl"
    sink.open()
    sink.send(outbox(f"{prefix}/r", ["a"], 0))
    sink.flush()
    sink.interrupt()  # drops the connection without DISCONNECT: the broker publishes the will
    sink.close()
    _wait(lambda: bool(_payloads(sub, "will")), "the will")
    assert _payloads(sub, "will") == {client: [b"will-1"]}  # the extra session's will won over the status's
    assert _payloads(sub, "status") == {client: [b"online"]}  # the status kept its online publish
    assert _payloads(sub, "bye") == {}
