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
    parse_duration,
    parse_instant,
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
