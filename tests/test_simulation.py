"""Whole runs through the Simulation facade: ground truth files, and bills that agree with the truth."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from metersim.config import load_scenario
from metersim.errors import MissingDependencyError
from metersim.ledger.bill_files import write_bills
from metersim.ledger.billing import BillObserver
from metersim.ledger.bills import compute_bill
from metersim.simulation import Simulation
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
    report = Simulation(amsterdam(tmp_path)).run()
    assert report.status == "completed"
    with open(tmp_path / "truth.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report.readings_generated == 20 * 96 + 10 * 24
    assert {r["band"] for r in rows if r["commodity"] == "electricity"} == {"low"}  # a Saturday
    with open(tmp_path / "weather.csv") as f:
        weather = list(csv.DictReader(f))
    assert len(weather) == 24
    assert all(-20 < float(w["temperature_c"]) < 30 for w in weather)


def test_truth_is_deterministic_and_parquet_matches_csv(tmp_path):
    pyarrow = pytest.importorskip("pyarrow.parquet")
    Simulation(amsterdam(tmp_path)).run()
    first = (tmp_path / "truth.csv").read_bytes()
    Simulation(amsterdam(tmp_path)).run()
    assert (tmp_path / "truth.csv").read_bytes() == first
    Simulation(amsterdam(tmp_path, f"truth.path={tmp_path}/truth.parquet")).run()
    table = pyarrow.read_table(tmp_path / "truth.parquet")
    assert table.num_rows == first.count(b"\n") - 1
    assert table.column("meter_id")[0].as_py() == first.split(b"\n")[1].split(b",")[2].decode()


def test_a_parquet_ledger_without_pyarrow_is_a_missing_dependency(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    simulation = Simulation(amsterdam(tmp_path, f"truth.path={tmp_path}/truth.parquet"))
    message = r"^writing the ledger as Parquet needs pyarrow: pip install 'metersim\[parquet\]'$"
    with pytest.raises(MissingDependencyError, match=message) as caught:
        simulation.run()
    assert caught.value.exit_code == 7
    assert simulation.report.status == "failed"
    assert simulation.report.error_message == str(caught.value)
    assert simulation.report.readings_generated == 0  # refused before anything ran
    assert not (tmp_path / "truth.parquet").exists()


def test_bills_reproduce_a_recomputation_from_the_truth_ledger(tmp_path):
    scenario = amsterdam(tmp_path, "simulation.duration=3d")
    observer = BillObserver(scenario)
    report = Simulation(scenario.without_outputs(), observers=[observer]).run()
    assert report.status == "completed"
    bills = observer.bills()
    write_bills(bills, tmp_path / "bills.csv")
    assert len(bills) == 30  # one period (March) per meter
    # billing publishes and writes nothing else
    assert not (tmp_path / "truth.csv").exists() and not (tmp_path / "readings.jsonl").exists()
    Simulation(scenario).run()
    units = defaultdict(lambda: defaultdict(int))
    exports = defaultdict(lambda: defaultdict(int))
    days = defaultdict(set)  # local calendar days with an interval start: the standing charge's days
    with open(tmp_path / "truth.csv") as f:
        for row in csv.DictReader(f):
            units[row["meter_id"]][row["band"]] += round(float(row["import"]) * 1000)
            exports[row["meter_id"]][row["band"]] += round(float(row["export"]) * 1000)
            interval_s = 900 if row["commodity"] == "electricity" else 3600
            start = dt.datetime.fromtimestamp(int(row["interval_end_s"]) - interval_s, ZoneInfo("Europe/Amsterdam"))
            days[row["meter_id"]].add(start.date())
    with open(tmp_path / "bills.csv") as f:
        bills_by_meter = {b["meter_id"]: b for b in csv.DictReader(f)}
    assert len(bills_by_meter) == 30
    for meter, bands in units.items():
        tariff = scenario.tariffs["nl-two-band" if meter.startswith("NL-E") else "nl-gas"]
        names = [b.name for b in tariff.bands]
        expected = compute_bill(
            tariff,
            meter,
            "2026-03",
            3,
            Decimal(len(days[meter])),
            [bands.get(name, 0) for name in names],
            "kWh" if meter.startswith("NL-E") else "m3",
            export_milli=[exports[meter].get(name, 0) for name in names] if tariff.net_metering else None,
        )
        assert Decimal(bills_by_meter[meter]["total"]) == expected.total


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def test_metersim_bill_matches_bills_worked_out_by_hand_from_the_ledger(tmp_path):
    """Three tariffs (time of use, slabs, two-band), billed by the CLI and by plain arithmetic here."""
    import subprocess

    import yaml

    nepra = yaml.safe_load((ROOT / "configs" / "lahore-feeder.yaml").read_text())["tariffs"]["nepra-tou"]
    uz_gas = yaml.safe_load((ROOT / "configs" / "tashkent-gas.yaml").read_text())["tariffs"]["uz-gas"]
    nl = yaml.safe_load((ROOT / "configs" / "amsterdam-dsmr.yaml").read_text())["tariffs"]["nl-two-band"]
    group = {"count": 3, "interval_s": 3600}
    scenario = {
        "simulation": {"start": "2026-01-10T00:00:00+05:00", "duration": "2d", "seed": 9},
        "tariffs": {"nepra": nepra, "uz-gas": uz_gas, "nl": nl},
        "fleet": [
            {**group, "name": "pk", "commodity": "electricity", "timezone": "Asia/Karachi", "annual_kwh": 30000,
             "tariff": "nepra"},
            {**group, "name": "uz", "commodity": "gas", "timezone": "Asia/Tashkent", "annual_m3": 60000,
             "tariff": "uz-gas"},
            {**group, "name": "nl", "commodity": "electricity", "timezone": "Europe/Amsterdam", "annual_kwh": 3000,
             "tariff": "nl"},
        ],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(tmp_path / "truth.csv")},
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    for args in (["run", str(path), "--quiet"], ["bill", str(path), "--out", str(tmp_path / "bills.csv"), "--quiet"]):
        result = subprocess.run([sys.executable, "-m", "metersim", *args], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr
    units: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with open(tmp_path / "truth.csv") as f:
        for row in csv.DictReader(f):
            units[row["meter_id"]][row["band"]] += Decimal(row["import"])
    with open(tmp_path / "bills.csv") as f:
        bills = {b["meter_id"]: b for b in csv.DictReader(f)}
    assert len(bills) == 9
    two_days = Decimal(2)  # 10-11 January in Karachi and Tashkent (UTC+5)
    three_days = Decimal(3)  # the same 48 hours are 9 Jan 20:00 - 11 Jan 20:00 in Amsterdam: 3 local days
    for meter, bands in units.items():
        if meter.startswith("pk"):
            # Peak and off-peak energy, 2 days of standing charge, then duty and GST on the subtotal.
            subtotal = (
                _money(bands["peak"] * Decimal("49.35"))
                + _money(bands["off-peak"] * Decimal("33.02"))
                + _money(two_days * 15)
            )
            taxes = _money(subtotal * Decimal("0.015")) + _money(subtotal * Decimal("0.18"))
        elif meter.startswith("uz"):
            # January: the first 500 m3 at 1000 UZS, the rest at 1800 UZS; no standing charge or tax.
            total = sum(bands.values(), Decimal(0))
            subtotal = _money(min(total, Decimal(500)) * 1000) + _money(max(total - 500, Decimal(0)) * 1800)
            taxes = Decimal(0)
        else:
            subtotal = (
                _money(bands["low"] * Decimal("0.2450"))
                + _money(bands["normal"] * Decimal("0.2650"))
                + _money(three_days * Decimal("0.85"))
            )
            taxes = _money(subtotal * Decimal("0.21"))
        assert Decimal(bills[meter]["total"]) == subtotal + taxes, meter
