"""``metersim send`` against a real ``metersim run`` (subprocess) on a real broker.

Oracles: the response and command JSON Schemas (jsonschema), the meter ids the scenario's
``id_format`` gives (worked by hand), a paho client of its own that sees the published commands,
and exit codes. The verb runs through ``metersim.cli.main`` in a subprocess (registered here if
``metersim/cli/__init__.py`` does not list it yet).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from jsonschema import Draft202012Validator
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.conftest import broker_url, free_port, split_url  # noqa: F401  (broker_url: a fixture)

ROOT = Path(__file__).resolve().parents[2]
#: /tmp/c/paced.yaml of the feature's author, copied here so that the test stands alone
PACED = """\
simulation:
  start: "2026-01-01T00:00:00+05:00"
  duration: 1h
  seed: 7
  speed: 30
tariffs:
  tou:
    commodity: electricity
    currency: PKR
    bands:
      - {name: peak, windows: [{start: "17:00", end: "22:00"}]}
      - {name: offpeak}
    prices: {peak: 50, offpeak: 30}
    standing_charge_per_day: 10
  tou-late:
    commodity: electricity
    currency: PKR
    bands:
      - {name: peak, windows: [{start: "01:00", end: "02:00"}]}
      - {name: offpeak}
    prices: {peak: 50, offpeak: 30}
fleet:
  - name: homes
    commodity: electricity
    count: 20
    id_format: "PK-{index:04d}"
    timezone: Asia/Karachi
    interval_s: 900
    annual_kwh: 2400
    tariff: tou
outputs:
  - type: mqtt
    url: mqtt://127.0.0.1:1883
    topic: "t/{meter_id}"
    qos: 1
    commands:
      allow: [read, disconnect, reconnect, load_limit, ping, status, firmware, time_sync, set_tariff]
  - type: file
    path: out/readings.jsonl
truth:
  path: out/ledger.csv
"""
RESPONSE = Draft202012Validator(json.loads((ROOT / "schemas" / "response-v1.json").read_text()))
COMMAND = Draft202012Validator(json.loads((ROOT / "schemas" / "command-v1.json").read_text()))
#: PK-{index:04d} for 20 meters, by hand
HOMES = [f"PK-{k:04d}" for k in range(1, 21)]
#: allowed in the run: everything but firmware
ALLOW = ["read", "disconnect", "reconnect", "load_limit", "ping", "status", "time_sync", "set_tariff"]
LAUNCH = "import sys; import metersim.cli as c; raise SystemExit(c.main(sys.argv[1:]))"


def scenario(tmp: Path, url: str, prefix: str, protocol: str = "3.1.1") -> Path:
    data: dict[str, Any] = yaml.safe_load(PACED)
    data["simulation"].update(speed=900, duration="1d")  # 1 s wall per 15-min interval; stopped by the test
    mqtt_out = data["outputs"][0]
    mqtt_out.update(url=url, topic=f"{prefix}/t/{{meter_id}}", protocol=protocol)
    mqtt_out["commands"].update(topic=f"{prefix}/cmd/{{meter_id}}", allow=ALLOW)
    data["outputs"][1]["path"] = str(tmp / "readings.jsonl")
    data["truth"]["path"] = str(tmp / "ledger.csv")
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def send(path: Path, *argv: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, "send", str(path), *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=path.parent,
        env={**os.environ, "COLUMNS": "200"},
    )


def lines(out: str) -> list[dict[str, Any]]:
    answers = [json.loads(line) for line in out.splitlines()]
    for answer in answers:
        RESPONSE.validate(answer)
    return answers


class Live:
    def __init__(self, path: Path, url: str, prefix: str, process: subprocess.Popen[bytes]) -> None:
        self.path, self.url, self.prefix, self.process = path, url, prefix, process


#: MQTT 5: metersim/sinks/mqtt/listen.py passes SubscribeOptions as paho's `qos`: the run fails. Drop once fixed


@pytest.fixture(scope="module", params=["3.1.1", "5"])
def live(request: pytest.FixtureRequest, broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:  # noqa: F811
    tmp = tmp_path_factory.mktemp(f"send-{request.param}")
    prefix = f"test-send-{uuid.uuid4().hex[:10]}"
    path = scenario(tmp, broker_url, prefix, request.param)
    process = subprocess.Popen(
        [sys.executable, "-m", "metersim", "run", str(path), "-q"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # ready: it answers, and has published an interval (registers to read)
            assert process.poll() is None, "metersim run ended early"
            probe = send(path, "--meter", HOMES[0], "read", "--timeout", "1")
            if probe.returncode == 0 and lines(probe.stdout)[0]["result"]["registers"]:
                break
            assert time.monotonic() < deadline, f"metersim run never answered: {probe.stderr}"
            time.sleep(0.5)
        yield Live(path, broker_url, prefix, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.slow
def test_read_one_meter(live: Live) -> None:
    done = send(live.path, "--meter", "PK-0007", "read", "--id", "r-1")
    assert done.returncode == 0, done.stderr
    [answer] = lines(done.stdout)
    assert (answer["id"], answer["meter_id"], answer["status"], answer["error"]) == ("r-1", "PK-0007", "ok", None)
    registers = answer["result"]["registers"]
    assert answer["result"]["unit"] == "kWh"
    # the import total and one register per band of `tou` (peak, offpeak), which add up to it
    assert set(registers) == {"1-0:1.8.0", "1-0:1.8.1", "1-0:1.8.2"}
    assert registers["1-0:1.8.0"] > 0
    assert abs(registers["1-0:1.8.1"] + registers["1-0:1.8.2"] - registers["1-0:1.8.0"]) < 0.01
    assert done.stderr.strip() == "send: answered 1 of 1 (ok 1)"


@pytest.mark.slow
def test_ping_a_group(live: Live) -> None:
    done = send(live.path, "--group", "homes", "ping")
    assert done.returncode == 0, done.stderr
    answers = lines(done.stdout)
    assert sorted(a["meter_id"] for a in answers) == HOMES
    assert all(a["status"] == "ok" and a["result"] == {"online": True} for a in answers)
    assert len({a["id"] for a in answers}) == 1
    assert done.stderr.strip() == "send: answered 20 of 20 (ok 20)"


@pytest.mark.slow
def test_not_allowed_is_rejected_exit_8(live: Live) -> None:
    done = send(live.path, "--meter", "PK-0001", "--meter", "PK-0002", "firmware", "--args", '{"version": "2.0"}')
    assert done.returncode == 8
    answers = lines(done.stdout)
    assert sorted(a["meter_id"] for a in answers) == ["PK-0001", "PK-0002"]
    assert {a["status"] for a in answers} == {"rejected"}
    assert all(a["result"] is None and "allow" in a["error"] for a in answers)
    assert done.stderr.strip() == "send: answered 2 of 2 (rejected 2)"


@pytest.mark.slow
def test_load_limit_payload_matches_the_command_schema(live: Live) -> None:
    host, port = split_url(live.url)
    seen: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-send-{uuid.uuid4().hex[:8]}")
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: seen.append(bytes(m.payload))
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(f"{live.prefix}/cmd/PK-0003", qos=1)
        assert subscribed.wait(5)
        done = send(live.path, "--meter", "PK-0003", "load_limit", "--args", '{"kw": 3.5}', "--id", "ll-1")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    assert done.returncode == 0, done.stderr
    [command] = [json.loads(p) for p in seen]
    COMMAND.validate(command)
    assert command == {"id": "ll-1", "command": "load_limit", "args": {"kw": 3.5}}
    [answer] = lines(done.stdout)
    assert answer["status"] == "ok" and answer["result"]["load_limit_kw"] == 3.5
    effective = answer["result"]["effective"]
    assert effective[14:] in ("00:00+05:00", "15:00+05:00", "30:00+05:00", "45:00+05:00")  # a 15-min boundary
    assert effective > answer["time"]  # after the answer (same zone, same format: text order is time order)
    lift = send(live.path, "--meter", "PK-0003", "load_limit", "--args", '{"kw": null}')
    assert lift.returncode == 0 and lines(lift.stdout)[0]["result"]["load_limit_kw"] is None


def test_no_listener_times_out_exit_8(tmp_path: Path, broker_url: str) -> None:  # noqa: F811
    path = scenario(tmp_path, broker_url, f"test-send-{uuid.uuid4().hex[:10]}")  # no run listens there
    done = send(path, "--meter", "PK-0001", "ping", "--timeout", "0.5")
    assert done.returncode == 8
    assert done.stdout == ""
    assert done.stderr.strip() == "send: answered 0 of 1; 1 missing after 0.5 s"


def test_no_broker_exit_3(tmp_path: Path) -> None:
    path = scenario(tmp_path, f"mqtt://127.0.0.1:{free_port()}", "test-send-none")
    done = send(path, "--group", "homes", "ping")
    assert done.returncode == 3
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("metersim: error: send: cannot reach the broker at 127.0.0.1:")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--meter", "XX-1", "ping"], "no meter XX-1"),
        (["--group", "flats", "ping"], "no fleet group 'flats'"),
        (["--meter", "PK-0001", "load_limit", "--args", '{"kw": 0}'], "args.kw"),
        (["--meter", "PK-0001", "ping", "--args", "{oops"], "--args: not JSON"),
        (["--meter", "PK-0001", "ping", "--url", "embedded"], "embedded"),
    ],
)
def test_user_errors_exit_2(tmp_path: Path, argv: list[str], needle: str) -> None:
    path = scenario(tmp_path, f"mqtt://127.0.0.1:{free_port()}", "test-send-none")
    done = send(path, *argv)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("metersim: error: ") and needle in line


def test_no_commands_output_exit_2(tmp_path: Path) -> None:
    path = scenario(tmp_path, "mqtt://127.0.0.1:1", "test-send-none")
    data = yaml.safe_load(path.read_text())
    del data["outputs"][0]["commands"]
    path.write_text(yaml.safe_dump(data))
    done = send(path, "--meter", "PK-0001", "ping")
    assert done.returncode == 2
    assert done.stderr.strip() == "metersim: error: send: the scenario has no `type: mqtt` output with `commands:`"


@pytest.mark.parametrize(
    ("command", "valid"),
    [
        ({"id": "a", "command": "read"}, True),
        ({"id": "a", "command": "read", "args": None}, True),
        ({"id": "a", "command": "read", "args": {"x": 1}}, False),
        ({"id": "a", "command": "load_limit", "args": {"kw": 10000}}, True),
        ({"id": "a", "command": "load_limit", "args": {"kw": 0}}, False),
        ({"id": "a", "command": "load_limit", "args": {}}, False),
        ({"id": "a", "command": "load_limit"}, False),
        ({"id": "a", "command": "set_tariff", "args": {"tariff": "tou", "from": "2026-01-01T00:00:00+05:00"}}, True),
        ({"id": "a", "command": "set_tariff", "args": {"tariff": "tou", "from": "2026-01-01T00:00:00"}}, False),
        ({"id": "a", "command": "firmware", "args": {"version": ""}}, False),
        ({"id": "", "command": "ping"}, False),
        ({"id": "a" * 129, "command": "ping"}, False),
        ({"id": "a", "command": "reboot"}, False),
        ({"id": "a", "command": "ping", "extra": 1}, False),
    ],
)
def test_command_schema_by_hand(command: dict[str, Any], valid: bool) -> None:
    assert COMMAND.is_valid(command) is valid
