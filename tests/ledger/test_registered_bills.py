"""A thief's two bills: the true one and the one of what its meter registered differ by exactly the
stolen energy times the price."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import yaml

from metersim.cli import main
from tests.conftest import make_scenario

PRICE = Decimal("40.00")


def test_a_thiefs_true_and_registered_bills_differ_by_the_stolen_energy_times_the_price(tmp_path: Path) -> None:
    data = {
        "simulation": {"start": "2026-07-01T00:00:00+05:00", "duration": "3d", "seed": 5, "speed": "max"},
        "tariffs": {"flat": {"commodity": "electricity", "bands": [{"name": "all"}], "prices": {"all": 40.0}}},
        "fleet": [
            {
                "name": "lahore",
                "commodity": "electricity",
                "count": 30,
                "id_format": "PK-{index:04d}",
                "timezone": "Asia/Karachi",
                "annual_kwh": 2400,
                "tariff": "flat",
                "theft": {"bypass": {"fraction": 0.2, "registered_fraction": [0.5, 0.5], "hours": [18, 19, 20, 21]}},
            }
        ],
        "outputs": [{"type": "discard"}],
        "truth": {"path": str(tmp_path / "truth.csv")},
    }
    make_scenario(data)  # valid
    scenario = tmp_path / "thieves.yaml"
    scenario.write_text(yaml.safe_dump(data))
    assert main(["run", str(scenario), "-q"]) == 0
    assert main(["bill", str(scenario), "-q", "--out", str(tmp_path / "bills.csv")]) == 0

    stolen: dict[str, Decimal] = {}
    with open(tmp_path / "truth.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["device"] == "meter":
                gap = Decimal(row["true_consumption"]) - Decimal(row["import"])
                stolen[row["meter_id"]] = stolen.get(row["meter_id"], Decimal(0)) + gap
    thieves = {m for m, kwh in stolen.items() if kwh > 0}
    assert 3 <= len(thieves) <= 10  # a fifth of 30, drawn

    with open(tmp_path / "bills.csv", newline="", encoding="utf-8") as handle:
        bills = list(csv.DictReader(handle))
    by_basis = {(b["meter_id"], b["basis"]): b for b in bills}
    assert {m for m, basis in by_basis if basis == "registered"} == thieves  # only where they differ
    for meter in thieves:
        true, registered = by_basis[(meter, "true")], by_basis[(meter, "registered")]
        assert Decimal(true["units_all"]) - Decimal(registered["units_all"]) == stolen[meter]
        owed = Decimal(true["energy_charge"]) - Decimal(registered["energy_charge"])
        assert abs(owed - stolen[meter] * PRICE) <= Decimal("0.01")  # each bill is rounded to the cent
