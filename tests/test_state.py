"""A live run killed with SIGKILL and restarted with its state file continues: no seq reset, and the union
of both runs' readings equals an uninterrupted run's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from metersim.engine import Observer
from metersim.errors import ConfigError
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.state import load_state
from tests.conftest import ROOT, make_scenario, scenario_dict


def _data(tmp: Path, name: str, speed: object) -> dict:
    data = scenario_dict(duration="1d", speed=speed)
    data["fleet"][0]["tariff"] = "tou"
    data["fleet"][0]["pv"] = {"fraction": 0.5}
    data["fleet"][0]["region"] = "lahore"
    data["fleet"][0]["grid"] = {"transformers_per_feeder": 2}
    data["fleet"][1]["converter_fraction"] = 0.5
    data["tariffs"] = {
        "tou": {"bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off"}],
                "prices": {"peak": 2, "off": 1}}
    }  # fmt: skip
    data["simulation"]["state_path"] = str(tmp / f"{name}.state.npz")
    data["simulation"]["state_every_s"] = 0.2
    data["outputs"] = [{"type": "file", "path": str(tmp / f"{name}.jsonl")}]
    data["truth"] = {"path": str(tmp / f"{name}.csv")}
    return data


def _write(tmp: Path, name: str, data: dict) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


@pytest.mark.slow
def test_a_killed_live_run_resumes_from_its_state_file(tmp_path):
    expected = _lines_of_uninterrupted_run(tmp_path)
    scenario = _write(tmp_path, "live", _data(tmp_path, "live", 3600 * 4))  # a day in 6 s of wall time
    command = [sys.executable, "-m", "metersim", "run", str(scenario), "--quiet"]
    first = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    time.sleep(2.5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = len(_lines(tmp_path / "live.jsonl"))
    assert 0 < killed_at < len(expected)
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    lines = _lines(tmp_path / "live.jsonl")
    assert set(lines) == set(expected)  # the union of both runs is the uninterrupted run
    resumed = [json.loads(line) for line in lines[killed_at:]]
    first_seq = defaultdict(list)
    for reading in resumed:
        first_seq[reading["meter_id"]].append(reading["seq"])
    assert min(min(s) for s in first_seq.values()) > 0  # no meter started again at seq 0
    # Readings sent after the last save are sent again, at least once; nothing is reset or lost.
    duplicates = len(lines) - len(set(lines))
    assert duplicates < len(expected) // 4


def _lines_of_uninterrupted_run(tmp: Path) -> list[bytes]:
    data = _data(tmp, "whole", "max")
    del data["simulation"]["state_path"]
    Simulation(make_scenario(data)).run()
    return _lines(tmp / "whole.jsonl")


def test_a_resumed_run_continues_where_the_state_says(tmp_path):
    whole, parts = MemorySink(), MemorySink()
    data = _data(tmp_path, "a", "max")
    del data["simulation"]["state_path"]
    Simulation(make_scenario(data), sinks=[whole]).run()
    staged = _data(tmp_path, "b", "max")

    class StopInTheFourthHour(Observer):
        def observe(self, observation) -> None:
            if observation.group == "lahore" and observation.true.seq == 13:
                simulation.stop()  # mid-interval: some of its readings never go out

    simulation = Simulation(make_scenario(staged), sinks=[parts], observers=[StopInTheFourthHour()])
    simulation.run()
    assert simulation.interrupted
    saved = load_state(Path(staged["simulation"]["state_path"]), make_scenario(staged))
    assert saved is not None
    window, arrays = saved
    assert window.end_s - window.start_s == 86_400
    assert int(arrays["lahore"]["next_seq"][0]) == 13  # the last interval whose readings all went out, + 1
    Simulation(make_scenario(staged), sinks=[parts]).run()
    assert set(parts.messages) == set(whole.messages)
    seqs = [json.loads(p)["seq"] for _, p in parts.messages]
    assert seqs.count(0) == 20 + 10 + 4 + 2  # meters, grid-side meters: seq 0 only in the first run


def test_a_state_file_of_another_scenario_is_refused(tmp_path):
    data = _data(tmp_path, "x", "max")
    data["simulation"]["duration"] = "2h"
    Simulation(make_scenario(data)).run()
    data["fleet"][0]["count"] = 21
    with pytest.raises(ConfigError, match="belongs to another scenario"):
        Simulation(make_scenario(data)).run()
    assert np.load(data["simulation"]["state_path"])["meta"].size > 0


def _bad_day(tmp: Path, name: str) -> dict:
    """configs/bad-day.yaml on 300 meters over 14 h: the DCU link outage (06:00-12:00) holds a backlog
    across many intervals while faults and theft keep per-meter offsets."""
    data = yaml.safe_load((ROOT / "configs" / "bad-day.yaml").read_text())
    data["simulation"]["duration"] = "14h"
    data["fleet"][0]["count"] = 400
    data["simulation"]["state_path"] = str(tmp / f"{name}.state.npz")
    data["simulation"]["state_every_s"] = 0.001
    data["outputs"] = [{"type": "discard"}]
    data["truth"] = None
    return data


def test_a_resumed_bad_day_is_the_uninterrupted_one(tmp_path):
    """Held-back readings (a backlog) and fault and theft offsets survive a stop and a resume."""
    whole, parts = MemorySink(), MemorySink()
    data = _bad_day(tmp_path, "whole")
    del data["simulation"]["state_path"]
    Simulation(make_scenario(data), sinks=[whole]).run()
    staged = _bad_day(tmp_path, "staged")

    class StopDuringTheLinkOutage(Observer):
        def observe(self, observation) -> None:
            if observation.true.seq == 36:  # 09:00, the backlog of DCU0007 is three hours deep
                simulation.stop()

    simulation = Simulation(make_scenario(staged), sinks=[parts], observers=[StopDuringTheLinkOutage()])
    simulation.run()
    assert simulation.interrupted
    arrays = load_state(Path(staged["simulation"]["state_path"]), make_scenario(staged))[1]["lahore"]
    assert 24 <= int(arrays["next_seq"][0]) < 36  # behind the stop: some readings are still held back
    assert any(k.startswith("faults.") for k in arrays) and any(k.startswith("theft.") for k in arrays)
    Simulation(make_scenario(staged), sinks=[parts]).run()
    assert set(parts.messages) == set(whole.messages)  # every reading; registers continue without a jump
    assert len(parts.events()) >= len(whole.events())
