from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from metersim.timebase import (
    format_duration,
    iso_local,
    local_month,
    local_months,
    local_year,
    next_boundary,
    parse_duration,
    parse_instant,
    previous_boundary,
    utc_offset_s,
    utc_offsets_s,
    year_days,
    zone_offsets,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1d12h", 129600),
        ("3600", 3600),
        (60, 60),
        ("1w", 604800),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "1x", "d", "-5m", "0s", 0, True, "1d junk"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_roundtrip():
    assert format_duration(93784) == "1d2h3m4s"
    assert parse_duration(format_duration(93784)) == 93784


def test_parse_instant_needs_offset():
    assert parse_instant("2026-01-01T00:00:00+05:00") == parse_instant("2025-12-31T19:00:00Z")
    with pytest.raises(ValueError, match="offset"):
        parse_instant("2026-01-01T00:00:00")


def test_local_iso_follows_dst():
    winter = parse_instant("2026-01-15T12:00:00Z")
    summer = parse_instant("2026-07-15T12:00:00Z")
    assert iso_local(winter, "Europe/Amsterdam") == "2026-01-15T13:00:00+01:00"
    assert iso_local(summer, "Europe/Amsterdam") == "2026-07-15T14:00:00+02:00"
    assert utc_offset_s("Asia/Karachi", summer) == 5 * 3600


@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Europe/London", "America/Santiago", "Australia/Lord_Howe"])
def test_zone_offsets_match_zoneinfo(tz: str) -> None:
    instants = np.random.default_rng(7).integers(parse_instant("2019-01-01T00:00:00Z"), 2_000_000_000, 3000)
    offsets = zone_offsets(tz)
    zone = ZoneInfo(tz)
    expected = [int(datetime.fromtimestamp(int(t), zone).utcoffset().total_seconds()) for t in instants]
    assert offsets.offsets(instants).tolist() == expected
    assert [offsets.offset(int(t)) for t in instants] == expected
    assert utc_offsets_s(tz, instants.reshape(100, 30)).reshape(-1).tolist() == expected


def test_the_local_calendar_agrees_with_datetime() -> None:
    days = np.arange(-800, 30_000, 7)
    for day in days[::50].tolist():
        date = datetime(1970, 1, 1) + timedelta(days=day)
        assert (local_year(day), local_month(day)) == (date.year, date.month)
    months = [(datetime(1970, 1, 1) + timedelta(days=int(d))).month for d in days]
    assert local_months(days).tolist() == months
    assert len(year_days(2024)) == 366 and len(year_days(2026)) == 365


# --- interval boundaries on the local clock ----------------------------------------------------


def boundaries(moment: str, interval_s: int, tz: str) -> tuple[str, str]:
    """The (previous, next) boundary around ``moment``, on the zone's clock."""
    at = parse_instant(moment)
    return iso_local(previous_boundary(at, interval_s, tz), tz), iso_local(next_boundary(at, interval_s, tz), tz)


@pytest.mark.parametrize(
    ("moment", "interval_s", "tz", "previous", "next_"),
    [
        # quarter-hours and hours fall on the same instants in UTC and in whole-hour zones
        ("2026-07-06T10:20:30Z", 900, "UTC", "2026-07-06T10:15:00+00:00", "2026-07-06T10:30:00+00:00"),
        ("2026-07-06T10:20:30Z", 3600, "Asia/Karachi", "2026-07-06T15:00:00+05:00", "2026-07-06T16:00:00+05:00"),
        # a day is local midnight, not UTC midnight
        ("2026-07-06T10:20:00Z", 86400, "Asia/Karachi", "2026-07-06T00:00:00+05:00", "2026-07-07T00:00:00+05:00"),
        ("2026-07-06T20:00:00Z", 86400, "Asia/Tashkent", "2026-07-07T00:00:00+05:00", "2026-07-08T00:00:00+05:00"),
        # a zone 45 minutes off the hour: hours on its own clock
        ("2026-07-06T10:20:00+05:45", 3600, "Asia/Kathmandu", "2026-07-06T10:00:00+05:45", "2026-07-06T11:00:00+05:45"),
        # the spring-forward day has 23 hours, the fall-back day 25: midnight is always local midnight
        (
            "2026-03-29T12:00:00+02:00",
            86400,
            "Europe/Amsterdam",
            "2026-03-29T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
        ),
        (
            "2026-10-25T12:00:00+01:00",
            86400,
            "Europe/Amsterdam",
            "2026-10-25T00:00:00+02:00",
            "2026-10-26T00:00:00+01:00",
        ),
        # across the jump itself: 02:00 CET is 03:00 CEST; the repeated hour of October has both 02:00s
        (
            "2026-03-29T01:30:00+01:00",
            3600,
            "Europe/Amsterdam",
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T03:00:00+02:00",
        ),
        (
            "2026-10-25T02:30:00+02:00",
            3600,
            "Europe/Amsterdam",
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00",
        ),
        # Havana springs forward at midnight: that day starts at 01:00, the jump
        (
            "2026-03-08T12:00:00-04:00",
            86400,
            "America/Havana",
            "2026-03-08T01:00:00-04:00",
            "2026-03-09T00:00:00-04:00",
        ),
        (
            "2026-03-07T12:00:00-05:00",
            86400,
            "America/Havana",
            "2026-03-07T00:00:00-05:00",
            "2026-03-08T01:00:00-04:00",
        ),
    ],
)
def test_boundaries_are_on_the_local_clock(moment, interval_s, tz, previous, next_):
    assert boundaries(moment, interval_s, tz) == (previous, next_)


@pytest.mark.parametrize(("interval_s", "tz"), [(900, "UTC"), (86400, "Asia/Karachi"), (86400, "Europe/Amsterdam")])
def test_a_boundary_is_its_own_previous_and_next_boundary(interval_s, tz):
    for moment in ("2026-01-10T12:34:56Z", "2026-03-29T12:00:00Z", "2026-10-25T12:00:00Z"):
        start = previous_boundary(parse_instant(moment), interval_s, tz)
        assert previous_boundary(start, interval_s, tz) == next_boundary(start, interval_s, tz) == start
        assert next_boundary(start + 1, interval_s, tz) > start
        assert previous_boundary(start - 1, interval_s, tz) < start


def test_every_local_midnight_of_a_year_in_a_dst_zone():
    """Stepping from one local midnight to the next visits each day once: 23- and 25-hour days included."""
    tz, day = "Europe/Amsterdam", parse_instant("2026-01-01T00:00:00+01:00")
    lengths = []
    for _ in range(365):
        following = next_boundary(day + 1, 86400, tz)
        assert iso_local(following, tz).endswith("T00:00:00" + iso_local(following, tz)[-6:])
        lengths.append(following - day)
        day = following
    assert iso_local(day, tz) == "2027-01-01T00:00:00+01:00"
    assert sorted(set(lengths)) == [23 * 3600, 24 * 3600, 25 * 3600]
    assert lengths.count(23 * 3600) == lengths.count(25 * 3600) == 1
