"""Supply interruptions end to end: load shedding empties a feeder's intervals at the configured local
hours, its meters log power down and up then, count the failures, and every off span is labelled."""

from __future__ import annotations

import copy
import csv
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from metersim.errors import ConfigError
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario

PKT = timezone(timedelta(hours=5))
OFF_HOURS = {8, 9, 20, 21}  # 08:00-10:00 and 20:00-22:00, Asia/Karachi
SHED = "lahore-SS01-F01"

GROUP: dict[str, Any] = {
    "name": "lahore",
    "commodity": "electricity",
    "count": 40,
    "id_format": "PK-{index:04d}",
    "timezone": "Asia/Karachi",
    "interval_s": 900,
    "annual_kwh": 2400,
    "grid": {"substations": 1, "feeders_per_substation": 2, "transformers_per_feeder": 2},
    "supply": {
        "load_shedding": [
            {
                "name": "30-40%",
                "feeders": [SHED],
                "windows": [{"start": "08:00", "end": "10:00"}, {"start": "20:00", "end": "22:00"}],
            }
        ]
    },
}


def _data(tmp: Path, group: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "simulation": {"start": "2026-01-05T00:00:00+05:00", "duration": "2d", "seed": 7, "speed": "max"},
        "fleet": [copy.deepcopy(group or GROUP)],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(tmp / "truth.csv")},
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(PKT)


def test_a_four_hour_category_has_four_hours_without_consumption_a_day_at_its_local_hours(tmp_path):
    sink = MemorySink()
    report = Simulation(make_scenario(_data(tmp_path)), sinks=[sink]).run()
    rows = [r for r in _rows(tmp_path / "truth.csv") if r["device"] == "meter"]
    by_feeder: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        start = _local(row["interval_end"]) - timedelta(minutes=15)
        zero = float(row["true_consumption"]) == 0.0
        if row["feeder"] == SHED:
            assert zero == (start.hour in OFF_HOURS), (row["meter_id"], start)
        by_feeder[row["feeder"]]["zero"] += zero
        by_feeder[row["feeder"]]["meters"] += 1
    shed_meters = by_feeder[SHED]["meters"] // 192
    assert by_feeder[SHED]["zero"] == shed_meters * 16 * 2  # 16 quarter hours a day, two days
    assert by_feeder["lahore-SS01-F02"]["zero"] < by_feeder["lahore-SS01-F02"]["meters"] * 0.01

    events = sink.events()
    assert {e["meter_id"] for e in events} == {r["meter_id"] for r in rows if r["feeder"] == SHED}
    times = sorted({(_local(e["ts"]).hour, _local(e["ts"]).minute, e["event"]) for e in events})
    assert times == [(8, 0, "power_down"), (10, 0, "power_up"), (20, 0, "power_down"), (22, 0, "power_up")]
    assert len(events) == shed_meters * 4 * 2 == report.events_published
    for event in events:
        assert event["code"] == {"power_down": 1, "power_up": 2}[event["event"]]

    last = {r["meter_id"]: r for r in sink.readings() if r["meter_id"].startswith("PK-")}  # not grid-side
    for meter_id, reading in last.items():
        expected = 4 if meter_id in {e["meter_id"] for e in events} else 0
        assert reading["registers"]["0-0:96.7.21"] == expected
        assert reading["registers"]["0-0:96.7.9"] == expected  # two hours is a long failure

    labels = _rows(tmp_path / "labels.csv")
    assert len(labels) == shed_meters * 4 == report.labels
    for label in labels:
        assert label["kind"] == "supply_interruption"
        start, end = _local(label["start"]), _local(label["end"])
        assert (start.hour, start.minute) in {(8, 15), (20, 15)}  # first interval end without supply
        assert end - start == timedelta(minutes=105)  # ... to the last: eight quarter hours


def test_without_a_supply_section_nothing_changes(tmp_path):
    plain = copy.deepcopy(GROUP)
    del plain["supply"]
    quiet = copy.deepcopy(GROUP)
    quiet["supply"] = {}
    runs = []
    for group in (plain, quiet):
        sink = MemorySink()
        Simulation(make_scenario(_data(tmp_path, group)), sinks=[sink]).run()
        runs.append(sink)
    # an empty supply section only adds the (zero) failure counters
    for a, b in zip(runs[0].readings(), runs[1].readings()):
        if not a["meter_id"].startswith("PK-"):
            assert a == b
            continue
        registers = dict(b["registers"])
        assert registers.pop("0-0:96.7.21") == 0 and registers.pop("0-0:96.7.9") == 0
        assert {**b, "registers": registers} == a
    assert runs[1].events() == []


def test_an_unknown_feeder_is_a_config_error(tmp_path):
    group = copy.deepcopy(GROUP)
    group["supply"]["load_shedding"][0]["feeders"] = ["lahore-SS09-F01"]
    with pytest.raises(ConfigError, match="no feeder 'lahore-SS09-F01'"):
        Simulation(make_scenario(_data(tmp_path, group))).run()


def test_load_shedding_needs_a_grid(tmp_path):
    group = copy.deepcopy(GROUP)
    del group["grid"]
    with pytest.raises(ConfigError, match="need a `grid`"):
        make_scenario(_data(tmp_path, group))
