"""``metersim bill`` for PV customers: net metering with credit carried over a month boundary, and an
export price, recomputed here by plain arithmetic from the truth ledger of the same run (no bill
totals are fixed: the load and PV models may change)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from metersim.cli import main

D = Decimal
NL_TARIFF = {
    "currency": "EUR",
    "bands": [{"name": "low", "windows": [{"start": "23:00", "end": "07:00"}]}, {"name": "normal"}],
    "prices": {"low": 0.2450, "normal": 0.2650},
    "standing_charge_per_day": 0.85,
    "taxes": [{"name": "VAT", "percent": 21}],
    "net_metering": True,
}
PK_TARIFF = {
    "currency": "PKR",
    "prices": {"all": 40},
    "standing_charge_per_day": 10,
    "taxes": [{"name": "GST", "percent": 18}],
    "export_price": 11,
}
PV = {"fraction": 1.0, "kwp_mean": 5, "kwp_sd": 0.5}


def money(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def run(tmp_path: Path) -> tuple[dict[tuple[str, str], dict[str, str]], dict[str, Any]]:
    group: dict[str, Any] = {"commodity": "electricity", "count": 3, "interval_s": 900, "annual_kwh": 2000, "pv": PV}
    scenario = {
        # 30 June 12:00 CEST (15:00 PKT) for two days: 30 June (partial) and 1-2 July in both zones
        "simulation": {"start": "2026-06-30T12:00:00+02:00", "duration": "2d", "seed": 5, "speed": "max"},
        "tariffs": {"nl": NL_TARIFF, "pk": PK_TARIFF},
        "fleet": [
            {**group, "name": "nl", "timezone": "Europe/Amsterdam", "region": "amsterdam", "tariff": "nl"},
            {**group, "name": "pk", "timezone": "Asia/Karachi", "region": "lahore", "tariff": "pk"},
        ],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(tmp_path / "truth.csv")},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    assert main(["bill", str(path), "--out", str(tmp_path / "bills.csv"), "--quiet"]) == 0
    assert main(["run", str(path), "--quiet"]) == 0
    # per (meter, period): band -> [import, export] [Wh], local days seen, simulated seconds
    sums: dict[str, Any] = defaultdict(lambda: {"bands": defaultdict(lambda: [0, 0]), "days": set(), "s": 0})
    zones = {"nl": ZoneInfo("Europe/Amsterdam"), "pk": ZoneInfo("Asia/Karachi")}
    with open(tmp_path / "truth.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            start = dt.datetime.fromtimestamp(int(row["interval_end_s"]) - 900, zones[row["group"]])
            entry = sums[(row["meter_id"], f"{start:%Y-%m}")]
            entry["bands"][row["band"]][0] += int(D(row["import"]) * 1000)
            entry["bands"][row["band"]][1] += int(D(row["export"]) * 1000)
            entry["days"].add(start.date())
            entry["s"] += 900
    with open(tmp_path / "bills.csv", newline="") as handle:
        bills = {(b["meter_id"], b["period"]): b for b in csv.DictReader(handle)}
    return bills, sums


def test_net_metering_and_export_price_from_the_ledger(tmp_path: Path) -> None:
    bills, sums = run(tmp_path)
    assert set(bills) == set(sums)
    assert {p for (m, p) in bills} == {"2026-06", "2026-07"}
    credit: dict[str, dict[str, int]] = defaultdict(lambda: {"low": 0, "normal": 0})
    for (meter, period), bill in sorted(bills.items()):
        entry = sums[(meter, period)]
        days = len(entry["days"])
        assert (D(bill["days"]), int(bill["seconds"])) == (days, entry["s"])
        # 30 June from 12:00 (15:00) is one day; 1 July and 2 July to 12:00 (15:00) are two.
        assert days == (1 if period == "2026-06" else 2)
        if meter.startswith("nl"):
            lines = []
            for band, price in (("low", D("0.2450")), ("normal", D("0.2650"))):
                imported, exported = entry["bands"].get(band, [0, 0])
                offset = exported + credit[meter][band]
                billed, credit[meter][band] = max(0, imported - offset), max(0, offset - imported)
                assert D(bill[f"units_{band}"]) == D(imported) / 1000
                assert D(bill[f"export_{band}"]) == D(exported) / 1000
                assert D(bill[f"credit_{band}"]) == D(credit[meter][band]) / 1000
                lines.append(money(D(billed) / 1000 * price))
            subtotal = sum(lines, D(0)) + money(days * D("0.85"))
            assert D(bill["subtotal"]) == subtotal
            assert D(bill["total"]) == subtotal + money(subtotal * D("0.21")), (meter, period)
        else:
            imported, exported = entry["bands"]["all"]
            subtotal = money(D(imported) / 1000 * 40) + money(days * D(10))
            credit_line = -money(D(exported) / 1000 * 11)
            assert D(bill["export_credit"]) == credit_line
            assert exported > 0 or period == "2026-06"
            assert D(bill["total"]) == subtotal + money(subtotal * D("0.18")) + credit_line, meter
    # summer PV in Amsterdam exports more than the homes import: credit is carried into July
    assert all(D(bills[(m, "2026-06")]["credit_normal"]) > 0 for m in credit)
