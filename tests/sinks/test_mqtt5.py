"""MQTT 5 depth of the MQTT sink, against a real Mosquitto, checked by an independent subscriber.

The subscriber is ``mosquitto_sub -V 5`` (the C client, another process): its ``-F`` format prints
the retained flag (%r), the Content Type (%C), the Message Expiry Interval (%E) and the user
properties (%P, ``key:value`` separated by spaces) of each message as the broker delivered them.
Every test uses its own topics (uuid) and removes the retained messages it leaves.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metersim.config import MqttOutput, parse_scenario
from metersim.errors import ConfigError
from metersim.sinks.base import Outbox
from metersim.sinks.mqtt import MqttSink
from tests.conftest import ROOT, scenario_dict
from tests.integration.conftest import broker_url, private_mosquitto, split_url  # noqa: F401 - fixtures
from tests.robustness.proxy import Proxy

MOSQUITTO_SUB = shutil.which("mosquitto_sub")
MOSQUITTO_PUB = shutil.which("mosquitto_pub")
pytestmark = pytest.mark.skipif(MOSQUITTO_SUB is None or MOSQUITTO_PUB is None, reason="needs mosquitto-clients")

#: how long the subscriber may take to see a message [s]
WAIT_S = 10.0
#: fields of one line of mosquitto_sub's output (tab-separated; the payloads here have no tabs)
FORMAT = "%t\t%r\t%q\t%C\t%E\t%P\t%p"
#: reconnect at once after the proxy cuts the connection
FAST_RECONNECT = {"reconnect_max_s": 0.5, "give_up_s": 10}
MODEL = (("manufacturer", "PakUz-Meters"), ("model", "PU-E3"), ("firmware", "2.1.7"))


class Sub5:
    """``mosquitto_sub -V 5 -q 1 -F FORMAT`` on ``topic_filter``, in its own process, writing to a file."""

    def __init__(self, url: str, topic_filter: str, workdir: Path) -> None:
        assert MOSQUITTO_SUB is not None
        self.host, self.port = split_url(url)
        self.path = workdir / f"sub-{uuid.uuid4().hex[:8]}.txt"
        self.probe = f"metersim-test/probe/{uuid.uuid4().hex}"
        self._out = open(self.path, "w")  # noqa: SIM115 - closed in stop()
        where = ["-V", "5", "-h", self.host, "-p", str(self.port), "-q", "1"]
        self._process = subprocess.Popen(
            [MOSQUITTO_SUB, *where, "-t", topic_filter, "-t", self.probe, "-F", FORMAT],
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )
        self._ready()

    def _ready(self) -> None:
        """Publish probes until one comes back: then the subscription is in place."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            pub(self.host, self.port, self.probe, "probe")
            if any(line[0] == self.probe for line in self._rows()):
                return
            time.sleep(0.05)
        raise TimeoutError("mosquitto_sub did not subscribe")

    def _rows(self) -> list[list[str]]:
        text = self.path.read_text()
        return [line.split("\t") for line in text[: text.rfind("\n") + 1].splitlines()]

    def rows(self) -> list[list[str]]:
        """[topic, retained, qos, content type, expiry, user properties, payload] per message, probes left out."""
        return [row for row in self._rows() if row[0] != self.probe]

    def wait_for(self, done: Callable[[list[list[str]]], bool]) -> list[list[str]]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            rows = self.rows()
            if done(rows):
                return rows
            time.sleep(0.05)
        raise AssertionError(f"subscriber did not get what was expected; it got {self.rows()}")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._out.close()


def pub(host: str, port: int, topic: str, message: str | None, *, retain: bool = False) -> None:
    """``mosquitto_pub``: ``message`` None publishes an empty payload (with retain: clears the topic)."""
    assert MOSQUITTO_PUB is not None
    args = [MOSQUITTO_PUB, "-h", host, "-p", str(port), "-q", "1", "-t", topic]
    args += ["-n"] if message is None else ["-m", message]
    subprocess.run(args + (["-r"] if retain else []), check=True, timeout=10)


def retained_payload(url: str, topic: str) -> str | None:
    """The retained message of ``topic`` as a fresh subscriber gets it, or None if there is none."""
    assert MOSQUITTO_SUB is not None
    host, port = split_url(url)
    result = subprocess.run(
        [MOSQUITTO_SUB, "-V", "5", "-h", host, "-p", str(port), "-t", topic, "-C", "1", "-W", "1", "-F", "%r %p"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    line = result.stdout.strip()
    return line[2:] if line.startswith("1 ") else None


@pytest.fixture
def base() -> Iterator[str]:
    yield f"metersim-test/mqtt5/{uuid.uuid4().hex}"


@pytest.fixture
def sub(broker_url: str, tmp_path: Path) -> Iterator[Callable[[str], Sub5]]:  # noqa: F811 - the fixture
    made: list[Sub5] = []

    def make(topic_filter: str) -> Sub5:
        made.append(Sub5(broker_url, topic_filter, tmp_path))
        return made[-1]

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def clear_retained(broker_url: str) -> Iterator[list[str]]:  # noqa: F811 - the fixture
    """Topics whose retained message the test leaves; cleared (empty retained publish) afterwards."""
    topics: list[str] = []
    yield topics
    host, port = split_url(broker_url)
    for topic in topics:
        pub(host, port, topic, None, retain=True)


def output(url: str, **settings: object) -> MqttOutput:
    return MqttOutput.model_validate({"type": "mqtt", "url": url, "max_rate_msg_s": None, **settings})


def user_properties(field: str) -> list[tuple[str, str]]:
    return [tuple(pair.split(":", 1)) for pair in field.split(" ") if pair]  # type: ignore[misc]


# --- properties -------------------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt5_messages_carry_user_properties_expiry_and_content_type(broker_url, base, sub, qos):  # noqa: F811
    s = sub(f"{base}/#")
    topics = [f"{base}/m{i}" for i in range(20)]
    payloads = [f'{{"n":{i}}}'.encode() for i in range(20)]
    out = output(broker_url, protocol="5", qos=qos, message_expiry_s=600, status_topic=None)
    with MqttSink(out, content_type="application/json") as sink:
        sink.send(Outbox.of(topics, payloads, user_properties=MODEL))
        sink.send(Outbox.of([f"{base}/other"], [b"{}"]))  # another outbox: no user properties
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (21, 21, 0)
    rows = s.wait_for(lambda rows: len(rows) >= 21)
    assert len(rows) == 21
    by_topic = {row[0]: row for row in rows}
    assert sorted(by_topic) == sorted([*topics, f"{base}/other"])
    for topic, payload in zip(topics, payloads):
        _, retained, got_qos, content_type, expiry, props, body = by_topic[topic]
        assert body == payload.decode() and retained == "0" and int(got_qos) == min(qos, 1)  # subscribed at QoS 1
        assert content_type == "application/json"
        assert 590 <= int(expiry) <= 600  # the broker counts down the time a message waited
        assert user_properties(props) == list(MODEL)  # all three, in order
    other = by_topic[f"{base}/other"]
    assert other[3] == "application/json" and other[5] == ""


def test_mqtt311_sends_no_properties_and_still_delivers(broker_url, base, sub):  # noqa: F811
    s = sub(f"{base}/#")
    topics = [f"{base}/m{i}" for i in range(10)]
    with MqttSink(output(broker_url, qos=1, status_topic=None), content_type="application/json") as sink:
        assert not sink.mqtt5
        sink.send(Outbox.of(topics, [b"x"] * 10, user_properties=MODEL))
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (10, 10, 0)
    rows = s.wait_for(lambda rows: len(rows) >= 10)
    assert sorted(row[0] for row in rows) == sorted(topics)
    assert all(row[3:6] == ["", "", ""] for row in rows), rows  # no content type, expiry, user properties


def test_mqtt5_only_settings_are_config_errors_with_their_paths():
    data = scenario_dict()
    data["outputs"] = [
        {"type": "mqtt", "message_expiry_s": 60},  # 3.1.1 by default
        {"type": "mqtt", "url": "embedded", "protocol": 5},  # YAML's unquoted 5 is accepted as "5"
        {"type": "mqtt", "client_id": "a+b", "status_topic": "metersim/status/{client_id}"},  # lands in the topic
        {"type": "mqtt", "status_topic": "metersim/{meter_id}/status"},  # only {client_id}
    ]
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    lines = str(info.value).split("; outputs")
    assert lines[0] == 'outputs[0].message_expiry_s: needs protocol: "5" (MQTT 3.1.1 has no message expiry)'
    assert lines[1].startswith("[1].protocol: the embedded broker (amqtt) speaks MQTT 3.1.1 only")
    assert lines[2].startswith("[2].client_id: contains +")
    assert lines[3].startswith("[3].status_topic: unknown field(s) ['meter_id']")
    assert len(lines) == 4
    assert output("mqtt://127.0.0.1:1883", protocol=5, message_expiry_s=60).protocol == "5"


def test_an_outbox_may_retain_where_the_output_does_not(broker_url, base, clear_retained):  # noqa: F811
    kept, plain = f"{base}/config", f"{base}/reading"
    clear_retained.append(kept)
    with MqttSink(output(broker_url, qos=1, protocol="5", status_topic=None)) as sink:
        sink.send(Outbox.of([kept], [b"discovery"], retain=True))
        sink.send(Outbox.of([plain], [b"reading"]))
    assert retained_payload(broker_url, kept) == "discovery"
    assert retained_payload(broker_url, plain) is None


# --- the retained status and the will ---------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "qos"), [("3.1.1", 1), ("5", 0), ("5", 1), ("5", 2)])
def test_status_is_online_while_up_and_offline_after_a_clean_close(
    broker_url,  # noqa: F811
    base,
    sub,
    clear_retained,
    protocol,
    qos,
):
    client_id = f"metersim-test-{uuid.uuid4().hex[:12]}"
    status = f"{base}/status/{client_id}"
    clear_retained.append(status)
    s = sub(status)
    out = output(broker_url, qos=qos, protocol=protocol, client_id=client_id, status_topic=base + "/status/{client_id}")
    sink = MqttSink(out)
    with sink:
        s.wait_for(lambda rows: [row[6] for row in rows] == ["online"])
        assert retained_payload(broker_url, status) == "online"
        sink.send(Outbox.of([f"{base}/r"] * 5, [b"r"] * 5))
    rows = s.wait_for(lambda rows: len(rows) >= 2)
    assert [row[6] for row in rows] == ["online", "offline"]
    assert all(row[2] == "1" for row in rows)  # QoS 1, whatever the readings' QoS
    assert rows[0][3] == ("text/plain" if protocol == "5" else "")
    assert retained_payload(broker_url, status) == "offline"
    # The status messages are the sink's own: only the readings are counted.
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (5, 5, 0)


PUBLISHER = """
import sys, time
from metersim.config import MqttOutput
from metersim.sinks.base import Outbox
from metersim.sinks.mqtt import MqttSink

url, protocol, client_id, status, topic = sys.argv[1:6]
out = MqttOutput(type="mqtt", url=url, protocol=protocol, client_id=client_id, status_topic=status, qos=1)
sink = MqttSink(out)
sink.open()
sink.send(Outbox.of([topic] * 3, [b"1", b"2", b"3"]))
sink.flush()
print("up", flush=True)
deadline = time.monotonic() + 30  # killed long before; bounded all the same
while time.monotonic() < deadline:
    sink.poll()
    time.sleep(0.05)
"""


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_status_flips_to_offline_when_the_publisher_process_is_killed(broker_url, base, sub, clear_retained, protocol):  # noqa: F811
    client_id = f"metersim-test-{uuid.uuid4().hex[:12]}"
    status = f"{base}/status"
    clear_retained.append(status)
    s = sub(status)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, broker_url, protocol, client_id, status, f"{base}/r"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "up" once its readings are acknowledged
        assert line == b"up\n", proc.stderr.read() if proc.stderr else line
        s.wait_for(lambda rows: [row[6] for row in rows] == ["online"])
        assert retained_payload(broker_url, status) == "online"
        os.kill(proc.pid, signal.SIGKILL)  # no DISCONNECT, no goodbye: only the will can say offline
        proc.wait(5)
        rows = s.wait_for(lambda rows: len(rows) >= 2)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert [row[6] for row in rows] == ["online", "offline"]
    assert rows[1][2] == "1" and retained_payload(broker_url, status) == "offline"


# --- the session ------------------------------------------------------------------------------------


def test_mqtt5_starts_clean_once_and_resumes_the_session_after_a_lost_connection(private_mosquitto, base):  # noqa: F811
    """Mosquitto logs each CONNECT's clean-start flag (``c1``/``c0``): clean only the first time."""
    broker = private_mosquitto().start()
    client_id = f"metersim-test-{uuid.uuid4().hex[:12]}"
    with Proxy(broker.port) as proxy:
        out = output(proxy.url, qos=1, protocol="5", client_id=client_id, status_topic=None, **FAST_RECONNECT)
        with MqttSink(out) as sink:
            sink.send(Outbox.of([f"{base}/r"] * 10, [b"r"] * 10))
            sink.flush()
            assert proxy.cut() == 1
            sink.send(Outbox.of([f"{base}/r"] * 10, [b"r"] * 10))
            sink.flush()
            assert sink.connection is not None and sink.connection.losses == 1
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (20, 20, 0)
    log = broker.log_path.read_text()
    connects = [line for line in log.splitlines() if f" as {client_id} (" in line]
    assert len(connects) == 2, log
    assert "(p5, c1, k60" in connects[0] and "(p5, c0, k60" in connects[1]


@pytest.mark.parametrize("qos", [1, 2])
def test_mqtt5_at_stock_broker_limits_delivers_every_message(private_mosquitto, tmp_path, base, qos):  # noqa: F811
    """Mosquitto's defaults (20 in flight, 1000 queued) with our window of 1000 (QoS 1) or 20 (QoS 2)."""
    broker = private_mosquitto(extra_config="max_inflight_messages 20\nmax_queued_messages 1000\n").start()
    s = Sub5(broker.url, f"{base}/#", tmp_path)
    try:
        count = 2000
        with MqttSink(output(broker.url, qos=qos, protocol="5", status_topic=None)) as sink:
            sink.send(Outbox.of([f"{base}/m"] * count, [str(i).encode() for i in range(count)]))
        rows = s.wait_for(lambda rows: len(rows) >= count)
    finally:
        s.stop()
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (count, count, 0)
    assert sorted(int(row[6]) for row in rows) == list(range(count))  # each exactly once


def test_a_refused_qos1_publish_is_an_error_on_mqtt5(private_mosquitto, tmp_path):  # noqa: F811
    """Mosquitto answers a publish its ACL forbids with PUBACK reason 0x87 (not authorized) on MQTT 5 only.

    (At QoS 2 the refusal is in PUBREC, whose reason code paho 2.2 ignores: not testable through paho.)
    """
    acl = tmp_path / "acl"
    acl.write_text("topic write allowed/#\n")
    broker = private_mosquitto(extra_config=f"acl_file {acl}\n").start()
    out = output(broker.url, qos=1, protocol="5", status_topic=None)
    with MqttSink(out) as sink:
        sink.send(Outbox.of(["allowed/a", "forbidden/b", "allowed/c"], [b"1", b"2", b"3"]))
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.errors) == (3, 2, 1)
