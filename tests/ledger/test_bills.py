"""Expected bills: hand-worked examples asserted exactly, the accumulator, and the bill files."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metersim.config import Tariff
from metersim.errors import MissingDependencyError
from metersim.ledger.bill_files import write_bills
from metersim.ledger.bills import STANDING_CHARGE, Bill, BillAccumulator, BillLine, compute_bill
from metersim.tariffs import BandSchedule
from metersim.timebase import parse_instant

D = Decimal


def tariff(data: dict[str, Any]) -> Tariff:
    return Tariff.model_validate(data)


NEPRA_PEAK = [
    {"start": "17:00", "end": "21:00", "months": [12, 1, 2]},
    {"start": "18:00", "end": "22:00", "months": [3, 4, 5]},
    {"start": "19:00", "end": "23:00", "months": [6, 7, 8]},
    {"start": "18:00", "end": "22:00", "months": [9, 10, 11]},
]
NEPRA = tariff(
    {
        "currency": "PKR",
        "bands": [{"name": "peak", "windows": NEPRA_PEAK}, {"name": "off_peak"}],
        "prices": {"peak": 49.35, "off_peak": 33.02},
        "standing_charge_per_day": 10,
        "taxes": [{"name": "GST", "percent": 18}],
    }
)
UZ_ELECTRICITY = tariff(
    {
        "currency": "UZS",
        "slabs": [
            {
                "blocks": [
                    {"up_to": 200, "price": 450},
                    {"up_to": 1000, "price": 900},
                    {"up_to": 5000, "price": 1350},
                    {"up_to": 10000, "price": 1575},
                    {"price": 1800},
                ]
            }
        ],
    }
)
UZ_GAS = tariff(
    {
        "commodity": "gas",
        "currency": "UZS",
        "slabs": [
            {"months": [11, 12, 1, 2], "blocks": [{"up_to": 500, "price": 650}, {"price": 1500}]},
            {"months": [3, 4, 5, 6, 7, 8, 9, 10], "blocks": [{"up_to": 100, "price": 650}, {"price": 1500}]},
        ],
    }
)
ECONOMY7 = tariff(
    {
        "currency": "GBP",
        "timezone": "Etc/GMT",
        "bands": [{"name": "night", "windows": [{"start": "00:00", "end": "07:00"}]}, {"name": "day"}],
        "prices": {"night": 0.15, "day": 0.30},
        "standing_charge_per_day": 0.50,
        "taxes": [{"name": "VAT", "percent": 5}],
    }
)


def amounts(bill: Bill) -> list[Decimal]:
    return [line.amount for line in bill.lines]


# --- hand-worked examples -------------------------------------------------------------------------


def test_nepra_time_of_use() -> None:
    bill = compute_bill(NEPRA, "PK-1", "2026-01", 1, D(31), [120_500, 310_250], "kWh")
    # peak      120.5   kWh x 49.35 =  5946.675  -> 5946.68   (half up)
    # off-peak  310.25  kWh x 33.02 = 10244.455  -> 10244.46  (half up)
    # standing  31 days x 10        =   310.00
    # subtotal  5946.68 + 10244.46 + 310.00 = 16501.14
    # GST 18%   16501.14 x 0.18 = 2970.2052 -> 2970.21
    # total     16501.14 + 2970.21 = 19471.35
    assert bill.band_units == {"peak": D("120.5"), "off_peak": D("310.25")}
    assert amounts(bill) == [D("5946.68"), D("10244.46"), D("310.00")]
    assert [ln.description for ln in bill.lines] == ["energy peak", "energy off_peak", STANDING_CHARGE]
    assert bill.lines[0] == BillLine("energy peak", D("120.5"), "kWh", D("49.35"), D("5946.68"))
    assert bill.lines[2] == BillLine(STANDING_CHARGE, D(31), "day", D(10), D("310.00"))
    assert bill.subtotal == D("16501.14")
    assert bill.taxes == [BillLine("GST", D("16501.14"), "PKR", D("0.18"), D("2970.21"))]
    assert bill.total == D("19471.35")
    assert (bill.energy_charge, bill.standing_charge) == (D("16191.14"), D("310.00"))
    assert (bill.meter_id, bill.period, bill.currency, bill.days) == ("PK-1", "2026-01", "PKR", D(31))
    assert str(bill.total) == "19471.35" and str(bill.lines[2].amount) == "310.00"


def test_uzbek_electricity_slabs() -> None:
    bill = compute_bill(UZ_ELECTRICITY, "UZ-1", "2026-03", 3, D(31), [1_250_500], "kWh")
    # 1250.5 kWh split into marginal blocks:
    #   first  200    kWh x  450 =   90000.00
    #   next   800    kWh x  900 =  720000.00   (201..1000)
    #   next   250.5  kWh x 1350 =  338175.00   (1001..1250.5)
    # total = 90000 + 720000 + 338175 = 1148175.00 UZS; no standing charge, no taxes.
    assert [ln.quantity for ln in bill.lines] == [D(200), D(800), D("250.5")]
    assert [ln.unit_price for ln in bill.lines] == [D(450), D(900), D(1350)]
    assert amounts(bill) == [D("90000.00"), D("720000.00"), D("338175.00")]
    assert bill.subtotal == bill.total == D("1148175.00")
    assert bill.taxes == [] and bill.standing_charge == D("0.00")


def test_uzbek_electricity_top_block() -> None:
    bill = compute_bill(UZ_ELECTRICITY, "UZ-1", "2026-03", 3, D(31), [10_000_001], "kWh")
    # 200 x 450 + 800 x 900 + 4000 x 1350 + 5000 x 1575 + 0.001 x 1800
    # = 90000 + 720000 + 5400000 + 7875000 + 1.80 = 14085001.80
    assert amounts(bill) == [D("90000.00"), D("720000.00"), D("5400000.00"), D("7875000.00"), D("1.80")]
    assert bill.total == D("14085001.80")


def test_uzbek_gas_seasonal_norm() -> None:
    january = compute_bill(UZ_GAS, "UZ-G", "2026-01", 1, D(31), [620_250], "m3")
    # January (heating-season norm 500 m3): 500 x 650 = 325000.00; 120.25 x 1500 = 180375.00
    # total 505375.00
    assert [ln.quantity for ln in january.lines] == [D(500), D("120.25")]
    assert amounts(january) == [D("325000.00"), D("180375.00")]
    assert january.total == D("505375.00")

    july = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [620_250], "m3")
    # July (norm 100 m3): 100 x 650 = 65000.00; 520.25 x 1500 = 780375.00; total 845375.00
    assert [ln.quantity for ln in july.lines] == [D(100), D("520.25")]
    assert amounts(july) == [D("65000.00"), D("780375.00")]
    assert july.total == D("845375.00")

    small = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [80_500], "m3")
    # within the norm: 80.5 x 650 = 52325.00
    assert amounts(small) == [D("52325.00")]
    assert small.total == D("52325.00")

    nothing = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [0], "m3")
    assert nothing.lines == [] and nothing.total == D("0.00")


def test_economy7_half_up_vat() -> None:
    bill = compute_bill(ECONOMY7, "GB-1", "2026-01", 1, D(1), [4_000, 6_000], "kWh")
    # night 4 kWh x 0.15 = 0.60; day 6 kWh x 0.30 = 1.80; standing 1 day x 0.50 = 0.50
    # subtotal 2.90; VAT 5% = 0.145 -> 0.15 (ROUND_HALF_UP, not banker's 0.14); total 3.05
    assert amounts(bill) == [D("0.60"), D("1.80"), D("0.50")]
    assert bill.subtotal == D("2.90")
    assert bill.taxes[0].amount == D("0.15")
    assert bill.total == D("3.05")


def test_partial_days_and_exact_standing_charge() -> None:
    # 1.5 days x 0.50 = 0.75; zero-unit bands still get their (0.00) line.
    bill = compute_bill(ECONOMY7, "GB-1", "2026-01", 1, D("1.5"), [0, 0], "kWh")
    assert amounts(bill) == [D("0.00"), D("0.00"), D("0.75")]
    assert bill.total == D("0.79")  # 0.75 + 5% (0.0375 -> 0.04)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2 bands"):
        compute_bill(ECONOMY7, "GB-1", "2026-01", 1, D(1), [1], "kWh")
    # A tariff whose slabs miss a month is refused when the scenario is loaded.
    with pytest.raises(ValueError, match="must cover every month"):
        tariff({"slabs": [{"months": [6], "blocks": [{"price": 1}]}]})


# --- the accumulator ----------------------------------------------------------------------------


def test_accumulator_across_a_local_month_boundary() -> None:
    # Karachi is UTC+5: local midnight of 1 February is 19:00 UTC on 31 January, so intervals from
    # then on belong to February although they are still in January in UTC.
    schedule = BandSchedule.compile(NEPRA, "Asia/Karachi", "PK")
    meters = ["PK-A", "PK-B"]
    acc = BillAccumulator(NEPRA, schedule, meters, "Asia/Karachi")
    start = parse_instant("2026-01-31T12:00:00+05:00")
    end = parse_instant("2026-02-01T12:00:00+05:00")
    sums: dict[str, list[int]] = {"2026-01": [0, 0], "2026-02": [0, 0]}  # meter B, [peak, off-peak] Wh
    for k, t in enumerate(range(start, end, 900)):
        meter_b = 3 * k + 1
        acc.add(t, 900, schedule.band_at(t), np.array([250, meter_b], dtype=np.int64))
        local = dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=5)))
        band = 0 if 17 <= local.hour < 21 else 1  # December-February peak, by hand
        sums[f"{local.year:04d}-{local.month:02d}"][band] += meter_b
    bills = acc.bills()
    assert [(b.meter_id, b.period) for b in bills] == [
        ("PK-A", "2026-01"), ("PK-A", "2026-02"), ("PK-B", "2026-01"), ("PK-B", "2026-02"),
    ]  # fmt: skip

    # Meter A, 250 Wh every quarter hour, 12 hours in each month (0.5 day each):
    # January 12:00-24:00: 16 peak quarters = 4 kWh, 32 off-peak = 8 kWh
    #   4 x 49.35 = 197.40; 8 x 33.02 = 264.16; 0.5 day x 10 = 5.00; subtotal 466.56
    #   GST 83.9808 -> 83.98; total 550.54
    jan_a, feb_a = bills[0], bills[1]
    assert jan_a.days == D("0.5")
    assert jan_a.band_units == {"peak": D(4), "off_peak": D(8)}
    assert amounts(jan_a) == [D("197.40"), D("264.16"), D("5.00")]
    assert (jan_a.subtotal, jan_a.taxes[0].amount, jan_a.total) == (D("466.56"), D("83.98"), D("550.54"))
    # February 00:00-12:00: 48 off-peak quarters = 12 kWh
    #   0 x 49.35 = 0.00; 12 x 33.02 = 396.24; 5.00 standing; subtotal 401.24
    #   GST 72.2232 -> 72.22; total 473.46
    assert amounts(feb_a) == [D("0.00"), D("396.24"), D("5.00")]
    assert (feb_a.subtotal, feb_a.taxes[0].amount, feb_a.total) == (D("401.24"), D("72.22"), D("473.46"))

    for bill, period in zip(bills[2:], ["2026-01", "2026-02"]):
        expected = compute_bill(NEPRA, "PK-B", period, int(period[-2:]), D("0.5"), sums[period], "kWh")
        assert bill == expected
    for bill, period in zip(bills[:2], ["2026-01", "2026-02"]):
        units = [4_000, 8_000] if period == "2026-01" else [0, 12_000]
        assert bill == compute_bill(NEPRA, "PK-A", period, int(period[-2:]), D("0.5"), units, "kWh")


def test_accumulator_bst_month_boundary_and_units() -> None:
    # London in BST: 1 July starts at 23:00 UTC on 30 June. Gas units are m3 from litres.
    gas = tariff({"commodity": "gas", "currency": "GBP", "prices": {"all": 0.07}, "standing_charge_per_day": 0.3})
    schedule = BandSchedule.compile(gas, "Europe/London", "GB")
    acc = BillAccumulator(gas, schedule, ["G"], "Europe/London")
    start = parse_instant("2026-06-30T22:00:00Z")  # 23:00 BST, 30 June
    for k in range(3):  # hours starting 23:00 (June), 00:00 and 01:00 (July) local
        acc.add(start + 3600 * k, 3600, 0, np.array([1500], dtype=np.int64))
    june, july = acc.bills()
    assert (june.period, july.period) == ("2026-06", "2026-07")
    # June: 1.5 m3 x 0.07 = 0.105 -> 0.11; 1/24 day x 0.30 = 0.0125 -> 0.01
    assert june.band_units == {"all": D("1.5")} and june.lines[0].unit == june.unit == "m3"
    assert june.days == D(1) / D(24)
    assert amounts(june) == [D("0.11"), D("0.01")]
    # July: 3 m3 x 0.07 = 0.21; 2/24 day x 0.30 = 0.025 -> 0.03 (computed from the exact 1/12 day)
    assert amounts(july) == [D("0.21"), D("0.03")]
    assert july.total == D("0.24")


def test_accumulator_rejects_bad_input() -> None:
    schedule = BandSchedule.compile(ECONOMY7, "Europe/London", "GB")
    acc = BillAccumulator(ECONOMY7, schedule, ["A", "B"], "Europe/London")
    with pytest.raises(ValueError, match="expected 2"):
        acc.add(0, 900, 0, np.array([1], dtype=np.int64))
    with pytest.raises(ValueError, match="band 2"):
        acc.add(0, 900, 2, np.array([1, 2], dtype=np.int64))
    assert acc.bills() == []


# --- files ---------------------------------------------------------------------------------------


def sample_bills() -> list[Bill]:
    return [
        compute_bill(ECONOMY7, "GB-1", "2026-01", 1, D(1), [4_000, 6_000], "kWh"),
        compute_bill(ECONOMY7, "GB-1", "2026-02", 2, D(1) / D(24), [1, 0], "kWh"),
        compute_bill(ECONOMY7, "GB-2", "2026-01", 1, D("30.5"), [123_456, 654_321], "kWh"),
    ]


def test_write_bills_csv_round_trip(tmp_path: Path) -> None:
    bills = sample_bills()
    path = tmp_path / "bills.csv"
    write_bills(bills, path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "meter_id", "period", "currency", "days", "seconds", "unit", "units_night", "units_day",
            "energy_charge", "standing_charge", "subtotal", "tax_VAT", "total", "basis",
        ]  # fmt: skip
        rows = list(reader)
    assert len(rows) == len(bills)
    for row, bill in zip(rows, bills):
        assert (row["meter_id"], row["period"], row["currency"]) == (bill.meter_id, bill.period, "GBP")
        assert D(row["days"]) == bill.days
        assert int(row["seconds"]) == bill.days * 86400 and row["unit"] == bill.unit == "kWh"
        assert D(row["units_night"]) == bill.band_units["night"]
        assert D(row["units_day"]) == bill.band_units["day"]
        assert D(row["energy_charge"]) + D(row["standing_charge"]) == D(row["subtotal"]) == bill.subtotal
        assert D(row["tax_VAT"]) == bill.taxes[0].amount
        assert D(row["total"]) == bill.total
    assert rows[0]["total"] == "3.05" and rows[0]["units_night"] == "4.000" and rows[0]["energy_charge"] == "2.40"
    assert [row["seconds"] for row in rows] == ["86400", "3600", "2635200"]


def test_write_bills_mixed_tariffs_leave_missing_columns_empty(tmp_path: Path) -> None:
    bills = [*sample_bills()[:1], compute_bill(UZ_ELECTRICITY, "UZ-1", "2026-03", 3, D(31), [1_250_500], "kWh")]
    path = tmp_path / "bills.csv"
    write_bills(bills, path)
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert rows[1]["units_all"] == "1250.500" and rows[1]["units_night"] == "" and rows[1]["tax_VAT"] == ""
    assert rows[0]["units_all"] == ""


def test_parquet_without_pyarrow_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'metersim\[parquet\]'"):
        write_bills(sample_bills(), tmp_path / "bills.parquet")


def test_parquet_round_trip(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    bills = sample_bills()
    path = tmp_path / "bills.parquet"
    write_bills(bills, path)
    rows = pq.read_table(path).to_pylist()
    assert [(r["meter_id"], r["period"]) for r in rows] == [(b.meter_id, b.period) for b in bills]
    assert [r["total"] for r in rows] == [b.total for b in bills]
    assert [r["units_day"] for r in rows] == [float(b.band_units["day"]) for b in bills]
    assert [r["days"] for r in rows] == [1.0, 1 / 24, 30.5]
    assert [r["seconds"] for r in rows] == [86400, 3600, 2635200]
    assert {r["unit"] for r in rows} == {"kWh"}


def test_write_bills_creates_missing_folders(tmp_path: Path) -> None:
    bill = compute_bill(ECONOMY7, "GB-1", "2026-01", 1, D(1), [6000, 4000], "kWh")
    target = tmp_path / "new" / "folder" / "bills.csv"
    write_bills([bill], target)
    assert target.read_text().count("\n") == 2
