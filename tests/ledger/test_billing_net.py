"""Net metering with credit carried forward, and an export price (buyback), hand-worked."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from metersim.config import Tariff
from metersim.ledger.bill_files import write_bills
from metersim.ledger.bills import EXPORT_CREDIT, BillAccumulator, compute_bill
from metersim.tariffs import BandSchedule
from metersim.timebase import parse_instant

D = Decimal


def tariff(data: dict[str, Any]) -> Tariff:
    return Tariff.model_validate(data)


NL = tariff(
    {
        "currency": "EUR",
        "bands": [{"name": "low", "windows": [{"start": "23:00", "end": "07:00"}]}, {"name": "normal"}],
        "prices": {"low": 0.2450, "normal": 0.2650},
        "standing_charge_per_day": 0.85,
        "taxes": [{"name": "VAT", "percent": 21}],
        "net_metering": True,
    }
)
PK = tariff(
    {
        "currency": "PKR",
        "bands": [{"name": "all"}],
        "prices": {"all": 40},
        "standing_charge_per_day": 10,
        "taxes": [{"name": "GST", "percent": 18}],
        "export_price": 11,
    }
)


def amounts(lines: list[Any]) -> list[Decimal]:
    return [line.amount for line in lines]


def test_net_metering_per_band_with_credit_carried_in_and_out() -> None:
    # low: import 100 kWh, export 30, credit in 5 -> billed 65, nothing carried
    # normal: import 50, export 120, credit in 0 -> billed 0, 70 carried out
    bill = compute_bill(
        NL, "NL-1", "2026-06", 6, D(30), [100_000, 50_000], "kWh",
        export_milli=[30_000, 120_000], credit_milli=[5_000, 0],
    )  # fmt: skip
    # 65 x 0.2450 = 15.925 -> 15.93; 0 x 0.2650 = 0.00; 30 days x 0.85 = 25.50; subtotal 41.43
    # VAT 21 %: 8.7003 -> 8.70; total 50.13
    assert [ln.quantity for ln in bill.lines] == [D("65.000"), D("0.000"), D(30)]
    assert amounts(bill.lines) == [D("15.93"), D("0.00"), D("25.50")]
    assert (bill.subtotal, bill.taxes[0].amount, bill.total) == (D("41.43"), D("8.70"), D("50.13"))
    assert bill.band_units == {"low": D(100), "normal": D(50)}  # the true import, not netted
    assert bill.band_export == {"low": D(30), "normal": D(120)}
    assert bill.credit_units == {"low": D(0), "normal": D(70)}
    assert bill.credits == [] and bill.export_credit == D("0.00")


def test_the_accumulator_carries_credit_from_month_to_month() -> None:
    # One meter, Amsterdam, all in band "normal" (12:00 local). June: import 10 kWh, export 25 kWh.
    # July: import 40, export 5. August: import 8, export 0.
    schedule = BandSchedule.compile(NL, "Europe/Amsterdam", "NL")
    acc = BillAccumulator(NL, schedule, ["NL-1"], "Europe/Amsterdam")
    for day, imported, exported in (("2026-06-15", 10_000, 25_000), ("2026-07-15", 40_000, 5_000),
                                    ("2026-08-15", 8_000, 0)):  # fmt: skip
        start = parse_instant(f"{day}T12:00:00+02:00")
        assert schedule.band_at(start) == 1
        acc.add(start, 3600, 1, np.array([imported], dtype=np.int64), np.array([exported], dtype=np.int64))
    june, july, august = acc.bills()
    # June: normal 10 - 25 -> billed 0, credit 15. 0.00 energy + 1 day x 0.85 = 0.85; VAT 0.1785 -> 0.18
    assert june.credit_units == {"low": D(0), "normal": D(15)}
    assert amounts(june.lines) == [D("0.00"), D("0.00"), D("0.85")] and june.total == D("1.03")
    # July: 40 - 5 - 15 credit = 20 billed, credit 0. 20 x 0.2650 = 5.30 + 0.85 = 6.15; VAT 1.2915 -> 1.29
    assert july.lines[1].quantity == D("20.000") and july.credit_units["normal"] == D(0)
    assert (july.subtotal, july.total) == (D("6.15"), D("7.44"))
    # August: nothing carried in: 8 x 0.2650 = 2.12 + 0.85 = 2.97; VAT 0.6237 -> 0.62; total 3.59
    assert (august.subtotal, august.total) == (D("2.97"), D("3.59"))


def test_credit_stays_in_its_band_and_is_left_at_the_end_of_the_run() -> None:
    # Credit in "normal" does not offset "low" import: 20 low billed, 50 normal credit carried out.
    bill = compute_bill(NL, "NL-1", "2026-12", 12, D(0), [20_000, 0], "kWh", export_milli=[0, 30_000],
                        credit_milli=[0, 20_000])  # fmt: skip
    assert [ln.quantity for ln in bill.lines[:2]] == [D("20.000"), D("0.000")]
    assert bill.credit_units == {"low": D(0), "normal": D(50)}  # on the last bill; not paid out
    assert bill.total == D("5.93")  # 20 x 0.2450 = 4.90; VAT 1.029 -> 1.03


def test_net_metering_with_slabs_nets_before_the_blocks() -> None:
    slabs = tariff({"currency": "PKR", "net_metering": True, "slabs": [
        {"blocks": [{"up_to": 100, "price": 10}, {"up_to": 200, "price": 20}, {"price": 30}]}]})  # fmt: skip
    # import 350, export 120: 230 net -> 100 x 10 + 100 x 20 + 30 x 30 = 1000 + 2000 + 900 = 3900.00
    bill = compute_bill(slabs, "PK", "2026-01", 1, D(31), [350_000], "kWh", export_milli=[120_000])
    assert amounts(bill.lines) == [D("1000.00"), D("2000.00"), D("900.00")] and bill.total == D("3900.00")


def test_export_price_is_a_credit_after_the_taxes() -> None:
    bill = compute_bill(PK, "PK-1", "2026-06", 6, D(30), [300_500], "kWh", export_milli=[120_250])
    # import 300.5 x 40 = 12020.00; 30 days x 10 = 300.00; subtotal 12320.00; GST 18 % = 2217.60
    # export 120.25 x 11 = 1322.75, credited: -1322.75; total 12320.00 + 2217.60 - 1322.75 = 13214.85
    assert amounts(bill.lines) == [D("12020.00"), D("300.00")]
    assert bill.taxes[0].amount == D("2217.60")
    assert [(c.description, c.quantity, c.unit_price, c.amount) for c in bill.credits] == [
        (EXPORT_CREDIT, D("120.25"), D(-11), D("-1322.75"))
    ]
    assert bill.export_credit == D("-1322.75") and bill.total == D("13214.85")
    assert bill.credit_units == {}  # nothing is carried with a buyback


def test_export_price_can_make_a_negative_total_and_rounds_half_up() -> None:
    # import 0, export 500.005 kWh x 11 = 5500.055 -> 5500.06 credit (half up, away from zero)
    bill = compute_bill(PK, "PK-1", "2026-06", 6, D(1), [0], "kWh", export_milli=[500_005])
    # 0.00 energy + 10.00 standing; GST 1.80; credit -5500.06; total -5488.26
    assert bill.export_credit == D("-5500.06")
    assert bill.total == D("-5488.26")


def test_tariffs_without_export_rules_bill_gross_import() -> None:
    gross = tariff({"currency": "PKR", "prices": {"all": 40}})
    bill = compute_bill(gross, "PK", "2026-01", 1, D(31), [10_000], "kWh", export_milli=[99_000])
    assert bill.total == D("400.00") and bill.credit_units == {} and bill.credits == []


def test_bad_export_configuration_is_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        tariff({"prices": {"all": 1}, "net_metering": True, "export_price": 5})
    with pytest.raises(ValidationError, match="electricity tariffs only"):
        tariff({"commodity": "gas", "prices": {"all": 1}, "net_metering": True})
    with pytest.raises(ValidationError):
        tariff({"prices": {"all": 1}, "export_price": -1})
    with pytest.raises(ValueError, match="band exports"):
        compute_bill(NL, "NL", "2026-01", 1, D(1), [0, 0], "kWh", export_milli=[0])


def test_bill_files_carry_export_credit_columns(tmp_path: Path) -> None:
    net = compute_bill(NL, "NL-1", "2026-06", 6, D(30), [100_000, 50_000], "kWh",
                       export_milli=[30_000, 120_000], credit_milli=[5_000, 0])  # fmt: skip
    buyback = compute_bill(PK, "PK-1", "2026-06", 6, D(30), [300_500], "kWh", export_milli=[120_250])
    write_bills([net, buyback], tmp_path / "bills.csv")
    rows = list(csv.DictReader((tmp_path / "bills.csv").open(newline="", encoding="utf-8")))
    assert list(rows[0]) == [
        "meter_id", "period", "currency", "days", "seconds", "unit", "units_low", "units_normal", "units_all",
        "export_low", "export_normal", "export_all", "credit_low", "credit_normal", "energy_charge",
        "standing_charge", "subtotal", "tax_VAT", "tax_GST", "export_credit", "total", "basis",
    ]  # fmt: skip
    assert (rows[0]["export_normal"], rows[0]["credit_normal"], rows[0]["export_credit"]) == (
        "120.000",
        "70.000",
        "0.00",
    )
    assert (rows[1]["export_all"], rows[1]["credit_low"], rows[1]["export_credit"]) == ("120.250", "", "-1322.75")
    assert rows[1]["total"] == "13214.85"
    pq = pytest.importorskip("pyarrow.parquet")
    write_bills([net, buyback], tmp_path / "bills.parquet")
    table = pq.read_table(tmp_path / "bills.parquet").to_pylist()
    assert table[1]["export_credit"] == D("-1322.75") and table[0]["credit_normal"] == 70.0
