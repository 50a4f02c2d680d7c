"""``metersim verify`` against a real Mosquitto: a clean run, a missing reading, a corrupted one, a broker restart.

The shared broker is the integration tests' (``broker_url``: 127.0.0.1:1883 when it listens); each test
has a topic prefix and a client id of its own, so the persistent sessions of the tests never meet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from metersim.cli.verify import EXIT_UNRECONCILED, client_id_for
from metersim.verify.expected import regenerate
from tests.conftest import make_scenario, scenario_dict
from tests.integration.conftest import broker_url, private_mosquitto, split_url  # noqa: F401

#: longest a verify or run child process may take [s]
CHILD_S = 120


def _scenario(tmp: Path, url: str, **extra: Any) -> tuple[Path, str]:
    prefix = f"verify-test/{uuid.uuid4().hex[:10]}"
    data = scenario_dict(duration="6h", **extra)
    data["fleet"] = data["fleet"][:1]
    data["outputs"] = [
        {
            "type": "mqtt",
            "url": url,
            "topic": prefix + "/{commodity}/{meter_id}/reading",
            "events_topic": prefix + "/{commodity}/{meter_id}/event",
            "qos": 1,
            "reconnect_max_s": 1,
        }
    ]
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path, prefix


class Verify:
    """``metersim verify`` as a child process, its standard error in a file."""

    def __init__(self, tmp: Path, scenario: Path, url: str, *options: str) -> None:
        self.report = tmp / "verify.json"
        self.stderr_path = tmp / "verify.err"
        self.client_id = f"verify-test-{uuid.uuid4().hex[:10]}"
        command = [sys.executable, "-m", "metersim", "verify", str(scenario), "--broker", url]
        command += ["--report", str(self.report), "--client-id", self.client_id, *options]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_subscribed(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "metersim: verify: expecting" in self.stderr:
                return
            if self.proc.poll() is not None:
                pytest.fail(f"verify exited {self.proc.returncode}: {self.stderr}")
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail(f"verify did not subscribe within {timeout_s:g} s: {self.stderr}")

    def result(self) -> tuple[int, dict[str, Any]]:
        try:
            code = self.proc.wait(CHILD_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            pytest.fail(f"verify did not end within {CHILD_S} s: {self.stderr}")
        report = json.loads(self.report.read_text()) if self.report.exists() else {}
        return code, report


def _run(scenario: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "-q"]
    return subprocess.run(command, capture_output=True, text=True, timeout=CHILD_S, stdin=subprocess.DEVNULL)


def _publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish ``messages`` at QoS 1 and wait for every PUBACK (bounded in time)."""
    host, port = split_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"verify-pub-{uuid.uuid4().hex[:8]}")
    assert client.connect(host, port, 30) == mqtt.MQTT_ERR_SUCCESS
    assert client.loop_start() == mqtt.MQTT_ERR_SUCCESS
    try:
        infos = []
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, mqtt.error_string(info.rc)
            infos.append(info)
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _expected_messages(scenario: Path) -> list[tuple[str, bytes]]:
    data = yaml.safe_load(scenario.read_text())
    readings = regenerate(make_scenario(data)).readings
    return [(next(iter(r.topics)), r.payload) for _, r in sorted(readings.items(), key=lambda kr: kr[0][::-1])]


def test_client_id_is_fixed_per_scenario_name() -> None:
    assert client_id_for("quick start.yaml") == "metersim-verify-quick-start.yaml"
    assert client_id_for("a.yaml") == client_id_for("a.yaml")


def test_no_broker_exits_3(tmp_path: Path) -> None:
    from tests.integration.conftest import free_port

    scenario, _ = _scenario(tmp_path, f"mqtt://127.0.0.1:{free_port()}")
    verify = Verify(tmp_path, scenario, f"mqtt://127.0.0.1:{free_port()}")
    code, _ = verify.result()
    assert code == 3, verify.stderr
    assert "connection refused" in verify.stderr


def test_no_mqtt_output_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_dict()), encoding="utf-8")
    verify = Verify(tmp_path, path, "mqtt://127.0.0.1:1")
    code, _ = verify.result()
    assert code == 2 and "no `type: mqtt` output" in verify.stderr


@pytest.mark.slow
def test_a_real_run_at_qos1_reconciles(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    scenario, _ = _scenario(tmp_path, broker_url)
    verify = Verify(tmp_path, scenario, broker_url, "--timeout-s", "20")
    verify.wait_subscribed()
    run = _run(scenario)
    assert run.returncode == 0, run.stderr
    code, report = verify.result()
    assert code == 0, verify.stderr
    assert report["status"] == "complete" and report["ok"] is True
    assert report["expected"] == report["received_distinct"] == 20 * 24
    assert report["counts"]["missing"] == report["counts"]["corrupted"] == report["counts"]["unexpected"] == 0


@pytest.mark.slow
def test_one_reading_not_published_is_missing(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    scenario, _ = _scenario(tmp_path, broker_url)
    messages = _expected_messages(scenario)
    gone = messages.pop(37)
    verify = Verify(tmp_path, scenario, broker_url, "--timeout-s", "3")
    verify.wait_subscribed()
    _publish(broker_url, messages)
    code, report = verify.result()
    assert code == EXIT_UNRECONCILED, verify.stderr
    body = json.loads(gone[1])
    assert report["missing"] == [{"meter_id": body["meter_id"], "seq": body["seq"]}]
    assert report["status"] == "idle"
    assert report["counts"]["corrupted"] == report["counts"]["unexpected"] == 0


@pytest.mark.slow
def test_one_reading_with_a_changed_register_is_corrupted(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    scenario, _ = _scenario(tmp_path, broker_url)
    messages = _expected_messages(scenario)
    topic, payload = messages[5]
    body = json.loads(payload)
    body["registers"]["1-0:1.8.0"] += 1.0
    messages[5] = (topic, json.dumps(body).encode())
    verify = Verify(tmp_path, scenario, broker_url, "--timeout-s", "10")
    verify.wait_subscribed()
    _publish(broker_url, messages)
    code, report = verify.result()
    assert code == EXIT_UNRECONCILED, verify.stderr
    assert [(c["meter_id"], c["seq"]) for c in report["corrupted"]] == [(body["meter_id"], body["seq"])]
    assert "registers.1-0:1.8.0" in report["corrupted"][0]["why"]
    assert report["counts"]["missing"] == report["counts"]["unexpected"] == 0
    assert report["status"] == "complete"


@pytest.mark.slow
def test_survives_a_broker_restart_mid_run(tmp_path: Path, private_mosquitto: Any) -> None:  # noqa: F811
    broker = private_mosquitto(persistence=True).start()
    # 6 h at 3600x: about 6 s of publishing, so that the restart lands in the middle of it.
    scenario, _ = _scenario(tmp_path, broker.url, speed=3600)
    verify = Verify(tmp_path, scenario, broker.url, "--timeout-s", "30")
    verify.wait_subscribed()
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "-q"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        time.sleep(2.5)
        assert run.poll() is None, "the run ended before the restart"
        broker.stop()  # SIGTERM: the broker saves its sessions and queues
        time.sleep(0.5)
        broker.start()
        _, err = run.communicate(timeout=CHILD_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(5)
    assert run.returncode == 0, err
    code, report = verify.result()
    assert code == 0, verify.stderr
    assert report["ok"] is True and report["status"] == "complete"
    assert report["session"]["connects"] >= 2  # it did reconnect
    assert report["received_distinct"] == report["expected"] == 20 * 24


def test_ctrl_c_prints_what_arrived_and_exits_130(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    import signal

    scenario, _ = _scenario(tmp_path, broker_url)
    messages = _expected_messages(scenario)
    verify = Verify(tmp_path, scenario, broker_url, "--timeout-s", "60")
    verify.wait_subscribed()
    _publish(broker_url, messages[:10])
    time.sleep(0.5)
    verify.proc.send_signal(signal.SIGINT)
    code, report = verify.result()
    assert code == 130, verify.stderr
    assert report["status"] == "interrupted" and report["received"] == 10
    assert "metersim verify" in verify.stderr  # the summary table


@pytest.mark.slow
def test_injected_comms_faults_are_not_errors(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    scenario, _ = _scenario(tmp_path, broker_url)
    data = yaml.safe_load(scenario.read_text())
    data["fleet"][0]["comms"] = {"faults": {"drop": 0.05, "duplicate": 0.05, "delay": 0.05, "delay_max_s": 3000}}
    data["simulation"]["duration"] = "1d"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    verify = Verify(tmp_path, scenario, broker_url, "--timeout-s", "20")
    verify.wait_subscribed()
    run = _run(scenario)
    assert run.returncode == 0, run.stderr
    code, report = verify.result()
    assert code == 0, verify.stderr
    assert report["ok"] is True and report["status"] == "complete"
    assert set(report["counts"].values()) == {0}
    assert report["injected"]["dropped"] > 0 and report["injected"]["duplicated"] > 0
