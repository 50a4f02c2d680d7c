"""Whole runs through the runner: ground truth files, and bills that agree with the truth."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal

import pytest

from metersim.bills import compute_bill
from metersim.config import load_scenario
from metersim.runner import bill_scenario, run_scenario
from tests.conftest import ROOT


def amsterdam(tmp_path, *overrides):
    return load_scenario(
        ROOT / "configs" / "amsterdam-dsmr.yaml",
        [
            "simulation.duration=1d",
            "fleet.0.count=20",
            "fleet.1.count=10",
            "outputs.0={type: discard}",
            f"outputs.1.path={tmp_path}/readings.jsonl",
            f"truth.path={tmp_path}/truth.csv",
            f"truth.weather_path={tmp_path}/weather.csv",
            *overrides,
        ],
    )


def test_truth_csv_has_a_row_per_reading_and_hourly_weather(tmp_path):
    outcome = run_scenario(amsterdam(tmp_path), progress=False)
    assert outcome.error is None
    with open(tmp_path / "truth.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == outcome.report.readings_generated == 20 * 96 + 10 * 24
    assert {r["band"] for r in rows if r["commodity"] == "electricity"} == {"low"}  # a Saturday
    with open(tmp_path / "weather.csv") as f:
        weather = list(csv.DictReader(f))
    assert len(weather) == 24
    assert all(-20 < float(w["temperature_c"]) < 30 for w in weather)


def test_truth_is_deterministic_and_parquet_matches_csv(tmp_path):
    pyarrow = pytest.importorskip("pyarrow.parquet")
    run_scenario(amsterdam(tmp_path), progress=False)
    first = (tmp_path / "truth.csv").read_bytes()
    run_scenario(amsterdam(tmp_path), progress=False)
    assert (tmp_path / "truth.csv").read_bytes() == first
    run_scenario(amsterdam(tmp_path, f"truth.path={tmp_path}/truth.parquet"), progress=False)
    table = pyarrow.read_table(tmp_path / "truth.parquet")
    assert table.num_rows == first.count(b"\n") - 1
    assert table.column("meter_id")[0].as_py() == first.split(b"\n")[1].split(b",")[2].decode()


def test_bills_reproduce_a_recomputation_from_the_truth_ledger(tmp_path):
    scenario = amsterdam(tmp_path, "simulation.duration=3d")
    outcome, count = bill_scenario(scenario, str(tmp_path / "bills.csv"), progress=False)
    assert outcome.error is None
    assert count == 30  # one period (March) per meter
    run_scenario(scenario, progress=False)
    units = defaultdict(lambda: defaultdict(int))
    seconds = defaultdict(int)
    with open(tmp_path / "truth.csv") as f:
        for row in csv.DictReader(f):
            units[row["meter_id"]][row["band"]] += round(float(row["import"]) * 1000)
            seconds[row["meter_id"]] += 900 if row["commodity"] == "electricity" else 3600
    with open(tmp_path / "bills.csv") as f:
        bills = {b["meter_id"]: b for b in csv.DictReader(f)}
    for meter, bands in units.items():
        tariff = scenario.tariffs["nl-two-band" if meter.startswith("NL-E") else "nl-gas"]
        names = [b.name for b in tariff.bands]
        expected = compute_bill(
            tariff,
            meter,
            "2026-03",
            3,
            Decimal(seconds[meter]) / 86400,
            [bands.get(name, 0) for name in names],
            "kWh" if meter.startswith("NL-E") else "m3",
        )
        assert Decimal(bills[meter]["total"]) == expected.total
