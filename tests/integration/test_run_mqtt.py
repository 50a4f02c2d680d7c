"""Whole scenarios against a real broker, checked by an independent subscriber."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from metersim.config import MqttOutput, Scenario, load_scenario
from metersim.simulation import Simulation
from metersim.sinks.mqtt import MqttSink
from tests.conftest import ROOT, make_scenario, scenario_dict
from tests.integration.conftest import ExternalSubscriber, PrivateMosquitto, Subscriber
from tests.integration.test_mqtt_sink import _wait_until_subscriber_caught_up

pytestmark = pytest.mark.integration

SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())
WAIT_S = 60.0
#: shipped configs, the big one marked slow (100,000 meters: 370,000 readings in the hour)
CONFIGS = [
    pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.stem == "ci-load" else [])
    for path in sorted((ROOT / "configs").glob("*.yaml"))
]


def households(count: int, duration: str = "1d", **output: object) -> Scenario:
    data = scenario_dict(duration=duration)
    data["fleet"] = [dict(data["fleet"][0], count=count)]
    data["outputs"] = [{"type": "mqtt", **output}]
    return make_scenario(data)


@pytest.mark.slow  # 96,000 messages at the default 5,000 msg/s
def test_a_thousand_meters_for_a_day_arrive_exactly_once(broker_url: str, tmp_path):
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    sub = ExternalSubscriber(broker_url, f"{base}/#", tmp_path)
    try:
        scenario = households(1000, url=broker_url, qos=1, topic=base + "/{commodity}/{meter_id}/reading")
        report = Simulation(scenario).run()
        assert report.status == "completed"
        assert report.messages_acknowledged == 96_000
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
    report = Simulation(make_scenario(data)).run()
    assert report.status == "completed"
    expected = 20 * 8 + 10 * 2
    assert [o.acknowledged for o in report.outputs] == [expected, expected]


@pytest.mark.slow  # about 11 s
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
    sink = MqttSink(  # unopened: the Simulation opens and closes it
        output.model_copy(update={"max_inflight": 200, "buffer_messages": 2000, "reconnect_max_s": 0.5}),
        log=lines.append,
    )

    def kill_and_restart() -> None:
        deadline = time.monotonic() + WAIT_S
        while sink.connection is None and time.monotonic() < deadline:  # until the Simulation opened the sink
            time.sleep(0.01)
        time.sleep(0.3)
        broker.freeze()  # see test_mqtt_sink: what the broker acknowledged must reach the subscriber first
        _wait_until_subscriber_caught_up(sink, sub)
        broker.kill()
        time.sleep(1.0)
        broker.start()

    chaos = threading.Thread(target=kill_and_restart, daemon=True)
    chaos.start()
    report = Simulation(scenario.without_outputs(), sinks=[sink]).run()
    chaos.join(WAIT_S)
    assert report.status == "completed"
    total = 400 * 96
    assert sink.stats.acknowledged == total and sink.stats.errors == 0
    assert any("reconnected" in line for line in lines), lines
    assert sub.wait_for(total, WAIT_S)
    sub.wait_quiet(0.5)
    received = Counter((r["meter_id"], r["seq"]) for r in (orjson.loads(p) for _, p in sub.messages))
    missing = total - len(received)
    assert missing == 0, f"{missing} readings never arrived; log: {lines}"


def test_a_paced_run_keeps_its_connection_alive_between_readings(broker_url: str):
    # Readings every 60 simulated s at 30x: 2 s of silence between emissions, with a 1 s keepalive.
    data = scenario_dict(duration="4m", speed=30)
    data["fleet"] = [dict(data["fleet"][0], count=5, interval_s=60, jitter_s=0)]
    data["outputs"] = [{"type": "mqtt", "url": broker_url, "qos": 1, "keepalive_s": 1}]
    scenario = make_scenario(data)
    output = scenario.outputs[0]
    assert isinstance(output, MqttOutput)
    lines: list[str] = []
    sink = MqttSink(output, log=lines.append)  # unopened: the Simulation opens and closes it
    report = Simulation(scenario.without_outputs(), sinks=[sink]).run()
    assert report.status == "completed"
    assert sink.stats.acknowledged == 5 * 4
    assert not [line for line in lines if "lost" in line], lines


# --- every shipped config, once in the whole suite ----------------------------------------------------


def _redirect(
    config: Path, broker_url: str, base: str, tmp_path: Path
) -> tuple[list[str], dict[int, str], list[Path], list[Path]]:
    """Overrides that send every output of ``config`` under ``tmp_path`` or to ``broker_url`` below ``base``.

    Returns the overrides, the topic template of each MQTT output (by output index), the JSON file outputs
    and the DSMR P1 file outputs.
    """
    raw = yaml.safe_load(config.read_text())
    overrides = ["simulation.duration=1h", "simulation.speed=max"]
    topics: dict[int, str] = {}
    files: list[Path] = []
    telegrams: list[Path] = []
    for i, out in enumerate(raw["outputs"]):
        if out["type"] == "mqtt":
            # "embedded" and docker's `mosquitto` host too: the independent subscriber listens on broker_url.
            topics[i] = f"{base}/{i}/{out.get('topic', 'metersim/{commodity}/{meter_id}/reading')}"
            overrides += [f"outputs.{i}.url={broker_url}", f"outputs.{i}.topic={topics[i]}"]
        elif out["type"] == "file" and out.get("format") == "dsmr-p1":
            telegrams.append(tmp_path / f"out{i}.p1")
            overrides.append(f"outputs.{i}.path={telegrams[-1]}")
        elif out["type"] == "file":
            files.append(tmp_path / f"out{i}.jsonl")
            overrides.append(f"outputs.{i}.path={files[-1]}")
        else:
            pytest.fail(f"{config.name}: this test has no way to check what a {out['type']} output received")
    truth = raw.get("truth")
    if truth is not None:
        overrides.append(f"truth.path={tmp_path}/truth.csv")
        if truth.get("weather_path"):
            overrides.append(f"truth.weather_path={tmp_path}/weather.csv")
    return overrides, topics, files, telegrams


def _check_readings(scenario: Scenario, readings: list[dict[str, Any]], what: str) -> None:
    """Every meter of the fleet (and any grid-side meter) sent one reading per interval of the hour."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for reading in readings[:5] + readings[-5:]:
        validator.validate(reading)
    seqs: dict[str, list[int]] = defaultdict(list)
    intervals: dict[str, int] = {}
    for reading in readings:
        seqs[reading["meter_id"]].append(reading["seq"])
        intervals[reading["meter_id"]] = reading["interval_s"]
    fleet_ids = {meter_id for group in scenario.fleet for meter_id in group.meter_ids()}
    assert fleet_ids <= seqs.keys(), f"{what}: {len(fleet_ids - seqs.keys())} meters sent nothing"
    grid_side = {r["meter_id"] for r in readings if r.get("device") in ("feeder", "transformer")}
    assert seqs.keys() - fleet_ids == grid_side, what
    for meter_id, sent in seqs.items():
        assert sorted(sent) == list(range(3600 // intervals[meter_id])), (what, meter_id)


@pytest.mark.parametrize("config", CONFIGS)
def test_every_shipped_config_runs_a_short_window_and_everything_arrives(broker_url: str, tmp_path: Path, config: Path):
    """Each config for an hour at full speed: what reached the broker and the files, and nothing else written."""
    base = f"metersim-test/{uuid.uuid4().hex[:12]}"
    overrides, topics, files, telegrams = _redirect(config, broker_url, base, tmp_path)
    scenario = load_scenario(config, overrides)  # what the command below runs
    report_path = tmp_path / "report.json"
    (tmp_path / "sub").mkdir()
    sub = ExternalSubscriber(broker_url, f"{base}/#", tmp_path / "sub")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "metersim", "run", str(config), "--quiet", "--report", str(report_path)]
            + [f"--set={override}" for override in overrides],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # a path the overrides missed would land here, not in the repository's out/
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 0, (config.name, result.stderr)
        report = json.loads(report_path.read_text())
        # a config with injected faults (bad-day) also sends duplicates and events, and drops readings
        injected = report["labels"] > 0
        published = report["readings_published"] + report["readings_duplicated"]
        messages = published + report["events_published"]  # events: lines in files, an events topic in MQTT
        assert report["status"] == "completed" and report["errors"] == 0
        assert published >= scenario.meter_count > 0
        # a P1 telegram per electricity reading (its gas meter rides along), and no events
        p1 = report["readings_by_kind"].get("electricity", 0)
        assert report["messages_acknowledged"] == messages * (len(scenario.outputs) - len(telegrams)) + p1 * len(
            telegrams
        )
        assert sub.wait_for(published * len(topics), WAIT_S), (config.name, published * len(topics))
        assert sub.wait_quiet(0.5) == published * len(topics)  # and no duplicates
    finally:
        sub.stop()

    by_output: dict[int, list[bytes]] = defaultdict(list)
    for topic, payload in sub.messages():
        index = int(topic[len(base) + 1 :].split("/", 1)[0])
        reading = orjson.loads(payload)
        expected = topics[index].format(commodity=reading["commodity"], meter_id=reading["meter_id"])
        assert topic == expected, config.name
        by_output[index].append(payload.encode())
    for index in topics:
        readings = [orjson.loads(p) for p in by_output[index]]
        assert len(readings) == published
        if not injected:
            _check_readings(scenario, readings, f"{config.name} output {index} at the broker")
    for path in files:
        lines = path.read_bytes().splitlines()
        assert len(lines) == messages, path
        readings_only = [line for line in lines if b'"schema":"metersim/reading/v1"' in line]
        assert len(readings_only) == published
        if not injected:
            _check_readings(scenario, [orjson.loads(line) for line in lines], f"{config.name} {path.name}")
        for payloads in by_output.values():
            assert sorted(payloads) == sorted(readings_only)  # one encoding, sent to every output

    for path in telegrams:  # checked by an independent parser, CRC included
        text = path.read_bytes().decode("ascii")
        found = text.split("/MSM5")[1:]
        assert len(found) == report["readings_by_kind"]["electricity"]
        parser = TelegramParser(telegram_specifications.V5)
        for telegram in found[:3] + found[-3:]:
            assert parser.parse("/MSM5" + telegram.strip("\n")).P1_MESSAGE_HEADER.value == "50"

    if scenario.truth is not None:
        with open(tmp_path / "truth.csv") as f:
            assert sum(1 for _ in csv.DictReader(f)) == report["readings_generated"]
        if scenario.truth.weather_path:
            with open(tmp_path / "weather.csv") as f:
                weather = list(csv.DictReader(f))
            regions = {group.region for group in scenario.fleet if group.region}
            assert sorted(w["region"] for w in weather) == sorted(regions)  # each region, at the top of the hour
    assert not (tmp_path / "out").exists()
    written = {p.name for p in tmp_path.iterdir()}
    expected = {"report.json", "sub", "truth.csv", "labels.csv", "weather.csv", *(p.name for p in [*files, *telegrams])}
    assert written <= expected, written
