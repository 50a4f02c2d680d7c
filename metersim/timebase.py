"""The one time source: the integer clock (seconds since the Unix epoch, UTC), durations, UTC
offsets and the local calendar.

Local time is computed from IANA zones only where it is needed (timestamps on the wire, shapes by
local hour, tariff bands, billing months); everything else stays in integer UTC seconds. Every UTC
offset comes from :class:`ZoneOffsets`, a per-zone table of the zone's transitions found with
zoneinfo, so a lookup is a binary search rather than a datetime construction per instant. A *local
day* is ``(epoch_s + utc_offset) // 86400``, an integer count of days since 1970-01-01 on the local
clock; :func:`local_month`, :func:`local_months` and :func:`local_year` give its calendar.
"""

from __future__ import annotations

import bisect
import re
import threading
from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

SECONDS_PER_DAY = 86_400
_UNIT_S = {"s": 1, "m": 60, "h": 3_600, "d": SECONDS_PER_DAY, "w": 7 * SECONDS_PER_DAY}
_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(value: str | int) -> int:
    """Parse ``"15m"``, ``"1d12h"``, ``"3600s"``, ``"3600"`` or ``3600`` into whole seconds [s]."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h, 1d, 1d12h)")
            seconds = sum(int(n) * _UNIT_S[unit] for n, unit in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: int) -> str:
    """Render whole seconds compactly, e.g. ``93784 -> "1d2h3m4s"``."""
    out = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNIT_S[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


def parse_instant(text: str) -> int:
    """Parse an ISO 8601 timestamp that carries a UTC offset into epoch seconds [s]."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} needs a UTC offset, e.g. +05:00 or Z")
    if moment.microsecond:
        raise ValueError(f"timestamp {text!r} must be whole seconds")
    return int(moment.timestamp())


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


def utc_offset_s(tz: str, epoch_s: int) -> int:
    """The UTC offset [s] of zone ``tz`` at instant ``epoch_s`` [s]."""
    return zone_offsets(tz).offset(epoch_s)


def utc_offsets_s(tz: str, epoch_s: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The UTC offsets [s] of zone ``tz`` at each instant of ``epoch_s`` [s], any shape."""
    instants = np.asarray(epoch_s, dtype=np.int64)
    return zone_offsets(tz).offsets(instants.reshape(-1)).reshape(instants.shape)


def iso_local(epoch_s: int, tz: str) -> str:
    """ISO 8601 with the zone's offset at that instant, e.g. ``2026-01-01T00:15:00+05:00``."""
    return _iso(epoch_s, utc_offset_s(tz, epoch_s))


@cache
def _fixed_zone(offset_s: int) -> timezone:
    return timezone(timedelta(seconds=offset_s))


def _iso(epoch_s: int, offset_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, _fixed_zone(offset_s)).isoformat()


def iso_utc(epoch_s: int) -> str:
    """ISO 8601 in UTC, e.g. ``2026-01-01T00:15:00+00:00``."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat()


# --- the local calendar ------------------------------------------------------------------------

_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def local_months(days: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Calendar month (1-12) of each local day [d since 1970-01-01], any shape."""
    dates = _EPOCH_DAY + np.asarray(days, dtype=np.int64)
    return np.asarray(dates.astype("datetime64[M]").astype(np.int64) % 12 + 1)


def local_month(day: int) -> int:
    """Calendar month (1-12) of one local day [d since 1970-01-01]."""
    return int(local_months(day))


def local_year(day: int) -> int:
    """Calendar year of one local day [d since 1970-01-01]."""
    return int((_EPOCH_DAY + day).astype("datetime64[Y]").astype(np.int64)) + 1970


def year_days(year: int) -> npt.NDArray[np.int64]:
    """The local days [d since 1970-01-01] of every day of calendar ``year``."""
    first = (np.datetime64(f"{year:04d}-01-01") - _EPOCH_DAY).astype(np.int64)
    last = (np.datetime64(f"{year + 1:04d}-01-01") - _EPOCH_DAY).astype(np.int64)
    return np.arange(first, last, dtype=np.int64)


# --- UTC offsets -------------------------------------------------------------------------------


class ZoneOffsets:
    """UTC offsets of one IANA zone, from a table of its transitions that grows by whole UTC years.

    The zone is sampled once per day and each change of offset is located to the second by
    bisection; two transitions less than a day apart (which no current zone has) would be missed.
    Use :func:`zone_offsets` to share one table per zone.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._tz = zone(name)
        self._lock = threading.Lock()
        # (first covered second, end of coverage, transition instants, offsets: offsets[i] holds
        # from transitions[i - 1] to transitions[i]); a single attribute so that readers on other
        # threads always see a consistent table.
        self._table: tuple[int, int, list[int], list[int], npt.NDArray[np.int64], npt.NDArray[np.int64]] = (
            0, 0, [], [0], np.zeros(0, np.int64), np.zeros(1, np.int64),
        )  # fmt: skip
        self._years = (0, -1)

    def _offset_now(self, epoch_s: int) -> int:
        offset = datetime.fromtimestamp(epoch_s, self._tz).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _cover(self, lo_s: int, hi_s: int) -> None:
        """Extend the table to cover the UTC years of ``lo_s`` and ``hi_s`` (inclusive) [s]."""
        with self._lock:
            first = datetime.fromtimestamp(lo_s, timezone.utc).year
            last = datetime.fromtimestamp(hi_s, timezone.utc).year
            if self._years[0] <= self._years[1]:
                first, last = min(first, self._years[0]), max(last, self._years[1])
            if (first, last) == self._years:
                return
            start = int(datetime(first, 1, 1, tzinfo=timezone.utc).timestamp())
            end = int(datetime(last + 1, 1, 1, tzinfo=timezone.utc).timestamp())
            transitions: list[int] = []
            offsets = [self._offset_now(start)]
            before = start
            for after in range(start + SECONDS_PER_DAY, end + SECONDS_PER_DAY, SECONDS_PER_DAY):
                offset = self._offset_now(after)
                if offset != offsets[-1]:
                    lo, hi = before, after  # offset(lo) is the old one, offset(hi) the new one
                    while hi - lo > 1:
                        mid = (lo + hi) // 2
                        if self._offset_now(mid) == offsets[-1]:
                            lo = mid
                        else:
                            hi = mid
                    transitions.append(hi)
                    offsets.append(offset)
                before = after
            self._table = (
                start, end, transitions, offsets, np.asarray(transitions, np.int64), np.asarray(offsets, np.int64),
            )  # fmt: skip
            self._years = (first, last)

    def offset(self, epoch_s: int) -> int:
        """The UTC offset [s] at instant ``epoch_s`` [s since the epoch, UTC]."""
        start, end, transitions, offsets, _, _ = self._table
        if not start <= epoch_s < end:
            self._cover(epoch_s, epoch_s)
            start, end, transitions, offsets, _, _ = self._table
        return offsets[bisect.bisect_right(transitions, epoch_s)]

    def offsets(self, epoch_s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The UTC offsets [s] at each instant of ``epoch_s`` [s since the epoch, UTC]."""
        if epoch_s.size == 0:
            return np.zeros(epoch_s.shape, np.int64)
        start, end, _, _, transitions, offsets = self._table
        lo, hi = int(epoch_s.min()), int(epoch_s.max())
        if lo < start or hi >= end:
            self._cover(lo, hi)
            start, end, _, _, transitions, offsets = self._table
        return offsets[np.searchsorted(transitions, epoch_s, side="right")]

    def transitions(self, lo_s: int, hi_s: int) -> list[int]:
        """The instants in ``(lo_s, hi_s]`` [s] at which the offset changes (each is the first second
        of the new offset)."""
        start, end, transitions, _, _, _ = self._table
        if lo_s < start or hi_s >= end:
            self._cover(lo_s, hi_s)
            start, end, transitions, _, _, _ = self._table
        return transitions[bisect.bisect_right(transitions, lo_s) : bisect.bisect_right(transitions, hi_s)]


@cache
def zone_offsets(name: str) -> ZoneOffsets:
    """The shared :class:`ZoneOffsets` of IANA zone ``name``; raises ValueError if unknown."""
    return ZoneOffsets(name)


# --- interval boundaries on the local clock -----------------------------------------------------


def _is_jump_over(zone_offsets: ZoneOffsets, transition_s: int, interval_s: int) -> bool:
    """Whether the local clock jumps forward at ``transition_s`` onto or over a multiple of ``interval_s``
    (a local midnight that a spring-forward at 00:00 skips: the day then starts at the jump)."""
    before = transition_s - 1 + zone_offsets.offset(transition_s - 1)
    after = transition_s + zone_offsets.offset(transition_s)
    return after // interval_s > before // interval_s


def next_boundary(epoch_s: int, interval_s: int, tz: str) -> int:
    """The first instant at or after ``epoch_s`` [s] at which the local clock of zone ``tz`` shows a whole
    multiple of ``interval_s`` [s] (for a day: local midnight, or the first second of a day whose
    midnight a DST jump skips).

    ``interval_s`` should divide 86400, so that the boundaries fall on the same local times every day.
    """
    offsets = zone_offsets(tz)
    t = epoch_s
    while True:
        offset = offsets.offset(t)
        candidate = t + (-(t + offset)) % interval_s
        changes = offsets.transitions(t, candidate)
        if not changes:
            return candidate
        if _is_jump_over(offsets, changes[0], interval_s):
            return changes[0]
        t = changes[0]  # no boundary before the change: look on from it, at the new offset


def previous_boundary(epoch_s: int, interval_s: int, tz: str) -> int:
    """The last instant at or before ``epoch_s`` [s] at which the local clock of zone ``tz`` shows a whole
    multiple of ``interval_s`` [s]: the start of the local interval that holds ``epoch_s``.

    See :func:`next_boundary`.
    """
    offsets = zone_offsets(tz)
    t = epoch_s
    while True:
        offset = offsets.offset(t)
        candidate = t - (t + offset) % interval_s
        changes = offsets.transitions(candidate, t)
        if not changes:
            return candidate
        if _is_jump_over(offsets, changes[-1], interval_s):
            return changes[-1]
        t = changes[-1] - 1  # no boundary after the change: look back from before it, at the old offset
