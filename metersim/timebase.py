"""The integer clock: seconds since the Unix epoch (UTC), durations, and local-time helpers.

Local time is computed from IANA zones only where it is needed (timestamps on the wire, shapes by
local hour); everything else stays in integer UTC seconds.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def now_floored(step_s: int) -> int:
    """The current epoch second, floored to a multiple of ``step_s`` [s]."""
    now = int(time.time())
    return now - now % step_s


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


def utc_offset_s(tz: str, epoch_s: int) -> int:
    """The UTC offset [s] of zone ``tz`` at instant ``epoch_s``."""
    offset = datetime.fromtimestamp(epoch_s, zone(tz)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def iso_local(epoch_s: int, tz: str) -> str:
    """ISO 8601 with the zone's offset at that instant, e.g. ``2026-01-01T00:15:00+05:00``."""
    offset = utc_offset_s(tz, epoch_s)
    local = datetime.fromtimestamp(epoch_s, timezone(timedelta(seconds=offset)))
    return local.isoformat()


def iso_utc(epoch_s: int) -> str:
    """ISO 8601 in UTC, e.g. ``2026-01-01T00:15:00+00:00``."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat()
