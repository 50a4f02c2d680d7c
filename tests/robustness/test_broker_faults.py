"""Broker faults against the real ``metersim run``: crashes, stalls, bad links, refusals, TLS.

Every case runs ``metersim run`` as a child process against a private Mosquitto and checks:

* the documented exit code (README, "Exit codes"), one ``metersim: error:`` line where it fails, and
  no traceback;
* a report whose counts reconcile (``accepted == acknowledged + errors + in_flight``, nothing in
  flight at the end);
* at QoS >= 1, with an independent subscriber (``mosquitto_sub``, another process, a persistent
  session at QoS 1, connected straight to the broker): every (meter, seq) the run accepted arrived,
  duplicates allowed; or, where the run could not deliver, at least everything it counted as
  acknowledged.

Faults on the path between metersim and the broker go through :class:`~tests.robustness.proxy.Proxy`;
the subscriber never does. Brokers run at Mosquitto's stock limits (``max_inflight_messages 20``,
``max_queued_messages 1000``) unless a case needs a queue longer than that.

What a user must configure on the broker for zero loss across a crash is written out in the
docstring of :func:`test_a_crash_loses_what_the_broker_held_unless_it_persists`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.brokers import (
    Lab,
    ListenerTls,
    Run,
    check_delivered,
    check_result,
    expected_readings,
    fleet_scenario,
    free_port,
    make_certificates,
    new_prefix,
    password_file,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

#: reconnect quickly, so that a case spends its time on the fault, not on backoff
QUICK = {"reconnect_max_s": 0.5}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path) as made:
        yield made


def mqtt(url: str, qos: int = 1, **fields: object) -> dict[str, object]:
    return {"type": "mqtt", "url": url, "qos": qos, **QUICK, **fields}


# --- crashes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [1, 2])
def test_a_broker_killed_and_restarted_mid_run_loses_nothing(lab: Lab, tmp_path: Path, qos: int) -> None:
    """kill -9 while readings flow, restart 1 s later: the run reconnects, re-sends what was not
    acknowledged, and ends normally; the subscriber (whose session the broker persisted) gets all."""
    # Neither limit: the broker writes on to the subscriber's socket at once (at the stock window of 20
    # a subscriber slowed by a busy machine makes the broker queue, and what it queued since its last
    # save, every second or two, a kill loses: see the next test), and it queues all that arrives while
    # the subscriber reconnects (mosquitto_sub retries every second; the stock 1000 would drop the rest).
    broker = lab.broker(persistence=True)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    broker.wait_for_save()  # the subscriber's session is on disk
    meters, per_meter = 100, 96
    scenario = fleet_scenario(tmp_path, prefix, meters=meters, outputs=[mqtt(broker.url, qos)])
    started = Run(scenario)
    try:
        wait_until(lambda: len(sub.received()) >= 2_000, 30, "the first readings")
        broker.kill()
        time.sleep(1.0)
        broker.start()
        result = started.wait()
    finally:
        started.kill()
    check_result(result, 0, status="completed")
    assert "lost" in result.stderr and "reconnected" in result.stderr, result.stderr
    check_delivered(sub, result, expected_readings(prefix, meters, per_meter))


@pytest.mark.parametrize("persistence", [True, False], ids=["persistence", "no-persistence"])
def test_a_crash_loses_what_the_broker_held_unless_it_persists(lab: Lab, tmp_path: Path, persistence: bool) -> None:
    """A consumer that is behind when the broker crashes: only a persisting broker keeps its queue.

    The subscriber stops reading (SIGSTOP), so the broker queues readings for it; then the path from
    metersim stalls (nothing new reaches the broker), the broker saves (with persistence), is killed
    (-9) and restarted, the subscriber resumes, and only then the path opens again.

    With persistence the subscriber gets every reading. Without, it misses what the broker held for
    it, although metersim delivered everything: the broker acknowledged each of those readings, so
    the run ends normally (exit 0, nothing counted as an error). That loss is the broker's, and only
    its configuration prevents it. For zero loss across a broker crash, configure Mosquitto with:

    * ``persistence true`` and ``persistence_location`` on durable storage; ``autosave_interval``
      short (here 1 s). Mosquitto acknowledges a message before its next save, so a crash still
      loses what it acknowledged since that save and had not yet passed to a connected subscriber;
      ``autosave_on_changes true`` with ``autosave_interval 1`` saves after every change (the
      narrowest window, at a high cost per message);
    * consumers with persistent sessions (clean session off, a fixed client id) subscribed at QoS >= 1,
      so that the broker queues for them while they are away, also while they reconnect after the
      crash, and ``persistent_client_expiration`` (if set) longer than their longest absence;
    * ``max_queued_messages`` (default 1000, and ``max_queued_bytes``) above what arrives while a
      consumer is away or behind (publish rate x longest absence), or 0 for no limit: beyond it
      Mosquitto drops messages for that consumer silently, crash or not.

    metersim does its part at QoS >= 1: whatever the broker had not acknowledged it sends again after
    reconnecting (so QoS 1 may deliver duplicates).
    """
    broker = lab.broker(persistence=persistence, stock_limits=True, max_queued_messages=100_000)
    proxy = lab.proxy(broker.port)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    if persistence:
        broker.wait_for_save()
    meters, per_meter = 100, 96
    output = mqtt(proxy.url, connect_timeout_s=2)
    scenario = fleet_scenario(tmp_path, prefix, meters=meters, outputs=[output])
    started = Run(scenario)
    try:
        wait_until(lambda: len(sub.received()) >= 1_500, 30, "the first readings")
        sub.pause()
        time.sleep(0.5)  # ~2,500 readings queue up in the broker for the stopped subscriber
        proxy.stall()
        if persistence:
            broker.wait_for_save()
        broker.kill()
        broker.start()
        sub.resume()
        time.sleep(1.5)  # mosquitto_sub reconnects (and, without a session, subscribes again)
        proxy.resume()
        result = started.wait()
    finally:
        started.kill()
    check_result(result, 0, status="completed")
    expected = expected_readings(prefix, meters, per_meter)
    if persistence:
        check_delivered(sub, result, expected)
        return
    assert result.output["acknowledged"] == len(expected)  # metersim delivered everything ...
    sub.wait_quiet(1.0)
    missing = expected - set(sub.received())
    assert 0 < len(missing) < len(expected) - 1_500, len(missing)  # ... and the broker lost its queue


# --- stalls and bad links -----------------------------------------------------------------------------


@pytest.mark.slow  # the stall itself is 20 s
def test_a_broker_stalled_for_20_s_loses_nothing(lab: Lab, tmp_path: Path) -> None:
    """SIGSTOP for 20 s, then SIGCONT: the buffer fills and the run waits; with keepalive_s 5 the sink
    also gives the silent connection up and retries into the frozen broker (no CONNACK); afterwards
    every reading arrives and the run ends normally."""
    broker = lab.broker(stock_limits=True)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    meters, per_meter = 100, 96
    output = mqtt(broker.url, keepalive_s=5, connect_timeout_s=2, buffer_messages=1_000)
    started = Run(fleet_scenario(tmp_path, prefix, meters=meters, outputs=[output]))
    try:
        wait_until(lambda: len(sub.received()) >= 2_000, 30, "the first readings")
        broker.freeze()
        time.sleep(20.0)
        assert started.process.poll() is None, "the run ended while the broker was stalled"
        broker.thaw()
        result = started.wait()
    finally:
        started.kill()
    check_result(result, 0, status="completed")
    assert "lost" in result.stderr, result.stderr  # the keepalive noticed the stall
    check_delivered(sub, result, expected_readings(prefix, meters, per_meter))


@pytest.mark.slow  # about 10 s under load
@pytest.mark.parametrize("qos", [1, 2])
def test_a_link_that_stops_forwarding_loses_nothing(lab: Lab, tmp_path: Path, qos: int) -> None:
    """A black hole for 4 s: TCP stays up, every byte both ways is thrown away, new connections are
    accepted and black-holed too. The keepalive (1 s) notices, attempts time out (no CONNACK), and once
    the link forwards again the run re-sends what was never acknowledged."""
    broker = lab.broker(stock_limits=True)
    proxy = lab.proxy(broker.port)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    meters, per_meter = 100, 96
    output = mqtt(proxy.url, qos, keepalive_s=1, connect_timeout_s=1, buffer_messages=1_000)
    started = Run(fleet_scenario(tmp_path, prefix, meters=meters, outputs=[output]))
    try:
        wait_until(lambda: len(sub.received()) >= 2_000, 30, "the first readings")
        proxy.stop_forwarding()
        time.sleep(4.0)
        assert proxy.discarded_bytes > 0
        proxy.resume()
        result = started.wait()
    finally:
        started.kill()
    check_result(result, 0, status="completed")
    assert "lost" in result.stderr and "reconnected" in result.stderr, result.stderr
    check_delivered(sub, result, expected_readings(prefix, meters, per_meter))


@pytest.mark.slow  # about 10 s under load
@pytest.mark.parametrize("qos", [1, 2])
def test_a_link_that_drops_every_second_loses_nothing(lab: Lab, tmp_path: Path, qos: int) -> None:
    """The proxy closes every connection every second for the whole run: each time the sink reconnects
    and re-sends what was not acknowledged."""
    broker = lab.broker(stock_limits=True)
    proxy = lab.proxy(broker.port)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    meters, per_meter = 100, 192
    output = mqtt(proxy.url, qos, buffer_messages=2_000)
    scenario = fleet_scenario(tmp_path, prefix, meters=meters, duration="2d", outputs=[output])
    started = Run(scenario)
    try:
        wait_until(lambda: len(sub.received()) >= 500, 30, "the first readings")
        proxy.drop_every(1.0)
        result = started.wait()
    finally:
        proxy.stop_dropping()
        started.kill()
    check_result(result, 0, status="completed")
    assert proxy.cuts >= 2, proxy.cuts
    assert result.stderr.count("reconnected") >= 2, result.stderr
    check_delivered(sub, result, expected_readings(prefix, meters, per_meter))


# --- a broker that stays away -------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [1, 2])
def test_a_broker_away_past_give_up_s_fails_with_exit_6_and_counts_the_loss(lab: Lab, tmp_path: Path, qos: int) -> None:
    """The broker becomes unreachable mid-run (the proxy refuses every connection) and stays away:
    after give_up_s the run fails, exit 6, one error line, and what was accepted but never
    acknowledged is counted in ``errors``."""
    broker = lab.broker(stock_limits=True)
    proxy = lab.proxy(broker.port)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    output = mqtt(proxy.url, qos, give_up_s=3, buffer_messages=1_000)
    started = Run(fleet_scenario(tmp_path, prefix, meters=100, outputs=[output]), "-q")
    try:
        wait_until(lambda: len(sub.received()) >= 1_000, 30, "the first readings")
        proxy.refuse()
        away_at = time.monotonic()
        result = started.wait(60)
    finally:
        started.kill()
    assert time.monotonic() - away_at < 3 + 5, "did not give up soon after give_up_s"
    check_result(result, 6, status="failed")
    (line,) = result.errors()
    assert "unreachable for" in line and "give_up_s=3" in line, line
    assert result.report is not None and "give_up_s=3" in (result.report["error_message"] or "")
    out = result.output
    assert out["errors"] > 0 and out["errors"] == out["accepted"] - out["acknowledged"], out
    sub.wait_quiet()
    distinct = len(sub.received())
    # Everything acknowledged arrived; some that the broker got but whose PUBACK the cut lost, too.
    assert out["acknowledged"] <= distinct <= out["accepted"], (distinct, out)


# --- refusals -----------------------------------------------------------------------------------------

USER, PASSWORD = "meter-fleet", "s3cret-Pa55"


def test_wrong_credentials_are_refused_with_exit_3_and_right_ones_deliver(lab: Lab, tmp_path: Path) -> None:
    broker = lab.broker(password_file=password_file(tmp_path / "auth", USER, PASSWORD))
    prefix = new_prefix()
    credentials = {"username_env": "ROBUST_MQTT_USER", "password_env": "ROBUST_MQTT_PASSWORD"}
    scenario = fleet_scenario(tmp_path, prefix, meters=10, outputs=[mqtt(broker.url, **credentials)])
    for password in ("wrong-password", None):
        env = {"ROBUST_MQTT_USER": USER} | ({"ROBUST_MQTT_PASSWORD": password} if password else {})
        if password is None:
            env = {"ROBUST_MQTT_USER": "nobody", "ROBUST_MQTT_PASSWORD": PASSWORD}
        result = run(scenario, "-q", env=env)
        check_result(result, 3, status="failed")
        (line,) = result.errors()
        assert "refused the connection" in line and ("not authori" in line.lower() or "bad user" in line.lower())
        assert PASSWORD not in result.stderr and "wrong-password" not in result.stderr
        assert result.report is not None and result.report["messages_published"] == 0
    sub = lab.subscriber(broker, prefix, username=USER, password=PASSWORD)
    result = run(scenario, "-q", env={"ROBUST_MQTT_USER": USER, "ROBUST_MQTT_PASSWORD": PASSWORD})
    check_result(result, 0, status="completed")
    assert PASSWORD not in result.stderr
    check_delivered(sub, result, expected_readings(prefix, 10, 96))


# --- TLS ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_refused(result_line: str, *fragments: str) -> None:
    assert result_line.startswith("metersim: error: "), result_line
    for fragment in fragments:
        assert fragment in result_line, result_line


def test_a_self_signed_broker_is_refused_by_default_and_accepted_with_its_ca_file(
    lab: Lab,
    tmp_path: Path,
    certs,  # type: ignore[no-untyped-def]
) -> None:
    broker = lab.broker(tls=ListenerTls(certs.self_signed_cert, certs.self_signed_key), plain_port=free_port())
    url = f"mqtts://127.0.0.1:{broker.port}"
    prefix = new_prefix()
    refused = run(fleet_scenario(tmp_path, prefix, meters=10, outputs=[mqtt(url)], name="default"), "-q")
    check_result(refused, 4, status="failed")
    (line,) = refused.errors()
    tls_refused(line, "TLS handshake", "certificate verify failed: self-signed certificate")
    assert refused.report is not None and refused.report["messages_published"] == 0

    sub = lab.subscriber(broker, prefix)
    trusted = mqtt(url, 2, tls={"ca_file": str(certs.self_signed_cert)})
    result = run(fleet_scenario(tmp_path, prefix, meters=10, outputs=[trusted], name="trusted"), "-q")
    check_result(result, 0, status="completed")
    check_delivered(sub, result, expected_readings(prefix, 10, 96))


def test_a_certificate_for_another_host_name_is_refused(lab: Lab, tmp_path: Path, certs) -> None:  # type: ignore[no-untyped-def]
    broker = lab.broker(tls=ListenerTls(certs.other_name_cert, certs.other_name_key))
    output = mqtt(f"mqtts://127.0.0.1:{broker.port}", tls={"ca_file": str(certs.ca)})
    result = run(fleet_scenario(tmp_path, new_prefix(), meters=10, outputs=[output]), "-q")
    check_result(result, 4, status="failed")
    (line,) = result.errors()
    tls_refused(line, "TLS handshake", "certificate verify failed", "mismatch")


def test_mtls_is_refused_without_a_client_certificate_and_accepted_with_one(
    lab: Lab,
    tmp_path: Path,
    certs,  # type: ignore[no-untyped-def]
) -> None:
    """Known failure, fixed: the refusal exited 3 ("connection closed before CONNACK"). With TLS 1.3 the
    client learns of it only after its handshake, from an alert or an EOF: now exit 4, one line."""
    mtls = ListenerTls(certs.server_cert, certs.server_key, ca=certs.ca, require_certificate=True)
    broker = lab.broker(tls=mtls, plain_port=free_port())
    url = f"mqtts://127.0.0.1:{broker.port}"
    prefix = new_prefix()
    without = mqtt(url, tls={"ca_file": str(certs.ca)})
    for attempt in range(2):  # the broker answers with an alert or by closing: both are a TLS refusal
        refused = run(fleet_scenario(tmp_path, prefix, meters=10, outputs=[without], name=f"no-cert{attempt}"), "-q")
        check_result(refused, 4, status="failed")
        (line,) = refused.errors()
        tls_refused(line, "TLS", "before CONNACK", "client certificate", "tls.cert_file")
        assert "_ssl.c" not in line, line
        assert refused.report is not None and refused.report["messages_published"] == 0

    sub = lab.subscriber(broker, prefix)
    files = {"ca_file": str(certs.ca), "cert_file": str(certs.client_cert), "key_file": str(certs.client_key)}
    result = run(fleet_scenario(tmp_path, prefix, meters=10, outputs=[mqtt(url, tls=files)], name="cert"), "-q")
    check_result(result, 0, status="completed")
    check_delivered(sub, result, expected_readings(prefix, 10, 96))


def test_mqtts_to_a_plain_listener_is_a_tls_error(lab: Lab, tmp_path: Path, certs) -> None:  # type: ignore[no-untyped-def]
    """Known failure, fixed: the reset during the handshake exited 3; now exit 4, naming the likely cause."""
    broker = lab.broker()
    for attempt, tls in enumerate([None, {"ca_file": str(certs.ca)}]):
        output = mqtt(f"mqtts://127.0.0.1:{broker.port}", **({"tls": tls} if tls else {}))
        scenario = fleet_scenario(tmp_path, new_prefix(), meters=10, outputs=[output], name=f"plain{attempt}")
        result = run(scenario, "-q")
        check_result(result, 4, status="failed")
        (line,) = result.errors()
        tls_refused(line, "TLS handshake", "plain MQTT listener", "mqtt://")


def test_plain_mqtt_to_a_tls_listener_is_unreachable(lab: Lab, tmp_path: Path, certs) -> None:  # type: ignore[no-untyped-def]
    """The reverse mistake: the TLS listener closes on the plain CONNECT; exit 3 (no TLS was tried)."""
    broker = lab.broker(tls=ListenerTls(certs.server_cert, certs.server_key))
    output = mqtt(f"mqtt://127.0.0.1:{broker.port}", connect_timeout_s=3)
    result = run(fleet_scenario(tmp_path, new_prefix(), meters=10, outputs=[output]), "-q")
    check_result(result, 3, status="failed")
    (line,) = result.errors()
    assert "before CONNACK" in line or "no CONNACK" in line, line
