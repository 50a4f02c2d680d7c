"""Expected bills, computed from the *true* consumption of each meter (the ground truth).

Billing rules
-------------

* **Quantities are exact.** Consumption is accumulated as integer thousandths (Wh for electricity,
  litres for gas) and turned into a decimal quantity only at the end: ``Decimal(milli) / 1000``
  kWh or m3, with no rounding (written with three decimals, e.g. ``120.500``). Prices, standing
  charges and tax rates from the scenario are read as the shortest decimal that gives back the
  same number (``0.1`` is exactly ``0.1``); every amount is computed exactly before it is rounded.
* **A billing period is a calendar month in the meter's local time** (``"YYYY-MM"``). An interval
  belongs to the month in which it *starts*. The first and last periods of a run may be partial:
  they are billed for what was simulated.
* **Days** of a period = simulated seconds in the period / 86400, as a Decimal, not rounded to
  whole days (a run of 1 day 12 hours is 1.5 days). Where that fraction does not terminate
  (e.g. 1/24 day), ``Bill.days`` shows it to 28 significant digits, but the standing charge is
  computed from the exact fraction.
* **Band energy lines** (tariffs with ``prices``): one line per band, units in the band x the
  band's price; every band gets a line, even with zero units.
* **Slabs** (tariffs with ``slabs``): the period's total over all bands is split into marginal
  blocks: the first ``up_to`` units at the first price, the units above that up to the next
  ``up_to`` at the next price, and so on; the last block has no limit. A line is written for each
  block that has units. The schedule used is the first ``SlabSchedule`` whose ``months`` contain
  the period's month, or that has no ``months``; if none does, billing fails with ValueError.
  A partial period uses the full monthly blocks (they are not pro-rated).
* **Standing charge**: days x ``standing_charge_per_day``; no line when that is 0. With
  ``standing_charge_while_disconnected: false``, a meter's days leave out the intervals its relay
  (or valve) was open by command for the whole interval.
* **Rounding**: every line amount is rounded to 2 decimals, half up (0.145 -> 0.15).
  Subtotal = sum of the rounded lines. Each tax = subtotal x percent / 100, rounded the same way.
  Total = subtotal + taxes. Amounts are in the tariff's currency, always to 2 decimals.

Example (UK Economy 7, illustrative prices): 6 kWh day @ 0.30 = 1.80; 4 kWh night @ 0.15 = 0.60;
1 day x 0.50 standing charge = 0.50; subtotal 2.90; VAT 5% = 0.145 -> 0.15; total 3.05.

Output (:func:`write_bills`): one row per bill; the columns and their Parquet types are listed in
:mod:`metersim.ledger.bill_files`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from metersim.config import SlabSchedule, Tariff
from metersim.records import UNIT
from metersim.tariffs import BandSchedule
from metersim.timebase import SECONDS_PER_DAY, local_month, local_year, zone_offsets

STANDING_CHARGE = "standing charge"  # description of the standing-charge line

_DAYS_CONTEXT = Context(prec=28)  # fixed, so that Bill.days never depends on the caller's context
_WIDE = Context(prec=60)


@dataclass(frozen=True)
class BillLine:
    """One line of a bill: ``quantity`` [``unit``] x ``unit_price`` = ``amount`` (rounded)."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Bill:
    """A meter's bill for one billing period (a local calendar month, possibly partial)."""

    meter_id: str
    period: str  # "YYYY-MM"
    currency: str
    days: Decimal
    band_units: dict[str, Decimal]  # true consumption per band [kWh or m3]
    lines: list[BillLine]  # energy (or block) lines, then the standing charge
    subtotal: Decimal
    taxes: list[BillLine]
    total: Decimal
    unit: str = ""  # of band_units and the energy lines: "kWh" or "m3"
    basis: str = "true"  # "true": what the customer consumed; "registered": what the meter recorded

    @property
    def standing_charge(self) -> Decimal:
        """The standing-charge amount (0.00 if none)."""
        return sum((ln.amount for ln in self.lines if ln.description == STANDING_CHARGE), Decimal("0.00"))

    @property
    def energy_charge(self) -> Decimal:
        """The sum of the energy (or slab block) lines."""
        return sum((ln.amount for ln in self.lines if ln.description != STANDING_CHARGE), Decimal("0.00"))


def _decimal(value: float) -> Decimal:
    """A config number as the decimal its author wrote: the shortest repr of the float."""
    if float(value).is_integer():
        return Decimal(int(value))
    return Decimal(repr(float(value)))


def _money(amount: Fraction) -> Decimal:
    """Round an exact amount to 2 decimals, half up (away from zero, like ROUND_HALF_UP)."""
    cents = math.floor(abs(amount) * 100 + Fraction(1, 2))
    return Decimal(cents if amount >= 0 else -cents).scaleb(-2)


def _quantity(milli: int) -> Decimal:
    return Decimal(int(milli)).scaleb(-3)


def _line(description: str, quantity: Decimal, unit: str, unit_price: Decimal) -> BillLine:
    amount = _money(Fraction(quantity) * Fraction(unit_price))
    return BillLine(description, quantity, unit, unit_price, amount)


def _slab_schedule(tariff: Tariff, month: int) -> SlabSchedule:
    assert tariff.slabs is not None
    for schedule in tariff.slabs:
        if schedule.months is None or month in schedule.months:
            return schedule
    raise ValueError(f"the tariff has no slab schedule for month {month}")


def _slab_lines(schedule: SlabSchedule, total: Decimal, unit: str) -> list[BillLine]:
    lines: list[BillLine] = []
    lower = Decimal(0)
    for number, block in enumerate(schedule.blocks, start=1):
        if total <= lower:
            break
        upper = _decimal(block.up_to) if block.up_to is not None else None
        top = total if upper is None else min(total, upper)
        span = f"{lower}-{upper} {unit}" if upper is not None else f"over {lower} {unit}"
        lines.append(_line(f"block {number}: {span}", _WIDE.subtract(top, lower), unit, _decimal(block.price)))
        if upper is None:
            break
        lower = upper
    return lines


def _bill(
    tariff: Tariff,
    meter_id: str,
    period: str,
    month: int,
    days: Decimal,
    exact_days: Fraction,
    band_units_milli: Sequence[int],
    unit: str,
) -> Bill:
    names = [band.name for band in tariff.bands]
    if len(band_units_milli) != len(names):
        raise ValueError(f"got {len(band_units_milli)} band totals for the {len(names)} bands {names}")
    band_units = {name: _quantity(milli) for name, milli in zip(names, band_units_milli)}
    if tariff.slabs is not None:
        lines = _slab_lines(_slab_schedule(tariff, month), _quantity(sum(int(m) for m in band_units_milli)), unit)
    else:
        lines = [_line(f"energy {name}", band_units[name], unit, _decimal(tariff.prices[name])) for name in names]
    if tariff.standing_charge_per_day:
        price = _decimal(tariff.standing_charge_per_day)
        lines.append(BillLine(STANDING_CHARGE, days, "day", price, _money(exact_days * Fraction(price))))
    subtotal = sum((ln.amount for ln in lines), Decimal("0.00"))
    taxes = [_line(tax.name, subtotal, tariff.currency, _decimal(tax.percent).scaleb(-2)) for tax in tariff.taxes]
    total = subtotal + sum((t.amount for t in taxes), Decimal("0.00"))
    return Bill(meter_id, period, tariff.currency, days, band_units, lines, subtotal, taxes, total, unit)


def compute_bill(
    tariff: Tariff,
    meter_id: str,
    period: str,
    month: int,
    days: Decimal,
    band_units_milli: Sequence[int],
    unit: str,
) -> Bill:
    """The bill for one meter and one period, by the rules in the module docstring.

    Parameters
    ----------
    tariff
        The validated tariff.
    meter_id, period
        Copied onto the bill; ``period`` is ``"YYYY-MM"``.
    month
        Month of the period (1-12), which selects the slab schedule.
    days
        Length of the period [days], for the standing charge.
    band_units_milli
        True consumption in each band of ``tariff.bands``, in order [Wh or litres].
    unit
        Unit of the quantities, ``"kWh"`` or ``"m3"``.

    Raises
    ------
    ValueError
        If the number of band totals is wrong or no slab schedule covers ``month``.
    """
    return _bill(tariff, meter_id, period, month, days, Fraction(days), band_units_milli, unit)


class BillAccumulator:
    """Sums true consumption per meter, billing period and band during a run, then bills it.

    Parameters
    ----------
    tariff
        The tariff of these meters.
    schedule
        The tariff's compiled bands (only its band count is used; the caller picks the band).
    meter_ids
        The meters, in the order of the consumption arrays passed to :meth:`add`.
    timezone
        IANA zone of the meters: billing periods are their local calendar months.
    """

    def __init__(self, tariff: Tariff, schedule: BandSchedule, meter_ids: list[str], timezone: str) -> None:
        if len(schedule.band_names) != len(tariff.bands):
            raise ValueError("the band schedule was not compiled from this tariff")
        self.tariff = tariff
        self.meter_ids = list(meter_ids)
        self.unit = UNIT[tariff.commodity]
        self._bands = len(schedule.band_names)
        self._offsets = zone_offsets(timezone)
        self._units: dict[int, npt.NDArray[np.int64]] = {}  # period key -> [band, meter] thousandths
        self._seconds: dict[int, int] = {}  # period key -> simulated seconds
        self._off: dict[int, npt.NDArray[np.int64]] = {}  # period key -> seconds disconnected, per meter
        self._period_of_day: dict[int, int] = {}  # local day -> period key (year * 12 + month - 1)

    def _period(self, epoch_s: int) -> int:
        day = (epoch_s + self._offsets.offset(epoch_s)) // SECONDS_PER_DAY
        key = self._period_of_day.get(day)
        if key is None:
            if len(self._period_of_day) >= 4096:
                self._period_of_day.clear()
            key = self._period_of_day[day] = local_year(day) * 12 + local_month(day) - 1
        return key

    def add(self, interval_start_s: int, interval_s: int, band: int, consumption_milli: npt.NDArray[np.int64]) -> None:
        """Add one interval's true consumption of every meter.

        Parameters
        ----------
        interval_start_s
            Start of the interval [s since the epoch, UTC]; its local month is the period.
        interval_s
            Length of the interval [s], counted towards the period's days.
        band
            Index of the band in force (from the schedule, at the interval start).
        consumption_milli
            int64 consumption per meter [Wh or litres], in the order of ``meter_ids``.
        """
        if consumption_milli.shape != (len(self.meter_ids),):
            raise ValueError(f"expected {len(self.meter_ids)} consumptions, got shape {consumption_milli.shape}")
        if not 0 <= band < self._bands:
            raise ValueError(f"band {band} out of range 0..{self._bands - 1}")
        key = self._period(int(interval_start_s))
        units = self._units.get(key)
        if units is None:
            units = self._units[key] = np.zeros((self._bands, len(self.meter_ids)), dtype=np.int64)
            self._seconds[key] = 0
        # int64 += float raises rather than truncating silently: the truth must stay integral.
        units[int(band)] += consumption_milli
        self._seconds[key] += int(interval_s)

    def disconnect(self, interval_start_s: int, interval_s: int, meters: npt.NDArray[np.bool_]) -> None:
        """Count an interval [s] as disconnected for ``meters`` (by position): no standing charge for it."""
        key = self._period(int(interval_start_s))
        off = self._off.get(key)
        if off is None:
            off = self._off[key] = np.zeros(len(self.meter_ids), dtype=np.int64)
        off += meters.astype(np.int64) * int(interval_s)

    def bills(self) -> list[Bill]:
        """A bill per meter and period that has simulated time, ordered by meter then period.

        A meter's days are the period's simulated seconds less those it was disconnected for
        (:meth:`disconnect`), / 86400."""
        periods = []
        for key in sorted(self._units):
            year, month0 = divmod(key, 12)
            seconds = self._seconds[key]
            days = _DAYS_CONTEXT.divide(Decimal(seconds), Decimal(SECONDS_PER_DAY))
            periods.append((f"{year:04d}-{month0 + 1:02d}", month0 + 1, days, Fraction(seconds, SECONDS_PER_DAY)))
        columns = {key: units.T.tolist() for key, units in self._units.items()}
        keys = sorted(self._units)
        out: list[Bill] = []
        for index, meter_id in enumerate(self.meter_ids):
            for key, (period, month, days, exact) in zip(keys, periods):
                off = int(self._off[key][index]) if key in self._off else 0
                if off:
                    seconds = self._seconds[key] - off
                    exact = Fraction(seconds, SECONDS_PER_DAY)
                    days = _DAYS_CONTEXT.divide(Decimal(seconds), Decimal(SECONDS_PER_DAY))
                out.append(_bill(self.tariff, meter_id, period, month, days, exact, columns[key][index], self.unit))
        return out
