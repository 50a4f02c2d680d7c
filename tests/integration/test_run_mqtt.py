"""Whole scenarios against a real broker, checked by an independent subscriber."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable

import jsonschema
import orjson

from metersim.config import MqttOutput
from metersim.engine import Engine
from metersim.runner import build_simulators, run_scenario
from metersim.sinks.mqtt import MqttSink
from tests.conftest import ROOT, make_scenario, scenario_dict, window_of
from tests.integration.conftest import ExternalSubscriber, PrivateMosquitto, Subscriber
from tests.integration.test_mqtt_sink import _wait_until_subscriber_caught_up

SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())
WAIT_S = 60.0


def households(count: int, duration: str = "1d", **output: object):
    data = scenario_dict(duration=duration)
    data["fleet"] = [dict(data["fleet"][0], count=count)]
    data["outputs"] = [{"type": "mqtt", **output}]
    return make_scenario(data)


def test_a_thousand_meters_for_a_day_arrive_exactly_once(broker_url: str, tmp_path):
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    sub = ExternalSubscriber(broker_url, f"{base}/#", tmp_path)
    try:
        scenario = households(1000, url=broker_url, qos=1, topic=base + "/{commodity}/{meter_id}/reading")
        outcome = run_scenario(scenario, progress=False)
        assert outcome.error is None
        assert outcome.report.messages_acknowledged == 96_000
        assert sub.wait_for(96_000, WAIT_S)
        assert sub.wait_quiet(0.5) == 96_000  # no duplicates either
    finally:
        sub.stop()

    validator = jsonschema.Draft202012Validator(SCHEMA)
    series: dict[str, list[dict]] = defaultdict(list)
    for topic, payload in sub.messages():
        reading = orjson.loads(payload)
        assert topic == f"{base}/electricity/{reading['meter_id']}/reading"
        series[reading["meter_id"]].append(reading)
    assert len(series) == 1000
    for readings in series.values():
        readings.sort(key=lambda r: r["seq"])
        assert [r["seq"] for r in readings] == list(range(96))
        registers = [r["registers"]["1-0:1.8.0"] for r in readings]
        assert registers == sorted(registers)
        validator.validate(readings[0])
        validator.validate(readings[-1])


def test_embedded_broker_run_delivers_everything(tmp_path):
    data = scenario_dict(duration="2h")
    data["outputs"] = [{"type": "mqtt", "url": "embedded", "qos": 1}, {"type": "file", "path": str(tmp_path / "r")}]
    outcome = run_scenario(make_scenario(data), progress=False)
    assert outcome.error is None
    expected = 20 * 8 + 10 * 2
    assert [o.acknowledged for o in outcome.report.outputs] == [expected, expected]


def test_a_scenario_survives_a_broker_restart_without_losing_a_reading(
    private_mosquitto: Callable[..., PrivateMosquitto], subscriber: Callable[..., Subscriber]
):
    # No queue limit: the in-process subscriber may fall far behind the publisher, and that must not
    # be mistaken for a loss.
    broker = private_mosquitto(persistence=True, extra_config="max_queued_messages 0\n").start()
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    sub = subscriber(f"{base}/#", url=broker.url, clean_session=False, client_id=f"metersim-test-{uuid.uuid4().hex}")
    broker.wait_for_save()  # the subscriber's session must survive the SIGKILL
    scenario = households(400, url=broker.url, qos=1, topic=base + "/{meter_id}")
    output = scenario.outputs[0]
    assert isinstance(output, MqttOutput)
    lines: list[str] = []
    sink = MqttSink(
        output.model_copy(update={"max_inflight": 200, "buffer_messages": 2000, "reconnect_max_s": 0.5}),
        log=lines.append,
    )
    window = window_of(scenario)

    def kill_and_restart() -> None:
        time.sleep(0.3)
        broker.freeze()  # see test_mqtt_sink: what the broker acknowledged must reach the subscriber first
        _wait_until_subscriber_caught_up(sink, sub)
        broker.kill()
        time.sleep(1.0)
        broker.start()

    chaos = threading.Thread(target=kill_and_restart, daemon=True)
    with sink:
        chaos.start()
        assert Engine(build_simulators(scenario, window)[0], [sink], window).run()
    chaos.join(WAIT_S)
    total = 400 * 96
    assert sink.stats.acknowledged == total and sink.stats.errors == 0
    assert any("reconnected" in line for line in lines), lines
    assert sub.wait_for(total, WAIT_S)
    sub.wait_quiet(0.5)
    received = Counter((r["meter_id"], r["seq"]) for r in (orjson.loads(p) for _, p in sub.messages))
    missing = total - len(received)
    assert missing == 0, f"{missing} readings never arrived; log: {lines}"


def test_every_shipped_config_publishes_a_short_window(broker_url: str):
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        overrides = ["simulation.duration=1h", "simulation.speed=max", "--quiet"]
        args = [sys.executable, "-m", "metersim", "run", str(config), "--quiet"]
        for i, out in enumerate(json.loads(json.dumps(_outputs(config)))):
            if out["type"] == "mqtt" and out.get("url") != "embedded":
                args += ["--set", f"outputs.{i}.url={broker_url}"]
            elif out["type"] == "file":
                args += ["--set", f"outputs.{i}.path=/tmp/metersim-test-{config.stem}.jsonl"]
        args += ["--set", overrides[0], "--set", overrides[1], "--set", "truth=null"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert result.returncode == 0, (config.name, result.stderr)


def _outputs(config):
    import yaml

    return yaml.safe_load(config.read_text())["outputs"]


def test_a_paced_run_keeps_its_connection_alive_between_readings(broker_url: str):
    # Readings every 60 simulated s at 30x: 2 s of silence between emissions, with a 1 s keepalive.
    data = scenario_dict(duration="4m", speed=30)
    data["fleet"] = [dict(data["fleet"][0], count=5, interval_s=60, jitter_s=0)]
    data["outputs"] = [{"type": "mqtt", "url": broker_url, "qos": 1, "keepalive_s": 1}]
    scenario = make_scenario(data)
    output = scenario.outputs[0]
    lines: list[str] = []
    sink = MqttSink(output, log=lines.append)  # type: ignore[arg-type]
    window = window_of(scenario)
    with sink:
        assert Engine(build_simulators(scenario, window)[0], [sink], window, speed=30).run()
    assert sink.stats.acknowledged == 5 * 4
    assert not [line for line in lines if "lost" in line], lines
