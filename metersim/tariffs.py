"""Tariff bands compiled for fast lookup: which band is in force at an instant.

A band applies by the *local* time at the start of an interval (the billing-test invariant), in
the *band clock*: the tariff's own ``timezone`` if it has one (UK Economy 7 is fixed in GMT all
year, so its night starts at 01:00 local time during BST), else the meter's zone. Bands are tried
in order; the first with a matching window wins, and the last band (which has no windows) takes
the rest of the time.

A window ``start``-``end`` matches local minutes-of-day in ``[start, end)``; when ``end <= start``
it wraps past midnight (``23:00``-``07:00``), and ``24:00`` is the end of the day. Its ``months``
and ``day_types`` (see :mod:`metersim.calendar`) are tested against the local date *of the instant
itself*, not of the day on which a wrapping window opened: ``23:00``-``07:00`` on weekdays covers
Friday 23:00-24:00 and Monday 00:00-07:00, but not Saturday 00:00-07:00.

UTC offsets and local months come from :mod:`metersim.timebase`, the one time source.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from metersim import calendar
from metersim.config import DayType, Tariff
from metersim.timebase import SECONDS_PER_DAY, local_month, local_months, zone_offsets

_DAY_TYPE_INDEX: dict[DayType, int] = {
    "weekday": calendar.WEEKDAY,
    "saturday": calendar.SATURDAY,
    "sunday_holiday": calendar.SUNDAY_HOLIDAY,
}
_DAY_CACHE_LIMIT = 4096


class _Window:
    __slots__ = ("day_types", "end", "months", "start", "type_mask", "wraps")

    def __init__(self, start: int, end: int, months: list[int] | None, day_types: list[DayType] | None) -> None:
        self.start = start
        self.end = end
        self.wraps = end <= start
        self.months = frozenset(months) if months is not None else None
        self.day_types = frozenset(_DAY_TYPE_INDEX[d] for d in day_types) if day_types is not None else None
        self.type_mask = np.zeros(3, dtype=bool)
        if self.day_types is not None:
            self.type_mask[list(self.day_types)] = True

    def hit(self, minute: int, month: int, day_type: int) -> bool:
        if self.wraps:
            if self.start > minute >= self.end:
                return False
        elif not self.start <= minute < self.end:
            return False
        if self.months is not None and month not in self.months:
            return False
        return self.day_types is None or day_type in self.day_types

    def hits(
        self,
        minute: npt.NDArray[np.int64],
        month: npt.NDArray[np.int64] | None,
        day_type: npt.NDArray[np.int8] | None,
    ) -> npt.NDArray[np.bool_]:
        if self.wraps:
            mask = (minute >= self.start) | (minute < self.end)
        else:
            mask = (minute >= self.start) & (minute < self.end)
        if self.months is not None:
            assert month is not None
            mask &= np.isin(month, list(self.months))
        if self.day_types is not None:
            assert day_type is not None
            mask &= self.type_mask[day_type]
        return mask


class BandSchedule:
    """A tariff's bands compiled for one band clock and one country's holidays.

    Use :meth:`compile`; then :meth:`bands_at` (arrays) or :meth:`band_at` (one instant).
    """

    def __init__(
        self,
        band_names: tuple[str, ...],
        windows: tuple[tuple[_Window, ...], ...],
        timezone: str,
        country: str | None,
    ) -> None:
        self.band_names = band_names
        self.timezone = timezone
        self.country = country
        self._windows = windows
        self._default = len(band_names) - 1
        self._offsets = zone_offsets(timezone)
        every = [w for ws in windows for w in ws]
        self._need_month = any(w.months is not None for w in every)
        self._need_day_type = any(w.day_types is not None for w in every)
        self._days: dict[int, tuple[int, int]] = {}  # local day -> (month, day type), for band_at

    @classmethod
    def compile(cls, tariff: Tariff, meter_timezone: str, country: str | None) -> BandSchedule:
        """Compile ``tariff``'s bands for a meter in ``meter_timezone`` with ``country``'s holidays.

        Parameters
        ----------
        tariff
            The validated tariff.
        meter_timezone
            IANA zone of the meter; the band clock unless ``tariff.timezone`` is set.
        country
            ISO 3166 alpha-2 code for public holidays (``sunday_holiday``), or ``None``.

        Raises
        ------
        ValueError
            If a zone or the country is unknown.
        """
        windows = tuple(
            tuple(_Window(w.start_min, w.end_min, w.months, w.day_types) for w in band.windows) for band in tariff.bands
        )
        if country is not None and any(w.day_types is not None for ws in windows for w in ws):
            calendar.holiday_dates(country, 2000)  # an unknown country fails here, not mid-run
        return cls(tuple(b.name for b in tariff.bands), windows, tariff.timezone or meter_timezone, country)

    def band_at(self, epoch_s: int) -> int:
        """Index into :attr:`band_names` of the band in force at ``epoch_s`` [s since the epoch, UTC]."""
        local = epoch_s + self._offsets.offset(epoch_s)
        day, second = divmod(local, SECONDS_PER_DAY)
        minute = second // 60
        info = self._days.get(day)
        if info is None:
            month = local_month(day) if self._need_month else 0
            day_type = calendar.day_type(day, self.country) if self._need_day_type else 0
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()
            info = self._days[day] = (month, day_type)
        month, day_type = info
        for index, windows in enumerate(self._windows):
            for window in windows:
                if window.hit(minute, month, day_type):
                    return index
        return self._default

    def bands_at(self, epoch_s: npt.ArrayLike) -> npt.NDArray[np.int8]:
        """Band index in force at each instant (an interval start) [s since the epoch, UTC].

        Returns an int8 array of the same shape as ``epoch_s`` (0-d for a scalar).
        """
        if isinstance(epoch_s, (int, np.integer)):
            return np.array(self.band_at(int(epoch_s)), dtype=np.int8)
        instants = np.asarray(epoch_s, dtype=np.int64)
        local = instants + self._offsets.offsets(instants)
        day = local // SECONDS_PER_DAY
        minute = (local - day * SECONDS_PER_DAY) // 60
        month = None
        if self._need_month:
            month = local_months(day)
        day_type = calendar.day_types(day, self.country) if self._need_day_type else None
        result = np.full(instants.shape, self._default, dtype=np.int8)
        # Walk the bands backwards so that an earlier band overwrites a later one: first match wins.
        for index in range(len(self._windows) - 1, -1, -1):
            windows = self._windows[index]
            if not windows:
                continue
            mask = windows[0].hits(minute, month, day_type)
            for window in windows[1:]:
                mask |= window.hits(minute, month, day_type)
            result[mask] = index
        return result

    def bands_for_window(self, start_s: int, end_s: int, interval_s: int) -> npt.NDArray[np.int8]:
        """Band index of every interval starting in ``[start_s, end_s)``, ``interval_s`` apart [s]."""
        return self.bands_at(np.arange(start_s, end_s, interval_s, dtype=np.int64))
