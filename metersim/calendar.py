"""Day types for tariffs and load models: weekday, Saturday, or Sunday/public holiday.

A *local day* is an integer count of days since 1970-01-01 in some local clock, i.e.
``(epoch_s + utc_offset_s) // 86400``. The rule is the same for every country:

* a Sunday or a public holiday of ``country`` (from the ``holidays`` package) is ``SUNDAY_HOLIDAY``;
* otherwise a Saturday is ``SATURDAY``;
* otherwise the day is a ``WEEKDAY``.

The BDEW load-profile *season* of a local day (:func:`seasons`) is ``WINTER`` from 1 November to
20 March, ``SUMMER`` from 15 May to 14 September and ``TRANSITION`` otherwise (BDEW/VDEW,
"Repräsentative VDEW-Lastprofile", 1999; the same dates as demandlib 0.2.2's ``ElecSlp``).

Countries whose weekend differs are deliberately not special-cased (Pakistan has a Saturday/Sunday
weekend since 2022, which matches; Friday-weekend countries would need their own rule), so that a
tariff's ``day_types`` mean the same thing whatever the meter's country.
"""

from __future__ import annotations

import datetime as _dt
import threading
from functools import lru_cache

import holidays
import numpy as np
import numpy.typing as npt

from metersim.timebase import local_year

WEEKDAY = 0
SATURDAY = 1
SUNDAY_HOLIDAY = 2
DAY_TYPE_NAMES = ("weekday", "saturday", "sunday_holiday")  # indexed by the constants above

WINTER = 0
SUMMER = 1
TRANSITION = 2
SEASON_NAMES = ("winter", "summer", "transition")  # indexed by the constants above

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_MIN_YEAR, _MAX_YEAR = 1, 9999


@lru_cache(maxsize=1024)
def holiday_dates(country: str | None, year: int) -> frozenset[_dt.date]:
    """The public holidays of ``country`` (ISO 3166 alpha-2) in ``year``; empty for ``None``.

    Raises
    ------
    ValueError
        If the ``holidays`` package does not know ``country``.
    """
    if country is None:
        return frozenset()
    try:
        table = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        raise ValueError(
            f"unknown country code {country!r} for public holidays (expected an ISO 3166 alpha-2 code "
            "that the `holidays` package supports, e.g. PK, UZ, NL, GB)"
        ) from None
    return frozenset(table.keys())


class _YearTable:
    """Day types of every day in a run of whole years, for one country; grows on demand."""

    def __init__(self, country: str | None) -> None:
        self.country = country
        self.first_year = 0
        self.last_year = -1
        # (local day of types[0], types): one attribute, so readers on other threads see a consistent pair.
        self.span: tuple[int, npt.NDArray[np.int8]] = (0, np.zeros(0, dtype=np.int8))

    def ensure(self, first_year: int, last_year: int) -> None:
        if self.first_year <= first_year and last_year <= self.last_year:
            return
        if self.last_year >= self.first_year:  # keep what is already covered
            first_year = min(first_year, self.first_year)
            last_year = max(last_year, self.last_year)
        first_year, last_year = max(first_year, _MIN_YEAR), min(last_year, _MAX_YEAR)
        base_day = _dt.date(first_year, 1, 1).toordinal() - _EPOCH_ORDINAL
        end_day = _dt.date(last_year, 12, 31).toordinal() - _EPOCH_ORDINAL + 1
        days = np.arange(base_day, end_day, dtype=np.int64)
        types = _by_weekday(days)
        for year in range(first_year, last_year + 1):
            for date in holiday_dates(self.country, year):
                index = date.toordinal() - _EPOCH_ORDINAL - base_day
                if 0 <= index < types.size:  # some calendars list an observed day in the next year
                    types[index] = SUNDAY_HOLIDAY
        self.span = (base_day, types)
        self.first_year, self.last_year = first_year, last_year


def _by_weekday(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
    weekday = (days + _EPOCH_WEEKDAY) % 7  # Monday = 0
    types = np.zeros(days.shape, dtype=np.int8)
    types[weekday == 5] = SATURDAY
    types[weekday == 6] = SUNDAY_HOLIDAY
    return types


_tables: dict[str | None, _YearTable] = {}
_tables_lock = threading.Lock()


def _table(country: str | None) -> _YearTable:
    table = _tables.get(country)
    if table is None:
        holiday_dates(country, 2000)  # fail fast on an unknown country, before caching a table
        with _tables_lock:
            table = _tables.setdefault(country, _YearTable(country))
    return table


def day_types(local_days: npt.ArrayLike, country: str | None) -> npt.NDArray[np.int8]:
    """Day type (``WEEKDAY``, ``SATURDAY`` or ``SUNDAY_HOLIDAY``) of each local day.

    Parameters
    ----------
    local_days
        Integer days since 1970-01-01 in local time, any shape.
    country
        ISO 3166 alpha-2 code for public holidays, or ``None`` for none.

    Returns
    -------
    numpy.ndarray
        int8 array of the same shape as ``local_days``.
    """
    days = np.asarray(local_days, dtype=np.int64)
    if days.size == 0:
        return np.zeros(days.shape, dtype=np.int8)
    table = _table(country)
    base, types = table.span
    lo, hi = int(days.min()), int(days.max())
    if lo < base or hi >= base + types.size:
        with _tables_lock:
            table.ensure(local_year(lo), local_year(hi))
        base, types = table.span
    return types[days - base]


def day_type(local_day: int, country: str | None) -> int:
    """Scalar :func:`day_types`, without numpy overhead: the day type of one local day."""
    table = _table(country)
    base, types = table.span
    if not base <= local_day < base + types.size:
        with _tables_lock:
            table.ensure(local_year(local_day), local_year(local_day))
        base, types = table.span
    return int(types[local_day - base])


def seasons(local_days: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """BDEW season (``WINTER``, ``SUMMER`` or ``TRANSITION``) of each local day, any shape."""
    dates = _EPOCH_DAY + np.asarray(local_days, dtype=np.int64)
    month = dates.astype("datetime64[M]")
    mm = month.astype(np.int64) % 12 + 1
    dd = (dates - month.astype("datetime64[D]")).astype(np.int64) + 1
    md = mm * 100 + dd  # e.g. 1101 for 1 November
    out = np.full(md.shape, TRANSITION, dtype=np.int8)
    out[(md >= 1101) | (md <= 320)] = WINTER
    out[(md >= 515) & (md <= 914)] = SUMMER
    return out


def days_of_year(local_days: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Day of the calendar year (1 = 1 January) of each local day, any shape."""
    dates = _EPOCH_DAY + np.asarray(local_days, dtype=np.int64)
    return np.asarray((dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1)
