"""The command line, run as a user would: a subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, scenario_dict

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def metersim(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metersim", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def write(tmp_path: Path, data: dict, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def file_scenario(tmp_path: Path, **simulation) -> dict:
    data = scenario_dict(**simulation)
    data["outputs"] = [{"type": "file", "path": str(tmp_path / "readings.jsonl")}]
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert text in result.stderr


def test_every_shipped_config_validates():
    result = metersim("validate", *map(str, CONFIGS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count(": ok (") == len(CONFIGS)


def test_validate_reports_each_problem_and_exits_2(tmp_path):
    data = scenario_dict(bogus=True)
    data["fleet"][0]["interval_s"] = 7
    result = metersim("validate", str(write(tmp_path, data)))
    assert result.returncode == 2
    assert "simulation.bogus: unknown key" in result.stderr
    assert "fleet[0].interval_s: must divide 86400" in result.stderr
    assert "Traceback" not in result.stderr


SEVEN_TO_EIGHT = {"start": "07:00", "end": "08:00"}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"supply": {"load_shedding": [{"name": "x", "feeders": ["nope-F9"], "windows": [SEVEN_TO_EIGHT]}]}},
         "supply.load_shedding 'x': no feeder 'nope-F9'"),
        ({"comms": {"outages": [{"path": "lahore-DCU0099", "start": "2026-01-01T01:00:00+05:00", "hours": 1}]}},
         "comms: no path or meter has the id(s) ['lahore-DCU0099']"),
        ({"concentrator": {"meters": 5}, "comms": {"targets": {"PK-LESCO-999999": {"drop": 0.5}}}},
         "comms: no path or meter has the id(s) ['PK-LESCO-999999']"),
    ],
)  # fmt: skip
def test_validate_finds_ids_the_fleet_does_not_have(tmp_path, section, expected):
    """Found by `validate`, the same line (and exit 2) a run would give at its start."""
    data = scenario_dict()
    data["fleet"][0]["grid"] = {"transformers_per_feeder": 2}
    data["fleet"][0].update(section)
    result = metersim("validate", str(write(tmp_path, data)))
    assert result.returncode == 2, result.stderr
    assert f"fleet group 'lahore': {expected}" in result.stderr
    assert "Traceback" not in result.stderr and ": ok (" not in result.stderr


def test_schema_prints_json_schema():
    result = metersim("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert {"simulation", "fleet", "outputs", "tariffs", "regions", "truth"} == set(schema["properties"])


def test_run_writes_readings_and_report(tmp_path):
    scenario = write(tmp_path, file_scenario(tmp_path))
    report = tmp_path / "report" / "run.json"
    result = metersim("run", str(scenario), "--set", "simulation.duration=2h", "--report", str(report))
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "readings.jsonl").read_text().splitlines()
    assert len(lines) == 20 * 8 + 10 * 2
    data = json.loads(report.read_text())
    for key in ("readings_generated", "messages_published", "messages_acknowledged", "errors", "wall_s", "simulated_s"):
        assert key in data
    assert data["readings_generated"] == data["messages_published"] == data["messages_acknowledged"] == len(lines)
    assert data["errors"] == 0
    assert data["simulated_s"] == 7200
    assert data["status"] == "completed"


def test_two_runs_with_the_same_seed_write_identical_files(tmp_path):
    outputs = []
    for n in (1, 2):
        data = file_scenario(tmp_path)
        data["outputs"][0]["path"] = str(tmp_path / f"run{n}.jsonl")
        assert metersim("run", str(write(tmp_path, data, f"s{n}.yaml")), "--quiet").returncode == 0
        outputs.append((tmp_path / f"run{n}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 0


def test_invalid_config_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("simulation: [1, 2\n")
    assert_user_error(metersim("run", str(path)), 2, "invalid YAML")


def test_unwritable_output_exits_5(tmp_path):
    (tmp_path / "blocker").write_text("")
    data = scenario_dict()
    data["outputs"] = [{"type": "file", "path": str(tmp_path / "blocker" / "out.jsonl")}]
    assert_user_error(metersim("run", str(write(tmp_path, data))), 5, "cannot write")


def test_unreachable_broker_exits_3(tmp_path):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "url": f"mqtt://127.0.0.1:{free_port()}", "connect_timeout_s": 5}]
    assert_user_error(metersim("run", str(write(tmp_path, data))), 3, "127.0.0.1")


def test_bad_tls_files_exit_4(tmp_path):
    data = scenario_dict()
    data["outputs"] = [
        {"type": "mqtt", "url": f"mqtts://127.0.0.1:{free_port()}", "tls": {"ca_file": str(tmp_path / "nope.pem")}}
    ]
    assert_user_error(metersim("run", str(write(tmp_path, data))), 4, "nope.pem")


def test_ctrl_c_stops_gracefully_flushes_and_summarises(tmp_path):
    # One simulated day at 20 000x: about 4 s of wall time, interrupted after 1.5 s.
    data = file_scenario(tmp_path, speed=20000)
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "metersim", "run", str(write(tmp_path, data)), "--report", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    summary = json.loads(report.read_text())
    lines = (tmp_path / "readings.jsonl").read_text().splitlines()
    assert summary["status"] == "interrupted"
    assert 0 < len(lines) == summary["readings_generated"] < 20 * 96 + 10 * 24


def test_python_dash_m_and_version():
    result = metersim("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("metersim ")


@pytest.mark.slow  # 20 s of wall clock
def test_a_live_run_from_now_follows_the_wall_clock(tmp_path):
    data = file_scenario(tmp_path, start="now", duration="20s", speed=1)
    for group in data["fleet"]:
        group.update(interval_s=10, jitter_s=2)
    began = time.time()
    result = metersim("run", str(write(tmp_path, data)), "--quiet", timeout=60)
    elapsed = time.time() - began
    assert result.returncode == 0, result.stderr
    readings = [json.loads(line) for line in (tmp_path / "readings.jsonl").read_text().splitlines()]
    assert len(readings) == 30 * 2  # two 10-second intervals per meter
    assert elapsed < 10 + 20 + 5  # waits for the next 10 s boundary, then keeps pace with the clock
    for reading in readings:
        sent = datetime.fromisoformat(reading["sent_at"]).timestamp()
        interval_start = datetime.fromisoformat(reading["ts"]).timestamp() - reading["interval_s"]
        assert began <= interval_start  # nothing from before the run began
        assert began + 10 <= sent <= time.time() + 1  # sent in real time, at the end of its interval or later
