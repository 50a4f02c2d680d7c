"""The standing charge per local calendar day, across DST changes and partial days (hand-worked)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from metersim.config import Tariff
from metersim.ledger.bills import BillAccumulator
from metersim.tariffs import BandSchedule
from metersim.timebase import parse_instant

D = Decimal
GAS = Tariff.model_validate(
    {"commodity": "gas", "currency": "EUR", "prices": {"all": 1.35}, "standing_charge_per_day": 0.85}
)


def hourly(start: str, end: str, zone: str = "Europe/Amsterdam") -> BillAccumulator:
    """One meter reading 1 litre an hour from ``start`` to ``end`` (ISO instants)."""
    schedule = BandSchedule.compile(GAS, zone, "NL")
    acc = BillAccumulator(GAS, schedule, ["G"], zone)
    for t in range(parse_instant(start), parse_instant(end), 3600):
        acc.add(t, 3600, 0, np.array([1], dtype=np.int64))
    return acc


def test_march_with_the_spring_forward_day_is_31_days() -> None:
    # Local March 2026 in Amsterdam: 1 Mar 00:00 CET (+01:00) to 1 Apr 00:00 CEST (+02:00) = 743 hours,
    # 29 March has 23. Elapsed time would give 743 / 24 = 30.958 days; calendar days give 31.
    (march,) = hourly("2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00").bills()
    assert march.seconds == 743 * 3600
    assert march.days == D(31)
    # 0.743 m3 x 1.35 = 1.00305 -> 1.00; 31 x 0.85 = 26.35 (not 30.958 x 0.85 = 26.31)
    assert [ln.amount for ln in march.lines] == [D("1.00"), D("26.35")]
    assert march.total == D("27.35")


def test_october_with_the_fall_back_day_is_31_days() -> None:
    # 25 October 2026 has 25 hours: 745 hours in the month, still 31 days x 0.85 = 26.35.
    (october,) = hourly("2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00").bills()
    assert (october.seconds, october.days, october.standing_charge) == (745 * 3600, D(31), D("26.35"))


def test_partial_days_at_the_start_and_end_of_a_run_count_whole() -> None:
    # 30 Mar 22:00 to 2 Apr 01:00 CEST: March has 30 and 31 March (2 days, 26 h), April has 1 and
    # 2 April (2 days, 25 h: 2 April only from 00:00 to 01:00).
    march, april = hourly("2026-03-30T22:00:00+02:00", "2026-04-02T01:00:00+02:00").bills()
    assert (march.period, march.days, march.seconds) == ("2026-03", D(2), 26 * 3600)
    assert (april.period, april.days, april.seconds) == ("2026-04", D(2), 25 * 3600)
    assert march.standing_charge == april.standing_charge == D("1.70")  # 2 x 0.85


def test_days_are_local_not_utc() -> None:
    # 12 hours in Karachi (UTC+5) from 20:00 local: two local days (1 and 2 Jan), though 15:00-03:00 UTC.
    (bill,) = hourly("2026-01-01T20:00:00+05:00", "2026-01-02T08:00:00+05:00", "Asia/Karachi").bills()
    assert bill.days == D(2)
    # 12 hours in London (UTC) from 06:00: one local day.
    (bill,) = hourly("2026-01-01T06:00:00Z", "2026-01-01T18:00:00Z", "Europe/London").bills()
    assert bill.days == D(1)


def test_an_interval_added_again_for_another_band_adds_no_day() -> None:
    # BillObserver adds an interval once per band in force (seconds 0 after the first): one day.
    two = Tariff.model_validate(
        {"bands": [{"name": "a", "windows": [{"start": "00:00", "end": "12:00"}]}, {"name": "b"}],
         "prices": {"a": 1, "b": 2}, "standing_charge_per_day": 3}
    )  # fmt: skip
    acc = BillAccumulator(two, BandSchedule.compile(two, "Asia/Karachi", "PK"), ["A", "B"], "Asia/Karachi")
    start = parse_instant("2026-01-01T10:00:00+05:00")
    acc.add(start, 3600, 0, np.array([1000, 0], dtype=np.int64))
    acc.add(start, 0, 1, np.array([0, 1000], dtype=np.int64))
    a, b = acc.bills()
    assert (a.days, b.days, a.seconds) == (D(1), D(1), 3600)
    assert (a.total, b.total) == (D("4.00"), D("5.00"))  # 1 kWh x 1 + 3.00; 1 kWh x 2 + 3.00


def test_bills_in_the_middle_of_a_run_change_nothing_after() -> None:
    acc = hourly("2026-01-05T00:00:00+01:00", "2026-01-05T12:00:00+01:00")
    assert acc.bills()[0].days == D(1)
    for t in range(parse_instant("2026-01-05T12:00:00+01:00"), parse_instant("2026-01-06T12:00:00+01:00"), 3600):
        acc.add(t, 3600, 0, np.array([1], dtype=np.int64))
    (bill,) = acc.bills()
    assert (bill.days, bill.seconds) == (D(2), 36 * 3600)  # 5 and 6 January, each counted once
