"""The wire formats through a real (private) Mosquitto, read back by `mosquitto_sub`: Home Assistant
discovery configs are retained and valid; per-reading formats and batches arrive complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, scenario_dict
from tests.encoders.test_homeassistant import _check_config
from tests.encoders.test_sparkplug import spb  # noqa: F401 - the compiled Sparkplug B schema, a fixture

pytestmark = pytest.mark.integration
MOSQUITTO_SUB = shutil.which("mosquitto_sub")


def _run(tmp: Path, output: dict[str, Any], gas: dict[str, Any] | None = None, **group: Any) -> dict[str, Any]:
    """Run 6 electricity and 4 gas meters for an hour into ``output``; the report."""
    data = scenario_dict(duration="1h")
    data["fleet"][0].update(count=6, **group)
    data["fleet"][1].update(count=4, **(gas or {}))
    data["outputs"] = [output]
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    report = tmp / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "metersim", "run", str(path), "--quiet", "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text())


def _retained(port: int, topic: str) -> list[tuple[str, str, str]]:
    """``(retain flag, topic, payload)`` of every retained message under ``topic``, by mosquitto_sub."""
    assert MOSQUITTO_SUB, "mosquitto_sub is part of the test setup (mosquitto-clients)"
    out = subprocess.run(
        [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "--retained-only", "-W", "2",
         "-F", "%r\t%t\t%p"],
        capture_output=True, text=True, timeout=10,
    ).stdout  # fmt: skip
    return [tuple(line.split("\t", 2)) for line in out.splitlines() if line]  # type: ignore[misc]


def test_home_assistant_discovery_is_retained_and_what_ha_requires(tmp_path, private_mosquitto):
    broker = private_mosquitto().start()
    hardware = {"manufacturer": "PakUz Metering", "model": "PUM-E1", "firmware": "1.4.2"}
    output = {"type": "mqtt", "url": broker.url, "homeassistant": {}, "status_topic": "metersim/status/{client_id}"}
    _run(tmp_path, output, hardware=hardware)
    configs = _retained(broker.port, "homeassistant/#")
    assert len(configs) == 6 * 2 + 4  # electricity: energy import and power; gas: its volume
    status = _retained(broker.port, "metersim/status/#")
    assert [flag for flag, _, _ in status] == ["1"] and status[0][2] == "offline"  # after a clean close
    for flag, topic, payload in configs:
        assert flag == "1"  # retained: HA finds the entities after its own restart too
        config = json.loads(payload)
        _check_config(topic, config)
        assert config["availability_topic"] == status[0][1]
        if config["state_topic"].startswith("metersim/electricity/"):
            assert config["device"]["manufacturer"] == "PakUz Metering" and config["device"]["sw_version"] == "1.4.2"


@pytest.mark.parametrize("fmt", ["senml", "dsmr-p1", "batch"])
def test_every_format_delivers_every_reading(tmp_path, private_mosquitto, fmt):
    broker = private_mosquitto().start()
    output: dict[str, Any] = {"type": "mqtt", "url": broker.url, "format": fmt, "qos": 1}
    group: dict[str, Any] = {}
    gas: dict[str, Any] = {}
    if fmt == "dsmr-p1":  # Dutch homes: each electricity meter carries its gas meter's readings
        group = {"gas_group": "tashkent", "timezone": "Europe/Amsterdam", "region": "amsterdam"}
        gas = {"register_digits": 5, "timezone": "Europe/Amsterdam", "region": "amsterdam"}
    if fmt == "batch":
        output["topic"] = "metersim/{group}/batch"
    report = _run(tmp_path, output, gas, **group)
    (out,) = report["outputs"]
    assert out["errors"] == 0 and out["acknowledged"] == out["accepted"] > 0
    readings = report["readings_published"]
    if fmt == "senml":
        assert out["accepted"] == readings  # one pack per reading
    elif fmt == "dsmr-p1":
        assert out["accepted"] == report["readings_by_kind"]["electricity"]  # gas rides in the telegrams
    else:
        assert out["accepted"] < readings


def _capture(port: int, topic: str, count: int, timeout_s: float) -> subprocess.Popen[bytes]:
    """A mosquitto_sub that prints ``topic<TAB>hex payload`` of the first ``count`` messages."""
    assert MOSQUITTO_SUB
    return subprocess.Popen(
        [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", str(count), "-W", str(timeout_s),
         "-F", "%t\t%x"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _messages(sub: subprocess.Popen[bytes]) -> list[tuple[str, bytes]]:
    out, _ = sub.communicate(timeout=30)
    return [(t, bytes.fromhex(h)) for t, h in (line.split("\t") for line in out.decode().splitlines() if line)]


def test_sparkplug_births_on_connect_and_ndeath_is_the_will_when_the_publisher_is_killed(
    tmp_path,
    private_mosquitto,
    spb,  # noqa: F811
):
    pb = spb  # the Tahu schema, compiled by protoc
    broker = private_mosquitto().start()
    data = scenario_dict(duration="1d", speed=3600)  # a day in 24 s: killed after a few
    data["fleet"][0]["count"] = 3
    data["fleet"] = data["fleet"][:1]
    data["outputs"] = [{"type": "mqtt", "url": broker.url, "format": "sparkplug-b",
                        "sparkplug": {"group_id": "PK-LESCO", "edge_node": "DCU1"}}]  # fmt: skip
    path = tmp_path / "spb.yaml"
    path.write_text(yaml.safe_dump(data))
    births = _capture(broker.port, "spBv1.0/PK-LESCO/+/DCU1/#", 5, 20)
    deaths = _capture(broker.port, "spBv1.0/PK-LESCO/NDEATH/DCU1", 1, 30)
    time.sleep(0.5)  # both subscribers are in
    run = subprocess.Popen([sys.executable, "-m", "metersim", "run", str(path), "--quiet"], cwd=ROOT)
    first = _messages(births)  # NBIRTH, then each meter's DBIRTH and DDATA
    run.kill()  # SIGKILL: no DISCONNECT, so the broker publishes the will
    run.wait(timeout=10)
    (death,) = _messages(deaths)
    nbirth = pb.Payload.FromString(first[0][1])
    assert first[0][0] == "spBv1.0/PK-LESCO/NBIRTH/DCU1" and nbirth.seq == 0
    assert [t.split("/")[2] for t, _ in first[1:]][:2] == ["DBIRTH", "DDATA"]
    will = pb.Payload.FromString(death[1])
    bd_seq = {m.name: m.long_value for m in nbirth.metrics}["bdSeq"]
    assert [(m.name, m.long_value) for m in will.metrics] == [("bdSeq", bd_seq)]  # the will of that session
