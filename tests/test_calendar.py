"""Day types: weekday / Saturday / Sunday-or-holiday, vectorised and scalar, with public holidays."""

from __future__ import annotations

import datetime as dt
import typing

import holidays
import numpy as np
import pytest

from metersim import calendar
from metersim.calendar import SATURDAY, SUNDAY_HOLIDAY, WEEKDAY, day_type, day_types, holiday_dates
from metersim.config import DayType

EPOCH = dt.date(1970, 1, 1)


def local_day(date: dt.date) -> int:
    return (date - EPOCH).days


def test_names_match_the_config_literal() -> None:
    assert typing.get_args(DayType) == calendar.DAY_TYPE_NAMES
    assert (calendar.DAY_TYPE_NAMES[WEEKDAY], calendar.DAY_TYPE_NAMES[SATURDAY]) == ("weekday", "saturday")
    assert calendar.DAY_TYPE_NAMES[SUNDAY_HOLIDAY] == "sunday_holiday"


def test_holiday_dates() -> None:
    nl = holiday_dates("NL", 2026)
    assert dt.date(2026, 4, 27) in nl  # King's Day
    assert dt.date(2026, 12, 25) in nl
    assert dt.date(2026, 4, 28) not in nl
    assert dt.date(2026, 8, 14) in holiday_dates("PK", 2026)  # Independence Day
    assert holiday_dates(None, 2026) == frozenset()
    assert holiday_dates("NL", 2026) is nl  # cached


def test_unknown_country_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="unknown country code 'XX'"):
        holiday_dates("XX", 2026)
    with pytest.raises(ValueError, match="unknown country code"):
        day_types(np.array([0]), "XX")


@pytest.mark.parametrize(
    ("date", "country", "expected"),
    [
        (dt.date(1970, 1, 1), None, WEEKDAY),  # a Thursday
        (dt.date(1969, 12, 27), None, SATURDAY),  # before the epoch: negative local days
        (dt.date(1969, 12, 28), None, SUNDAY_HOLIDAY),
        (dt.date(2026, 4, 25), "NL", SATURDAY),
        (dt.date(2026, 4, 26), "NL", SUNDAY_HOLIDAY),
        (dt.date(2026, 4, 27), "NL", SUNDAY_HOLIDAY),  # King's Day, a Monday
        (dt.date(2026, 4, 27), None, WEEKDAY),  # no country, no holidays
        (dt.date(2026, 4, 28), "NL", WEEKDAY),
        (dt.date(2026, 8, 14), "PK", SUNDAY_HOLIDAY),  # a Friday
        (dt.date(2026, 8, 15), "PK", SATURDAY),  # Pakistan's weekend is Sat/Sun; same rule everywhere
        (dt.date(2026, 12, 26), "NL", SUNDAY_HOLIDAY),  # a holiday on a Saturday wins
    ],
)
def test_known_days(date: dt.date, country: str | None, expected: int) -> None:
    assert day_type(local_day(date), country) == expected
    assert day_types(np.array([local_day(date)]), country).tolist() == [expected]


@pytest.mark.parametrize("country", [None, "NL", "PK", "UZ", "GB"])
def test_matches_a_datetime_oracle_over_years(country: str | None) -> None:
    first, last = dt.date(2018, 12, 25), dt.date(2031, 1, 5)
    days = np.arange(local_day(first), local_day(last) + 1)
    got = day_types(days, country)
    assert got.dtype == np.int8
    public = set(holidays.country_holidays(country, years=range(2018, 2032))) if country else set()
    for day, value in zip(days.tolist(), got.tolist()):
        date = EPOCH + dt.timedelta(days=day)
        is_holiday = date in public
        if date.weekday() == 6 or is_holiday:
            expected = SUNDAY_HOLIDAY
        elif date.weekday() == 5:
            expected = SATURDAY
        else:
            expected = WEEKDAY
        assert value == expected, date
        assert day_type(day, country) == expected


def test_shape_is_kept_and_empty_is_fine() -> None:
    days = np.array([[local_day(dt.date(2026, 4, 25)), local_day(dt.date(2026, 4, 27))]] * 3)
    assert day_types(days, "NL").shape == (3, 2)
    assert day_types(days, "NL")[0].tolist() == [SATURDAY, SUNDAY_HOLIDAY]
    assert day_types(np.zeros(0, dtype=np.int64), "NL").shape == (0,)


def test_table_grows_both_ways() -> None:
    # Query a late year first and then an earlier one, so the cached table must extend backwards.
    assert day_type(local_day(dt.date(2040, 1, 1)), "NL") == SUNDAY_HOLIDAY
    assert day_type(local_day(dt.date(2001, 4, 30)), "NL") == SUNDAY_HOLIDAY  # Queen's Day then
    spread = np.array([local_day(dt.date(1995, 1, 2)), local_day(dt.date(2045, 1, 2))])
    assert day_types(spread, "NL").tolist() == [WEEKDAY, WEEKDAY]
