"""Communication faults from the scenario file: a scheduled 6-hour link outage, with a deep and a shallow store."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario

TARGET = "PK-0003"
OUTAGE = {"path": TARGET, "start": "2026-01-05T06:00:00+05:00", "hours": 6}


def _run(tmp: Path, depth: int) -> tuple[list[dict[str, Any]], list[dict[str, str]], Any]:
    data = {
        "simulation": {"start": "2026-01-05T00:00:00+05:00", "duration": "1d", "seed": 3, "speed": "max"},
        "fleet": [
            {
                "name": "lahore",
                "commodity": "electricity",
                "count": 5,
                "id_format": "PK-{index:04d}",
                "timezone": "Asia/Karachi",
                "annual_kwh": 2400,
                "comms": {"store_depth": depth, "outages": [OUTAGE], "reconnect_jitter_s": 60},
            }
        ],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(tmp / "truth.csv")},
    }
    sink = MemorySink()
    report = Simulation(make_scenario(data), sinks=[sink]).run()
    with open(tmp / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    return [r for r in sink.readings() if r["meter_id"] == TARGET], labels, report


@pytest.mark.parametrize(("depth", "lost"), [(96, 0), (8, 24 - 8)])
def test_a_six_hour_link_outage_delivers_the_store_late_and_loses_exactly_the_overflow(tmp_path, depth, lost):
    readings, labels, report = _run(tmp_path, depth)
    seqs = [r["seq"] for r in readings]
    held = list(range(23, 47))  # the 24 quarter hours whose report falls in 06:00-12:00
    assert sorted(seqs) == [s for s in range(96) if s not in held[:lost]]
    late = [r for r in readings if r["quality"] == "late"]
    assert [r["seq"] for r in late] == held[lost:]
    assert all(r["sent_at"] >= "2026-01-05T12:00:00+05:00" for r in late)
    assert report.readings_published == report.readings_generated - lost
    kinds = {label["kind"]: label for label in labels}
    assert kinds["comms_backlog"]["meter_id"] == TARGET
    if lost:
        assert float(kinds["comms_lost"]["severity"]) == lost
    else:
        assert "comms_lost" not in kinds
    with open(tmp_path / "truth.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["meter_id"] == TARGET]
    assert sum(r["published"] == "false" for r in rows) == lost  # the ledger says what never left
