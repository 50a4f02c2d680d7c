"""Tariff bands by local time at the interval start: NEPRA TOU, Economy 7 in GMT, Dutch two-band over DST."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from metersim.config import Tariff
from metersim.tariffs import BandSchedule
from metersim.timebase import parse_instant

QUARTER = 900

NEPRA = Tariff.model_validate(
    {
        "currency": "PKR",
        "bands": [
            {
                "name": "peak",
                "windows": [
                    {"start": "17:00", "end": "21:00", "months": [12, 1, 2]},
                    {"start": "18:00", "end": "22:00", "months": [3, 4, 5]},
                    {"start": "19:00", "end": "23:00", "months": [6, 7, 8]},
                    {"start": "18:00", "end": "22:00", "months": [9, 10, 11]},
                ],
            },
            {"name": "off_peak"},
        ],
        "prices": {"peak": 49.35, "off_peak": 33.02},
    }
)


def economy7(timezone: str | None) -> Tariff:
    return Tariff.model_validate(
        {
            "currency": "GBP",
            "timezone": timezone,
            "bands": [{"name": "night", "windows": [{"start": "00:00", "end": "07:00"}]}, {"name": "day"}],
            "prices": {"night": 0.15, "day": 0.30},
        }
    )


def dutch(weekend_low: bool) -> Tariff:
    windows: list[dict[str, Any]] = [{"start": "23:00", "end": "07:00"}]
    if weekend_low:
        windows = [
            {"start": "23:00", "end": "07:00", "day_types": ["weekday"]},
            {"start": "00:00", "end": "24:00", "day_types": ["saturday", "sunday_holiday"]},
        ]
    return Tariff.model_validate(
        {
            "currency": "EUR",
            "bands": [{"name": "low", "windows": windows}, {"name": "normal"}],
            "prices": {"low": 0.22, "normal": 0.27},
        }
    )


def band_name(schedule: BandSchedule, instant: str) -> str:
    """The band at an ISO instant, by both the scalar and the array path (which must agree)."""
    epoch = parse_instant(instant)
    scalar = schedule.band_at(epoch)
    assert int(schedule.bands_at(epoch)) == scalar
    assert schedule.bands_at(np.array([epoch, epoch])).tolist() == [scalar, scalar]
    return schedule.band_names[scalar]


# --- NEPRA time of use, Asia/Karachi (UTC+5 all year) -------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-01-15T16:45:00+05:00", "off_peak"),
        ("2026-01-15T17:00:00+05:00", "peak"),
        ("2026-01-15T20:45:00+05:00", "peak"),
        ("2026-01-15T21:00:00+05:00", "off_peak"),
        ("2026-02-28T17:00:00+05:00", "peak"),  # still the Dec-Feb window
        ("2026-03-01T17:00:00+05:00", "off_peak"),  # Mar-May starts an hour later
        ("2026-03-01T18:00:00+05:00", "peak"),
        ("2026-04-10T21:45:00+05:00", "peak"),
        ("2026-04-10T22:00:00+05:00", "off_peak"),
        ("2026-07-15T18:45:00+05:00", "off_peak"),
        ("2026-07-15T19:00:00+05:00", "peak"),
        ("2026-07-15T22:45:00+05:00", "peak"),
        ("2026-07-15T23:00:00+05:00", "off_peak"),
        ("2026-10-01T18:00:00+05:00", "peak"),
        ("2026-10-01T22:00:00+05:00", "off_peak"),
        ("2026-12-01T17:00:00+05:00", "peak"),
        ("2026-12-01T00:00:00+05:00", "off_peak"),
    ],
)
def test_nepra_instants(local: str, expected: str) -> None:
    schedule = BandSchedule.compile(NEPRA, "Asia/Karachi", "PK")
    assert band_name(schedule, local) == expected


def test_nepra_has_four_peak_hours_every_day_of_the_year() -> None:
    schedule = BandSchedule.compile(NEPRA, "Asia/Karachi", "PK")
    start = parse_instant("2026-01-01T00:00:00+05:00")
    bands = schedule.bands_for_window(start, start + 365 * 86400, QUARTER)
    assert bands.dtype == np.int8
    per_day = (bands.reshape(365, 96) == 0).sum(axis=1)
    assert (per_day == 16).all()
    scalar = [schedule.band_at(t) for t in range(start, start + 365 * 86400, QUARTER)]
    assert scalar == bands.tolist()


# --- UK Economy 7: the night is fixed in GMT ------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        # Winter: GMT = local time, night 00:00-07:00 local.
        ("2026-01-14T23:45:00+00:00", "day"),
        ("2026-01-15T00:00:00+00:00", "night"),
        ("2026-01-15T06:45:00+00:00", "night"),
        ("2026-01-15T07:00:00+00:00", "day"),
        # Summer (BST = GMT+1): the same GMT hours are 01:00-08:00 local.
        ("2026-07-15T00:00:00+01:00", "day"),
        ("2026-07-15T00:45:00+01:00", "day"),
        ("2026-07-15T01:00:00+01:00", "night"),
        ("2026-07-15T07:45:00+01:00", "night"),
        ("2026-07-15T08:00:00+01:00", "day"),
    ],
)
def test_economy7_in_gmt(local: str, expected: str) -> None:
    schedule = BandSchedule.compile(economy7("Etc/GMT"), "Europe/London", "GB")
    assert schedule.timezone == "Etc/GMT"
    assert band_name(schedule, local) == expected


def test_economy7_without_its_own_clock_follows_the_meter() -> None:
    schedule = BandSchedule.compile(economy7(None), "Europe/London", "GB")
    assert band_name(schedule, "2026-07-15T00:00:00+01:00") == "night"
    assert band_name(schedule, "2026-07-15T07:00:00+01:00") == "day"


def test_economy7_summer_day_counts() -> None:
    # A BST day has 24 h; night is 01:00-08:00 local = 7 h = 28 quarters.
    start = parse_instant("2026-07-15T00:00:00+01:00")
    bands = BandSchedule.compile(economy7("Etc/GMT"), "Europe/London", "GB").bands_for_window(
        start, start + 86400, QUARTER
    )
    assert bands.tolist() == [1] * 4 + [0] * 28 + [1] * 64


# --- Europe/Amsterdam two-band tariff on both DST change days of 2026 --------------------------


def local_day_window(date: str) -> tuple[int, int]:
    """UTC [start, end) of a local calendar day in Amsterdam [s]."""
    tz = ZoneInfo("Europe/Amsterdam")
    day = dt.date.fromisoformat(date)
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp()), int(end.timestamp())


def wall_clock_oracle(epoch: int, weekend_low: bool) -> str:
    """The expected band from the local wall clock, computed with plain zoneinfo datetimes."""
    local = dt.datetime.fromtimestamp(epoch, ZoneInfo("Europe/Amsterdam"))
    night = local.hour >= 23 or local.hour < 7
    off_day = local.weekday() >= 5 or local.date() == dt.date(2026, 4, 27)
    if weekend_low:
        return "low" if off_day or night else "normal"
    return "low" if night else "normal"


@pytest.mark.parametrize(
    ("date", "weekend_low", "intervals", "low", "normal"),
    [
        # Sunday 29 March: 02:00 -> 03:00, a 23-hour day of 92 quarters; a Sunday is low all day.
        ("2026-03-29", True, 92, 92, 0),
        # Sunday 25 October: 03:00 -> 02:00, a 25-hour day of 100 quarters; low all day.
        ("2026-10-25", True, 100, 100, 0),
        # Same days with low 23:00-07:00 every day, which exercises the wall clock itself:
        # 29 March: 00:00-02:00 (8) + 03:00-07:00 (16) + 23:00-24:00 (4) = 28 low; 07:00-23:00 = 64 normal.
        ("2026-03-29", False, 92, 28, 64),
        # 25 October: 00:00-07:00 with 02:00-03:00 twice = 8 h (32) + 23:00-24:00 (4) = 36 low; 64 normal.
        ("2026-10-25", False, 100, 36, 64),
        # The Mondays after: ordinary weekdays, 00:00-07:00 (28) + 23:00-24:00 (4) = 32 low.
        ("2026-03-30", True, 96, 32, 64),
        ("2026-10-26", True, 96, 32, 64),
        # King's Day, Monday 27 April: a national holiday, low all day; the Tuesday after is ordinary.
        ("2026-04-27", True, 96, 96, 0),
        ("2026-04-28", True, 96, 32, 64),
        ("2026-04-25", True, 96, 96, 0),  # a Saturday
    ],
)
def test_amsterdam_days(date: str, weekend_low: bool, intervals: int, low: int, normal: int) -> None:
    schedule = BandSchedule.compile(dutch(weekend_low), "Europe/Amsterdam", "NL")
    start, end = local_day_window(date)
    starts = np.arange(start, end, QUARTER)
    assert starts.size == intervals
    bands = schedule.bands_for_window(start, end, QUARTER)
    names = [schedule.band_names[b] for b in bands.tolist()]
    assert names == [wall_clock_oracle(int(t), weekend_low) for t in starts]
    assert [schedule.band_names[schedule.band_at(int(t))] for t in starts] == names
    assert (names.count("low"), names.count("normal")) == (low, normal)


def test_dst_boundaries_exactly() -> None:
    schedule = BandSchedule.compile(dutch(False), "Europe/Amsterdam", "NL")
    # 29 March 2026, 01:00 UTC: 02:00 CET becomes 03:00 CEST. The last quarter before is 01:45 local.
    assert band_name(schedule, "2026-03-29T01:45:00+01:00") == "low"
    assert band_name(schedule, "2026-03-29T03:00:00+02:00") == "low"
    assert band_name(schedule, "2026-03-29T06:45:00+02:00") == "low"
    assert band_name(schedule, "2026-03-29T07:00:00+02:00") == "normal"  # 05:00 UTC, not 06:00
    assert band_name(schedule, "2026-10-25T07:00:00+01:00") == "normal"  # 06:00 UTC
    assert band_name(schedule, "2026-10-25T06:45:00+01:00") == "low"


def test_first_band_wins_and_wrapping_windows() -> None:
    tariff = Tariff.model_validate(
        {
            "bands": [
                {"name": "a", "windows": [{"start": "22:00", "end": "02:00"}]},
                {"name": "b", "windows": [{"start": "00:00", "end": "24:00", "months": [1]}]},
                {"name": "rest"},
            ],
            "prices": {"a": 1, "b": 2, "rest": 3},
        }
    )
    schedule = BandSchedule.compile(tariff, "UTC", None)
    assert band_name(schedule, "2026-01-01T01:45:00Z") == "a"  # a and b both match: a is first
    assert band_name(schedule, "2026-01-01T02:00:00Z") == "b"
    assert band_name(schedule, "2026-02-01T02:00:00Z") == "rest"
    assert band_name(schedule, "2026-02-01T22:00:00Z") == "a"


def test_two_dimensional_arrays_keep_their_shape() -> None:
    schedule = BandSchedule.compile(NEPRA, "Asia/Karachi", "PK")
    start = parse_instant("2026-01-15T00:00:00+05:00")
    grid = np.arange(start, start + 86400, QUARTER).reshape(24, 4)
    bands = schedule.bands_at(grid)
    assert bands.shape == (24, 4)
    assert (bands[17:21] == 0).all() and (bands[:17] == 1).all() and (bands[21:] == 1).all()


def test_unknown_names_fail_at_compile() -> None:
    with pytest.raises(ValueError, match="unknown country code"):
        BandSchedule.compile(dutch(True), "Europe/Amsterdam", "XX")
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        BandSchedule.compile(NEPRA, "Mars/Olympus", None)
