"""Bills of meters disconnected by command: no energy while the relay is open, and the standing charge
kept or, with ``standing_charge_while_disconnected: false``, left out for those intervals (hand-worked)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from metersim.config import Tariff
from metersim.ledger.bills import BillAccumulator
from metersim.tariffs import BandSchedule
from metersim.timebase import parse_instant

D = Decimal
JAN_1 = parse_instant("2026-01-01T00:00:00+05:00")  # Asia/Karachi midnight


def flat(kept: bool) -> Tariff:
    return Tariff.model_validate(
        {
            "currency": "PKR",
            "bands": [{"name": "all"}],
            "prices": {"all": 40},
            "standing_charge_per_day": 12,
            "standing_charge_while_disconnected": kept,
        }
    )


def one_day(kept: bool) -> dict[str, object]:
    """Two meters, 24 hourly intervals of 500 Wh each; meter B disconnected for hours 6..11 (6 h)."""
    tariff = flat(kept)
    schedule = BandSchedule.compile(tariff, "Asia/Karachi", "PK")
    accumulator = BillAccumulator(tariff, schedule, ["A", "B"], "Asia/Karachi")
    for hour in range(24):
        off = np.array([False, 6 <= hour < 12])
        consumption = np.where(off, 0, 500).astype(np.int64)
        start = JAN_1 + hour * 3600
        if off.any() and not kept:
            accumulator.disconnect(start, 3600, off)
        accumulator.add(start, 3600, 0, consumption)
    return {bill.meter_id: bill for bill in accumulator.bills()}


def test_the_standing_charge_is_kept_while_disconnected_by_default():
    bills = one_day(kept=True)
    # A: 24 x 0.5 kWh = 12 kWh x 40 = 480.00; 1 day x 12 = 12.00 -> 492.00
    assert bills["A"].total == D("492.00")
    # B: 18 x 0.5 = 9 kWh x 40 = 360.00; still 1 day x 12 = 12.00 -> 372.00
    assert bills["B"].band_units == {"all": D("9.000")}
    assert bills["B"].standing_charge == D("12.00")
    assert bills["B"].total == D("372.00")


def test_no_standing_charge_for_the_hours_disconnected_when_configured():
    bills = one_day(kept=False)
    assert bills["A"].days == D(1) and bills["A"].total == D("492.00")
    # B: 18 of 24 h connected = 0.75 day x 12 = 9.00; 360.00 + 9.00 = 369.00
    assert bills["B"].days == D("0.75")
    assert bills["B"].standing_charge == D("9.00")
    assert bills["B"].total == D("369.00")
