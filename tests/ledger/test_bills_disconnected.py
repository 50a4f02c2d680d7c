"""Bills of meters disconnected by command: no energy while the relay is open, and the standing charge
kept or, with ``standing_charge_while_disconnected: false``, left out for each local calendar day on
which the meter was disconnected for every simulated interval (hand-worked)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from metersim.config import Tariff
from metersim.ledger.bills import Bill, BillAccumulator
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


def run(kept: bool, hours: range, off_hours: set[int]) -> dict[str, Bill]:
    """Meters A and B, hourly intervals of 500 Wh from JAN_1 + the given hours; B is disconnected
    (reads 0) in ``off_hours``. Returns the January bills by meter."""
    tariff = flat(kept)
    schedule = BandSchedule.compile(tariff, "Asia/Karachi", "PK")
    accumulator = BillAccumulator(tariff, schedule, ["A", "B"], "Asia/Karachi")
    for hour in hours:
        off = np.array([False, hour in off_hours])
        consumption = np.where(off, 0, 500).astype(np.int64)
        start = JAN_1 + hour * 3600
        if off.any() and not kept:  # as BillObserver does: only when the tariff leaves the days out
            accumulator.disconnect(start, 3600, off)
        accumulator.add(start, 3600, 0, consumption)
    return {bill.meter_id: bill for bill in accumulator.bills()}


def test_the_standing_charge_is_kept_while_disconnected_by_default() -> None:
    bills = run(kept=True, hours=range(24), off_hours=set(range(6, 12)))
    # A: 24 x 0.5 kWh = 12 kWh x 40 = 480.00; 1 day x 12 = 12.00 -> 492.00
    assert bills["A"].total == D("492.00")
    # B: 18 x 0.5 = 9 kWh x 40 = 360.00; still 1 day x 12 = 12.00 -> 372.00
    assert bills["B"].band_units == {"all": D("9.000")}
    assert bills["B"].standing_charge == D("12.00")
    assert bills["B"].total == D("372.00")


def test_a_day_partly_disconnected_is_still_charged() -> None:
    # B is off for 6 of the 24 hours of 1 January: the day counts (it was connected for part of it).
    bills = run(kept=False, hours=range(24), off_hours=set(range(6, 12)))
    assert bills["A"].days == D(1) and bills["A"].total == D("492.00")
    assert bills["B"].days == D(1)
    assert bills["B"].standing_charge == D("12.00")
    assert bills["B"].total == D("372.00")  # 9 kWh x 40 = 360.00 + 12.00


def test_no_standing_charge_for_a_day_disconnected_throughout() -> None:
    # Three local days, 1-3 January; B is disconnected from 2 January 00:00 to 3 January 06:00.
    bills = run(kept=False, hours=range(72), off_hours=set(range(24, 54)))
    # A: 72 x 0.5 = 36 kWh x 40 = 1440.00; 3 days x 12 = 36.00 -> 1476.00
    assert (bills["A"].days, bills["A"].total) == (D(3), D("1476.00"))
    # B: connected 42 h = 21 kWh x 40 = 840.00; 2 January is left out: 2 days x 12 = 24.00 -> 864.00
    assert bills["B"].band_units == {"all": D("21.000")}
    assert (bills["B"].days, bills["B"].standing_charge, bills["B"].total) == (D(2), D("24.00"), D("864.00"))
    assert bills["B"].seconds == 72 * 3600  # simulated seconds, whatever the relay did


def test_the_partial_first_day_counts_unless_disconnected_for_all_of_it() -> None:
    # The run starts at 18:00 on 1 January and ends at 06:00 on 3 January (36 h, three local days).
    hours = range(18, 54)
    kept = run(kept=True, hours=hours, off_hours=set(range(18, 24)))
    assert kept["A"].days == kept["B"].days == D(3)  # a partial day counts as a whole day
    left_out = run(kept=False, hours=hours, off_hours=set(range(18, 24)))
    # B was disconnected for every simulated hour of 1 January (18:00-24:00): 2 days x 12 = 24.00.
    assert (left_out["A"].days, left_out["B"].days) == (D(3), D(2))
    assert left_out["B"].standing_charge == D("24.00")
    # 30 connected hours x 0.5 = 15 kWh x 40 = 600.00; total 624.00
    assert left_out["B"].total == D("624.00")


def test_the_last_day_disconnected_throughout_is_left_out() -> None:
    # Two days; B is off for all of 2 January, the run's last (still open) day: 1 day charged.
    bills = run(kept=False, hours=range(48), off_hours=set(range(24, 48)))
    assert (bills["A"].days, bills["B"].days) == (D(2), D(1))
    assert bills["B"].total == D("492.00")  # 12 kWh x 40 = 480.00 + 1 day x 12
