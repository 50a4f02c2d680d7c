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
import yaml

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
# Uzbekistan from 1 May 2025 (configs/tashkent-gas.yaml has the sources): electricity by the month's
# kWh, gas by the month's m3 with the seasonal norm.
UZ_ELECTRICITY = tariff(
    {
        "currency": "UZS",
        "slabs": [
            {
                "blocks": [
                    {"up_to": 200, "price": 600},
                    {"up_to": 500, "price": 800},
                    {"up_to": 1000, "price": 1000},
                    {"up_to": 5000, "price": 1500},
                    {"up_to": 10000, "price": 1750},
                    {"price": 2000},
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
            {"months": [11, 12, 1, 2], "blocks": [{"up_to": 500, "price": 1000}, {"price": 1800}]},
            {"months": [3, 4, 5, 6, 7, 8, 9, 10], "blocks": [{"up_to": 100, "price": 1000}, {"price": 1800}]},
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


def test_uzbek_electricity_slabs_2025() -> None:
    bill = compute_bill(UZ_ELECTRICITY, "UZ-1", "2026-03", 3, D(31), [1_250_500], "kWh")
    # 1250.5 kWh split into marginal blocks:
    #   first  200    kWh x  600 =  120000.00
    #   next   300    kWh x  800 =  240000.00   (201..500)
    #   next   500    kWh x 1000 =  500000.00   (501..1000)
    #   next   250.5  kWh x 1500 =  375750.00   (1001..1250.5)
    # total = 120000 + 240000 + 500000 + 375750 = 1235750.00 UZS; no standing charge, no taxes.
    assert [ln.quantity for ln in bill.lines] == [D(200), D(300), D(500), D("250.5")]
    assert [ln.unit_price for ln in bill.lines] == [D(600), D(800), D(1000), D(1500)]
    assert amounts(bill) == [D("120000.00"), D("240000.00"), D("500000.00"), D("375750.00")]
    assert bill.subtotal == bill.total == D("1235750.00")
    assert bill.taxes == [] and bill.standing_charge == D("0.00")


def test_uzbek_electricity_typical_month_and_block_edges() -> None:
    # 350 kWh: 200 x 600 = 120000 + 150 x 800 = 120000 -> 240000.00
    assert compute_bill(UZ_ELECTRICITY, "U", "2026-07", 7, D(31), [350_000], "kWh").total == D("240000.00")
    # exactly 200 kWh stays in the first block: one line, 120000.00
    edge = compute_bill(UZ_ELECTRICITY, "U", "2026-07", 7, D(31), [200_000], "kWh")
    assert amounts(edge) == [D("120000.00")]
    # 200.001 kWh: 120000.00 + 0.001 x 800 = 0.80
    assert amounts(compute_bill(UZ_ELECTRICITY, "U", "2026-07", 7, D(31), [200_001], "kWh")) == [
        D("120000.00"), D("0.80"),
    ]  # fmt: skip


def test_uzbek_electricity_top_block() -> None:
    bill = compute_bill(UZ_ELECTRICITY, "UZ-1", "2026-03", 3, D(31), [10_000_001], "kWh")
    # 200 x 600 + 300 x 800 + 500 x 1000 + 4000 x 1500 + 5000 x 1750 + 0.001 x 2000
    # = 120000 + 240000 + 500000 + 6000000 + 8750000 + 2.00 = 15610002.00
    assert amounts(bill) == [
        D("120000.00"), D("240000.00"), D("500000.00"), D("6000000.00"), D("8750000.00"), D("2.00"),
    ]  # fmt: skip
    assert bill.total == D("15610002.00")


def test_uzbek_gas_seasonal_norm_2025() -> None:
    january = compute_bill(UZ_GAS, "UZ-G", "2026-01", 1, D(31), [620_250], "m3")
    # January (heating-season norm 500 m3): 500 x 1000 = 500000.00; 120.25 x 1800 = 216450.00
    # total 716450.00
    assert [ln.quantity for ln in january.lines] == [D(500), D("120.25")]
    assert amounts(january) == [D("500000.00"), D("216450.00")]
    assert january.total == D("716450.00")

    july = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [620_250], "m3")
    # July (norm 100 m3): 100 x 1000 = 100000.00; 520.25 x 1800 = 936450.00; total 1036450.00
    assert [ln.quantity for ln in july.lines] == [D(100), D("520.25")]
    assert amounts(july) == [D("100000.00"), D("936450.00")]
    assert july.total == D("1036450.00")

    # March is outside the heating season: the 100 m3 norm. 130.5 m3: 100000.00 + 30.5 x 1800 = 54900.00
    march = compute_bill(UZ_GAS, "UZ-G", "2026-03", 3, D(31), [130_500], "m3")
    assert amounts(march) == [D("100000.00"), D("54900.00")] and march.total == D("154900.00")

    small = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [80_500], "m3")
    # within the norm: 80.5 x 1000 = 80500.00
    assert amounts(small) == [D("80500.00")]
    assert small.total == D("80500.00")

    nothing = compute_bill(UZ_GAS, "UZ-G", "2026-07", 7, D(31), [0], "m3")
    assert nothing.lines == [] and nothing.total == D("0.00")


def test_the_shipped_uzbek_tariffs_are_the_2025_schedule() -> None:
    root = Path(__file__).resolve().parents[2]
    for folder in ("configs", "metersim/examples"):
        tariffs = yaml.safe_load((root / folder / "tashkent-gas.yaml").read_text())["tariffs"]
        assert tariff(tariffs["uz-electricity"]) == UZ_ELECTRICITY, folder
        assert tariff(tariffs["uz-gas"]) == UZ_GAS, folder


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

    # Meter A, 250 Wh every quarter hour, 12 hours in each month. Each month has one local calendar
    # day with simulated intervals (31 Jan from 12:00, 1 Feb to 12:00): 1 day each, counted whole.
    # January 12:00-24:00: 16 peak quarters = 4 kWh, 32 off-peak = 8 kWh
    #   4 x 49.35 = 197.40; 8 x 33.02 = 264.16; 1 day x 10 = 10.00; subtotal 471.56
    #   GST 84.8808 -> 84.88; total 556.44
    jan_a, feb_a = bills[0], bills[1]
    assert (jan_a.days, jan_a.seconds) == (D(1), 43200)
    assert jan_a.band_units == {"peak": D(4), "off_peak": D(8)}
    assert amounts(jan_a) == [D("197.40"), D("264.16"), D("10.00")]
    assert (jan_a.subtotal, jan_a.taxes[0].amount, jan_a.total) == (D("471.56"), D("84.88"), D("556.44"))
    # February 00:00-12:00: 48 off-peak quarters = 12 kWh
    #   0 x 49.35 = 0.00; 12 x 33.02 = 396.24; 10.00 standing; subtotal 406.24
    #   GST 73.1232 -> 73.12; total 479.36
    assert amounts(feb_a) == [D("0.00"), D("396.24"), D("10.00")]
    assert (feb_a.subtotal, feb_a.taxes[0].amount, feb_a.total) == (D("406.24"), D("73.12"), D("479.36"))

    for bill, period in zip(bills[2:], ["2026-01", "2026-02"]):
        expected = compute_bill(NEPRA, "PK-B", period, int(period[-2:]), D(1), sums[period], "kWh", seconds=43200)
        assert bill == expected
    for bill, period in zip(bills[:2], ["2026-01", "2026-02"]):
        units = [4_000, 8_000] if period == "2026-01" else [0, 12_000]
        assert bill == compute_bill(NEPRA, "PK-A", period, int(period[-2:]), D(1), units, "kWh", seconds=43200)


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
    # June: 1.5 m3 x 0.07 = 0.105 -> 0.11; one local day (30 June, from 23:00) x 0.30 = 0.30
    assert june.band_units == {"all": D("1.5")} and june.lines[0].unit == june.unit == "m3"
    assert (june.days, june.seconds) == (D(1), 3600)
    assert amounts(june) == [D("0.11"), D("0.30")]
    # July: 3 m3 x 0.07 = 0.21; one local day (1 July, 00:00-02:00) x 0.30 = 0.30; total 0.51
    assert (july.days, july.seconds) == (D(1), 7200)
    assert amounts(july) == [D("0.21"), D("0.30")]
    assert july.total == D("0.51")


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
