"""Expected bills, computed from the *true* consumption of each meter (the ground truth).

The billing rules, each with a hand-worked example, are in README.md, "Expected bills"; in short:

* quantities are exact integer thousandths (Wh, litres) until the end; prices are the decimals the
  scenario wrote; every line is rounded to 2 decimals half up, taxes on the rounded subtotal;
* a billing period is a local calendar month; an interval belongs to the month (and the local
  calendar day) in which it starts;
* the standing charge is per **local calendar day**: a day counts if any interval starting in it
  was simulated (the partial first and last days of a run count whole); with
  ``standing_charge_while_disconnected: false`` a meter's day is left out only if its relay (or
  valve) was open by command for every simulated interval of that day;
* ``net_metering: true``: in each period and band, export nets against import, then against the
  credit carried from earlier periods (same band); what is left over is carried forward to the
  next period; credit left at the end of the run is shown on the last bill and is not paid out
  (no annual settlement is simulated);
* ``export_price``: export is credited at that price as a negative line after the taxes (taxes
  apply to the charges, not to the credit); a total may then be negative.

The bills file's columns and their Parquet types are listed in :mod:`metersim.ledger.bill_files`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from metersim.config import SlabSchedule, Tariff
from metersim.records import UNIT
from metersim.tariffs import BandSchedule
from metersim.timebase import SECONDS_PER_DAY, local_month, local_year, zone_offsets

STANDING_CHARGE = "standing charge"  # description of the standing-charge line
EXPORT_CREDIT = "export credit"  # description of the export-price credit line

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
    days: Decimal  # charged days: local calendar days (from the accumulator, a whole number)
    band_units: dict[str, Decimal]  # true import per band [kWh or m3]
    lines: list[BillLine]  # energy (or block) lines, then the standing charge
    subtotal: Decimal
    taxes: list[BillLine]
    total: Decimal  # subtotal + taxes + credits
    unit: str = ""  # of band_units and the energy lines: "kWh" or "m3"
    basis: str = "true"  # "true": what the customer consumed; "registered": what the meter recorded
    band_export: dict[str, Decimal] = field(default_factory=dict)  # true export per band [kWh]; tariffs with export
    credit_units: dict[str, Decimal] = field(default_factory=dict)  # net metering: credit carried out [kWh]
    credits: list[BillLine] = field(default_factory=list)  # export-price credit (negative amounts), after taxes
    seconds: int | None = None  # simulated seconds in the period [s]; None: not known (compute_bill)

    @property
    def standing_charge(self) -> Decimal:
        """The standing-charge amount (0.00 if none)."""
        return sum((ln.amount for ln in self.lines if ln.description == STANDING_CHARGE), Decimal("0.00"))

    @property
    def energy_charge(self) -> Decimal:
        """The sum of the energy (or slab block) lines."""
        return sum((ln.amount for ln in self.lines if ln.description != STANDING_CHARGE), Decimal("0.00"))

    @property
    def export_credit(self) -> Decimal:
        """The export-price credit (<= 0.00; 0.00 if none) [currency]."""
        return sum((ln.amount for ln in self.credits), Decimal("0.00"))


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


def net_of_export(
    import_milli: Sequence[int], export_milli: Sequence[int], credit_milli: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Net metering of one period, per band [thousandths]: (billed import, credit carried out).

    Export and the credit carried in offset the band's import; what they do not use is carried out."""
    billed, carried = [], []
    for imported, exported, credit in zip(import_milli, export_milli, credit_milli, strict=True):
        offset = int(exported) + int(credit)
        billed.append(max(0, int(imported) - offset))
        carried.append(max(0, offset - int(imported)))
    return billed, carried


def _bill(
    tariff: Tariff,
    meter_id: str,
    period: str,
    month: int,
    days: Decimal,
    band_units_milli: Sequence[int],
    unit: str,
    export_milli: Sequence[int] | None,
    credit_milli: Sequence[int] | None,
    seconds: int | None,
) -> Bill:
    names = [band.name for band in tariff.bands]
    if len(band_units_milli) != len(names):
        raise ValueError(f"got {len(band_units_milli)} band totals for the {len(names)} bands {names}")
    exports = tariff.net_metering or tariff.export_price is not None
    if exports and export_milli is None:
        export_milli = [0] * len(names)
    if export_milli is not None and len(export_milli) != len(names):
        raise ValueError(f"got {len(export_milli)} band exports for the {len(names)} bands {names}")
    band_units = {name: _quantity(milli) for name, milli in zip(names, band_units_milli)}
    billed = [int(m) for m in band_units_milli]
    credit_units: dict[str, Decimal] = {}
    if tariff.net_metering:
        assert export_milli is not None
        billed, carried = net_of_export(billed, export_milli, credit_milli or [0] * len(names))
        credit_units = {name: _quantity(milli) for name, milli in zip(names, carried)}
    if tariff.slabs is not None:
        lines = _slab_lines(_slab_schedule(tariff, month), _quantity(sum(billed)), unit)
    else:
        prices = tariff.prices
        lines = [_line(f"energy {n}", _quantity(m), unit, _decimal(prices[n])) for n, m in zip(names, billed)]
    if tariff.standing_charge_per_day:
        price = _decimal(tariff.standing_charge_per_day)
        lines.append(BillLine(STANDING_CHARGE, days, "day", price, _money(Fraction(days) * Fraction(price))))
    subtotal = sum((ln.amount for ln in lines), Decimal("0.00"))
    taxes = [_line(tax.name, subtotal, tariff.currency, _decimal(tax.percent).scaleb(-2)) for tax in tariff.taxes]
    credits: list[BillLine] = []
    if tariff.export_price is not None:
        assert export_milli is not None
        exported = _quantity(sum(int(m) for m in export_milli))
        credits.append(_line(EXPORT_CREDIT, exported, unit, -_decimal(tariff.export_price)))
    total = subtotal + sum((t.amount for t in taxes), Decimal("0.00")) + sum((c.amount for c in credits), Decimal(0))
    band_export = {n: _quantity(m) for n, m in zip(names, export_milli)} if export_milli is not None else {}
    return Bill(
        meter_id, period, tariff.currency, days, band_units, lines, subtotal, taxes, total, unit,
        band_export=band_export, credit_units=credit_units, credits=credits, seconds=seconds,
    )  # fmt: skip


def compute_bill(
    tariff: Tariff,
    meter_id: str,
    period: str,
    month: int,
    days: Decimal,
    band_units_milli: Sequence[int],
    unit: str,
    *,
    export_milli: Sequence[int] | None = None,
    credit_milli: Sequence[int] | None = None,
    seconds: int | None = None,
) -> Bill:
    """The bill for one meter and one period, by the rules in README.md, "Expected bills".

    Parameters
    ----------
    tariff
        The validated tariff.
    meter_id, period
        Copied onto the bill; ``period`` is ``"YYYY-MM"``.
    month
        Month of the period (1-12), which selects the slab schedule.
    days
        Charged days of the period [days], for the standing charge (any decimal: the accumulator
        passes whole local calendar days).
    band_units_milli
        True import in each band of ``tariff.bands``, in order [Wh or litres].
    unit
        Unit of the quantities, ``"kWh"`` or ``"m3"``.
    export_milli
        True export in each band [Wh]; used by ``net_metering`` and ``export_price`` tariffs
        (default: none exported).
    credit_milli
        Net metering: credit per band carried in from the previous period [Wh] (default: none).
    seconds
        Simulated seconds of the period [s], copied onto the bill.

    Raises
    ------
    ValueError
        If the number of band totals is wrong or no slab schedule covers ``month``.
    """
    return _bill(tariff, meter_id, period, month, days, band_units_milli, unit, export_milli, credit_milli, seconds)


class BillAccumulator:
    """Sums true import (and export) per meter, billing period and band during a run, then bills it.
    Intervals are added in time order (a local day is closed for the standing charge as the next begins).

    Parameters
    ----------
    tariff
        The tariff of these meters.
    schedule
        The tariff's compiled bands (only its band count is used; the caller picks the band).
    meter_ids
        The meters, in the order of the consumption arrays passed to :meth:`add`.
    timezone
        IANA zone of the meters: billing periods are their local calendar months, and standing
        charges count their local calendar days.
    """

    def __init__(self, tariff: Tariff, schedule: BandSchedule, meter_ids: list[str], timezone: str) -> None:
        if len(schedule.band_names) != len(tariff.bands):
            raise ValueError("the band schedule was not compiled from this tariff")
        self.tariff = tariff
        self.meter_ids = list(meter_ids)
        self.unit = UNIT[tariff.commodity]
        self.exports = tariff.net_metering or tariff.export_price is not None
        self._bands = len(schedule.band_names)
        self._offsets = zone_offsets(timezone)
        self._units: dict[int, npt.NDArray[np.int64]] = {}  # period key -> [band, meter] thousandths
        self._export: dict[int, npt.NDArray[np.int64]] = {}  # period key -> [band, meter] thousandths
        self._seconds: dict[int, int] = {}  # period key -> simulated seconds
        self._days: dict[int, int] = {}  # period key -> local calendar days with a simulated interval
        self._off_days: dict[int, npt.NDArray[np.int64]] = {}  # period key -> days disconnected throughout
        self._open: dict[int, tuple[int, int]] = {}  # local day -> (period key, simulated seconds so far)
        self._open_off: dict[int, npt.NDArray[np.int64]] = {}  # local day -> seconds disconnected, per meter
        self._period_of_day: dict[int, int] = {}  # local day -> period key (year * 12 + month - 1)

    def _day(self, epoch_s: int) -> tuple[int, int]:
        """(local calendar day number, period key) of an instant."""
        day = (epoch_s + self._offsets.offset(epoch_s)) // SECONDS_PER_DAY
        key = self._period_of_day.get(day)
        if key is None:
            if len(self._period_of_day) >= 4096:
                self._period_of_day.clear()
            key = self._period_of_day[day] = local_year(day) * 12 + local_month(day) - 1
        return day, key

    def _whole_off(self, day: int) -> tuple[int, npt.NDArray[np.int64] | None]:
        """(period key, 1 per meter disconnected for every simulated second of the open ``day``)."""
        key, seconds = self._open[day]
        off = self._open_off.get(day)
        return key, None if off is None else (off >= seconds).astype(np.int64)

    def _close(self, before: int) -> None:
        """Close the open local days before ``before``: count the meters off throughout."""
        for day in [d for d in self._open if d < before]:
            key, whole = self._whole_off(day)
            if whole is not None:
                self._off_days.setdefault(key, np.zeros(len(self.meter_ids), dtype=np.int64))
                self._off_days[key] += whole
            del self._open[day]
            self._open_off.pop(day, None)

    def add(
        self,
        interval_start_s: int,
        interval_s: int,
        band: int,
        consumption_milli: npt.NDArray[np.int64],
        export_milli: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """Add one interval's true import (and export) of every meter.

        Parameters
        ----------
        interval_start_s
            Start of the interval [s since the epoch, UTC]; its local day and month are the
            standing-charge day and the period.
        interval_s
            Length of the interval [s] (0 when the same interval is added again for another band).
        band
            Index of the band in force (from the schedule, at the interval start).
        consumption_milli
            int64 import per meter [Wh or litres], in the order of ``meter_ids``.
        export_milli
            int64 export per meter [Wh]; kept only for ``net_metering`` or ``export_price`` tariffs.
        """
        if consumption_milli.shape != (len(self.meter_ids),):
            raise ValueError(f"expected {len(self.meter_ids)} consumptions, got shape {consumption_milli.shape}")
        if not 0 <= band < self._bands:
            raise ValueError(f"band {band} out of range 0..{self._bands - 1}")
        day, key = self._day(int(interval_start_s))
        units = self._units.get(key)
        if units is None:
            units = self._units[key] = np.zeros((self._bands, len(self.meter_ids)), dtype=np.int64)
            self._seconds[key] = 0
            self._days[key] = 0
        # int64 += float raises rather than truncating silently: the truth must stay integral.
        units[int(band)] += consumption_milli
        if self.exports and export_milli is not None:
            exported = self._export.get(key)
            if exported is None:
                exported = self._export[key] = np.zeros((self._bands, len(self.meter_ids)), dtype=np.int64)
            exported[int(band)] += export_milli
        self._seconds[key] += int(interval_s)
        if day not in self._open:
            self._close(before=day)
            self._open[day] = (key, 0)
            self._days[key] += 1
        self._open[day] = (key, self._open[day][1] + int(interval_s))

    def disconnect(self, interval_start_s: int, interval_s: int, meters: npt.NDArray[np.bool_]) -> None:
        """Count an interval [s] as disconnected for ``meters`` (by position), before its :meth:`add`.

        A meter's local day is not charged if it was disconnected for all of the day's simulated
        intervals."""
        day, _ = self._day(int(interval_start_s))
        off = self._open_off.get(day)
        if off is None:
            off = self._open_off[day] = np.zeros(len(self.meter_ids), dtype=np.int64)
        off += meters.astype(np.int64) * int(interval_s)

    def bills(self) -> list[Bill]:
        """A bill per meter and period that has simulated time, ordered by meter then period.

        A meter's days are the period's local calendar days with a simulated interval, less those
        it was disconnected for throughout (:meth:`disconnect`). Net-metering credit is carried
        from each period to the next, per meter and band."""
        off_days = {key: off.copy() for key, off in self._off_days.items()}
        for day in self._open:  # still open: counted here without closing (more intervals may follow)
            key, whole = self._whole_off(day)
            if whole is not None:
                off_days[key] = off_days.get(key, np.zeros(len(self.meter_ids), dtype=np.int64)) + whole
        keys = sorted(self._units)
        columns = {key: self._units[key].T.tolist() for key in keys}
        exports = {key: self._export[key].T.tolist() for key in self._export}
        zeros = [0] * self._bands
        out: list[Bill] = []
        for index, meter_id in enumerate(self.meter_ids):
            credit = zeros
            for key in keys:
                year, month0 = divmod(key, 12)
                days = self._days[key] - (int(off_days[key][index]) if key in off_days else 0)
                exported = exports[key][index] if key in exports else zeros
                bill = _bill(
                    self.tariff, meter_id, f"{year:04d}-{month0 + 1:02d}", month0 + 1, Decimal(days),
                    columns[key][index], self.unit, exported if self.exports else None,
                    credit if self.tariff.net_metering else None, self._seconds[key],
                )  # fmt: skip
                if self.tariff.net_metering:
                    credit = [int(u.scaleb(3)) for u in bill.credit_units.values()]
                out.append(bill)
        return out
