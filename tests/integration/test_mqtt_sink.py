"""MqttSink against real brokers: delivery at every QoS, retain, errors, credentials, TLS, broker restart.

Every message carries its sequence number (``seq=<n>;``) so that an independent subscriber can check
what arrived, exactly once or at least once.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from metersim.config import MqttOutput
from metersim.errors import BrokerUnreachableError, DeliveryError, TlsError
from metersim.sinks.base import Outbox
from metersim.sinks.mqtt import MqttSink
from tests.integration.conftest import (
    LOOPBACK,
    MOSQUITTO_PASSWD,
    PrivateMosquitto,
    Subscriber,
    free_port,
    split_url,
)

pytestmark = pytest.mark.integration

_SEQ = re.compile(rb"seq=(\d+);")
#: every wait in this file is bounded by this [s]
WAIT_S = 20.0


def output(url: str, **fields: object) -> MqttOutput:
    data: dict[str, object] = {"type": "mqtt", "url": url, "connect_timeout_s": 5, "drain_timeout_s": WAIT_S}
    data.update(fields)
    return MqttOutput.model_validate(data)


def prefix() -> str:
    """A topic prefix no other test (or concurrent run on a shared broker) uses."""
    return f"metersim-test/{uuid.uuid4().hex[:12]}"


def batch(base: str, first: int, count: int) -> Outbox:
    """Messages ``first .. first+count-1``, spread over 50 topics under ``base``."""
    topics = [f"{base}/m{seq % 50:03d}/reading" for seq in range(first, first + count)]
    payloads = [
        b'{"seq=%d;":1,"meter_id":"m%03d","import_kwh":1234.567,"ts":"2026-01-01T00:15:00+05:00"}' % (seq, seq % 50)
        for seq in range(first, first + count)
    ]
    return Outbox.of(topics, payloads)


def seqs(sub: Subscriber) -> Counter[int]:
    with sub._cond:
        received = list(sub.messages)
    out: Counter[int] = Counter()
    for _topic, payload in received:
        match = _SEQ.search(payload)
        assert match is not None, payload
        out[int(match.group(1))] += 1
    return out


# --- delivery -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qos", "total"),
    [(0, 5_000), (1, 20_000), (2, 3_000)],
)
def test_every_message_arrives_exactly_once(
    broker_url: str, subscriber: Callable[..., Subscriber], qos: int, total: int
) -> None:
    base = prefix()
    sub = subscriber(f"{base}/#")
    # A small window and buffer, so that each batch of 1000 overflows both and exercises backpressure.
    # At QoS 2 the sink caps the window at 20: a default mosquitto silently drops QoS 2 messages beyond it.
    sink = MqttSink(output(broker_url, qos=qos, max_inflight=100, buffer_messages=500))
    with sink:
        for first in range(0, total, 1000):
            sink.send(batch(base, first, 1000))
            # QoS 2 messages reach subscribers only after PUBREL, which flush() drives. Waiting for the
            # subscriber also keeps within a shared broker's default queue limit (mosquitto drops beyond 1000).
            sink.flush()
            assert sub.wait_for(first + 1000, WAIT_S), f"subscriber got {sub.count} of {first + 1000}"
    assert sink.stats.accepted == total
    assert sink.stats.acknowledged == total
    assert sink.stats.in_flight == 0
    assert sink.stats.errors == 0
    sub.wait_quiet(0.2)
    received = seqs(sub)
    assert sorted(received) == list(range(total)), "lost messages"
    assert max(received.values()) == 1, "duplicated messages"
    assert {topic for topic, _ in sub.messages} == {f"{base}/m{i:03d}/reading" for i in range(50)}


def test_retain_flag_is_set_on_the_broker(broker_url: str, subscriber: Callable[..., Subscriber]) -> None:
    base = prefix()
    with MqttSink(output(broker_url, qos=1, retain=True)) as sink:
        sink.send(batch(base, 7, 1))
    late = subscriber(f"{base}/#")  # subscribes after the publish: only a retained message reaches it
    assert late.wait_for(1, WAIT_S)
    assert late.retained == [True]
    assert seqs(late) == Counter({7: 1})
    # Clear the retained message so that the shared broker stays clean.
    topic = late.messages[0][0]
    with MqttSink(output(broker_url, qos=1, retain=True)) as sink:
        sink.send(Outbox.of([topic], [b""]))


def test_describe_names_the_broker_and_qos(broker_url: str) -> None:
    host, port = split_url(broker_url)
    sink = MqttSink(output(broker_url, qos=2))
    assert sink.describe() == f"mqtt://{host}:{port} qos=2"
    assert sink.name == "mqtt"
    override = MqttSink(output("mqtt://example.invalid:1", qos=0), host=LOOPBACK, port=1234)
    assert override.describe() == f"mqtt://{LOOPBACK}:1234 qos=0"


def test_close_is_idempotent_and_counts_stay_consistent(broker_url: str) -> None:
    sink = MqttSink(output(broker_url, qos=1))
    sink.open()
    sink.send(batch(prefix(), 0, 10))
    sink.close()
    sink.close()
    assert (sink.stats.accepted, sink.stats.acknowledged, sink.stats.in_flight) == (10, 10, 0)


# --- errors -------------------------------------------------------------------------------------------


def test_unreachable_broker_fails_fast() -> None:
    port = free_port()
    sink = MqttSink(output(f"mqtt://{LOOPBACK}:{port}"))
    started = time.monotonic()
    with pytest.raises(
        BrokerUnreachableError, match=rf"cannot reach MQTT broker at {LOOPBACK}:{port}: connection refused"
    ):
        sink.open()
    assert time.monotonic() - started < 2
    sink.close()  # nothing to close, and no error


def test_unknown_host_is_unreachable() -> None:
    sink = MqttSink(output("mqtt://no-such-host.invalid:1883"))
    with pytest.raises(BrokerUnreachableError, match="cannot resolve host name"):
        sink.open()


def test_missing_ca_file_is_a_tls_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "ca.pem"
    sink = MqttSink(output(f"mqtts://{LOOPBACK}:{free_port()}", tls={"ca_file": str(missing)}))
    with pytest.raises(TlsError, match=rf"tls.ca_file {re.escape(str(missing))}: no such file"):
        sink.open()


def test_garbage_ca_file_is_a_tls_error(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    sink = MqttSink(output(f"mqtts://{LOOPBACK}:{free_port()}", tls={"ca_file": str(garbage)}))
    with pytest.raises(TlsError, match=r"tls\.ca_file .*not a usable PEM CA bundle"):
        sink.open()


@pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="no mosquitto_passwd")
def test_credentials_from_the_environment(
    private_mosquitto: Callable[..., PrivateMosquitto], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MOSQUITTO_PASSWD is not None
    passwords = tmp_path / "passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(passwords), "meter", "s3cret-Pw"], check=True, timeout=10)
    broker = private_mosquitto(allow_anonymous=False, extra_config=f"password_file {passwords}\n").start()
    monkeypatch.setenv("METERSIM_TEST_USER", "meter")
    monkeypatch.setenv("METERSIM_TEST_PASS", "s3cret-Pw")
    lines: list[str] = []
    creds = {"username_env": "METERSIM_TEST_USER", "password_env": "METERSIM_TEST_PASS"}

    with MqttSink(output(broker.url, qos=1, **creds), log=lines.append) as sink:
        sink.send(batch(prefix(), 0, 100))
    assert sink.stats.acknowledged == 100

    monkeypatch.setenv("METERSIM_TEST_PASS", "wrong-Pw")
    with pytest.raises(BrokerUnreachableError, match="refused the connection") as info:
        MqttSink(output(broker.url, **creds), log=lines.append).open()
    assert "wrong-Pw" not in str(info.value) and "s3cret-Pw" not in " ".join(lines)

    monkeypatch.delenv("METERSIM_TEST_USER")
    monkeypatch.delenv("METERSIM_TEST_PASS")
    with pytest.raises(BrokerUnreachableError, match="refused the connection"):
        MqttSink(output(broker.url)).open()


# --- the broker goes away -----------------------------------------------------------------------------


def test_nothing_is_lost_across_a_broker_restart(
    private_mosquitto: Callable[..., PrivateMosquitto], subscriber: Callable[..., Subscriber]
) -> None:
    total = 30_000
    # Persistence keeps the subscriber's session (and what is queued for it) across the restart.
    broker = private_mosquitto(persistence=True).start()
    base = prefix()
    sub = subscriber(f"{base}/#", url=broker.url, clean_session=False, client_id=f"metersim-test-{uuid.uuid4().hex}")
    broker.wait_for_save()  # the subscriber's session must survive the SIGKILL
    lines: list[str] = []
    sink = MqttSink(
        output(broker.url, qos=1, max_inflight=500, buffer_messages=5_000, reconnect_max_s=0.5, give_up_s=30),
        log=lines.append,
    )

    def kill_and_restart() -> None:
        time.sleep(0.3)
        # What the broker acknowledged but had not yet passed on dies with it: that loss is the
        # broker's, not the sink's. So freeze it first, let the subscriber catch up with everything
        # the sink saw acknowledged, and only then kill it, while the sink still has messages in flight.
        broker.freeze()
        _wait_until_subscriber_caught_up(sink, sub)
        broker.kill()
        time.sleep(1.0)
        broker.start()

    chaos = threading.Thread(target=kill_and_restart, daemon=True)
    with sink:
        chaos.start()
        for first in range(0, total, 1000):
            sink.send(batch(base, first, 1000))
    chaos.join(WAIT_S)
    assert not chaos.is_alive()

    assert sink.stats.accepted == total
    assert sink.stats.acknowledged == total
    assert sink.stats.errors == 0
    assert any("connection" in line and "lost" in line for line in lines), lines
    assert any("reconnected" in line for line in lines), lines
    sub.wait_for(total, WAIT_S)
    sub.wait_quiet(0.3)
    missing = sorted(set(range(total)) - set(seqs(sub)))
    assert not missing, f"{len(missing)} messages never arrived, e.g. {missing[:10]}; log: {lines}"


def _wait_until_subscriber_caught_up(sink: MqttSink, sub: Subscriber, timeout_s: float = 10.0) -> None:
    """Until the sink's acknowledged count has settled and the subscriber holds at least as many."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        acked = sink.stats.acknowledged
        if acked != last:
            last, since = acked, time.monotonic()
        elif time.monotonic() - since > 0.2 and sub.count >= acked:
            return
        time.sleep(0.02)


def test_gives_up_when_the_broker_stays_away(private_mosquitto: Callable[..., PrivateMosquitto]) -> None:
    broker = private_mosquitto().start()
    lines: list[str] = []
    sink = MqttSink(
        output(broker.url, qos=1, buffer_messages=200, reconnect_max_s=0.2, give_up_s=1.0), log=lines.append
    )
    sink.open()
    sink.send(batch(prefix(), 0, 10))
    broker.kill()
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"unreachable for \d+ s .*unacknowledged"):
        sink.send(batch(prefix(), 10, 1000))  # more than the buffer: blocks until give_up_s
    assert 0.9 < time.monotonic() - started < 5
    with pytest.raises(DeliveryError):
        sink.close()
    assert sink.stats.errors == sink.stats.accepted - sink.stats.acknowledged > 0
    assert any("lost" in line for line in lines), lines


# --- TLS ----------------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", cert.name, "-days", "2", "-subj", f"/CN=metersim test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode != 0:
        pytest.skip("no openssl CLI")
    ca_cert, ca_key = _make_ca(tmp_path, "ca")
    other_ca, _ = _make_ca(tmp_path, "other-ca")
    (tmp_path / "san.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=tmp_path,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", ca_cert.name, "-CAkey", ca_key.name, "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.cnf",
        cwd=tmp_path,
    )  # fmt: skip
    return {"ca": ca_cert, "other_ca": other_ca, "cert": tmp_path / "server.crt", "key": tmp_path / "server.key"}


def test_publishes_over_tls_and_verifies_the_broker(
    private_mosquitto: Callable[..., PrivateMosquitto], tls_files: dict[str, Path]
) -> None:
    broker = private_mosquitto(
        listener_config=f"cafile {tls_files['ca']}\ncertfile {tls_files['cert']}\nkeyfile {tls_files['key']}\n"
    ).start()
    url = f"mqtts://{LOOPBACK}:{broker.port}"
    with MqttSink(output(url, qos=1, tls={"ca_file": str(tls_files["ca"])})) as sink:
        assert sink.describe().startswith("mqtts://")
        sink.send(batch(prefix(), 0, 500))
    assert sink.stats.acknowledged == 500

    with pytest.raises(TlsError, match="certificate verify failed"):
        MqttSink(output(url, tls={"ca_file": str(tls_files["other_ca"])})).open()

    lines: list[str] = []
    insecure = output(url, qos=1, tls={"ca_file": str(tls_files["other_ca"]), "insecure": True})
    with MqttSink(insecure, log=lines.append) as sink:
        sink.send(batch(prefix(), 0, 10))
    assert sink.stats.acknowledged == 10
    assert [line for line in lines if "tls.insecure" in line] == [
        f"mqtt: warning: tls.insecure is set: the certificate of {LOOPBACK}:{broker.port} is not verified"
    ]


def test_plain_client_against_a_tls_listener_is_unreachable(
    private_mosquitto: Callable[..., PrivateMosquitto], tls_files: dict[str, Path]
) -> None:
    broker = private_mosquitto(listener_config=f"certfile {tls_files['cert']}\nkeyfile {tls_files['key']}\n").start()
    with pytest.raises(BrokerUnreachableError, match=r"before CONNACK|no CONNACK"):
        MqttSink(output(broker.url, connect_timeout_s=2)).open()


def test_tls_to_a_plain_listener_is_a_tls_error_that_names_the_likely_cause(
    private_mosquitto: Callable[..., PrivateMosquitto],
) -> None:
    """A plain listener resets a TLS ClientHello: that was "unreachable" (exit 3), it is a TLS error (exit 4)."""
    broker = private_mosquitto().start()
    with pytest.raises(TlsError, match=r"TLS handshake with .* failed: .*plain MQTT listener\? then use mqtt://"):
        MqttSink(output(f"mqtts://{LOOPBACK}:{broker.port}", connect_timeout_s=2)).open()
