"""Daily load shapes: resampling a 24-knot curve that is linear between knots at the middle of each hour."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.calendar import SATURDAY, SUNDAY_HOLIDAY, WEEKDAY
from metersim.model.shapes import (
    COOKING,
    DAY_WEIGHTS,
    ELECTRICITY,
    HEATING,
    HOT_WATER,
    electricity_shape,
    fixed_shape,
    resample,
)

INTERVALS = [30, 60, 300, 600, 900, 1800, 3600, 7200, 21600, 86400]
CURVES = [tuple(c) for c in (HOT_WATER, COOKING, HEATING)] + [
    tuple(curve) for profile in ELECTRICITY.values() for curve in profile.values()
]


@pytest.mark.parametrize("interval_s", INTERVALS)
def test_every_resampled_curve_has_one_factor_per_interval_and_mean_one(interval_s):
    for curve in CURVES:
        factors = resample(curve, interval_s)
        assert factors.shape == (86400 // interval_s,)
        assert factors.mean() == pytest.approx(1.0, abs=1e-12)
        assert (factors > 0).all()


def test_hourly_factors_are_the_mean_of_the_linear_curve_over_each_hour():
    # Over hour h the curve runs from (k[h-1] + k[h]) / 2 at h:00 through k[h] at h:30 to (k[h] + k[h+1]) / 2,
    # so its mean is (k[h-1] + 6 k[h] + k[h+1]) / 8; normalised, the day's mean of that is mean(k).
    for curve in CURVES:
        k = np.array(curve)
        expected = (np.roll(k, 1) + 6 * k + np.roll(k, -1)) / 8 / k.mean()
        np.testing.assert_allclose(resample(curve, 3600), expected, rtol=1e-12)


def test_half_hourly_factors_weigh_the_nearer_knot_three_to_one():
    for curve in CURVES:
        k = np.array(curve)
        first_half = (0.25 * np.roll(k, 1) + 0.75 * k) / k.mean()  # [h:00, h:30)
        second_half = (0.75 * k + 0.25 * np.roll(k, -1)) / k.mean()  # [h:30, h+1:00)
        expected = np.column_stack([first_half, second_half]).ravel()
        np.testing.assert_allclose(resample(curve, 1800), expected, rtol=1e-12)


def test_a_flat_curve_stays_flat_and_a_daily_interval_is_one():
    np.testing.assert_array_equal(resample((2.0,) * 24, 900), np.ones(96))
    assert resample(tuple(HOT_WATER), 86400).tolist() == [1.0]


def test_finer_intervals_average_to_the_coarser_ones():
    for curve in CURVES:
        fine = resample(curve, 300)
        np.testing.assert_allclose(fine.reshape(24, 12).mean(axis=1), resample(curve, 3600), rtol=1e-12)


def test_the_household_evening_peak_and_night_trough_survive_resampling():
    weekday = electricity_shape("household", WEEKDAY, 900)
    peak_hour = int(np.argmax(weekday)) // 4
    trough_hour = int(np.argmin(weekday)) // 4
    assert 18 <= peak_hour <= 20  # 19:00-20:00 is the highest knot (1.80)
    assert 2 <= trough_hour <= 4  # 03:00 is the lowest knot (0.44)
    commercial = electricity_shape("commercial", WEEKDAY, 3600)
    assert commercial[9:17].min() > 1.0 > commercial[0:6].max()  # office hours above the mean, nights below


def test_shapes_are_shared_and_read_only():
    shape = fixed_shape(HEATING, 900)
    assert fixed_shape(HEATING, 900) is shape
    with pytest.raises(ValueError):
        shape[0] = 5.0


def test_day_type_weights_rank_the_days_as_documented():
    household = DAY_WEIGHTS["household"]
    assert household[SUNDAY_HOLIDAY] > household[SATURDAY] > household[WEEKDAY]  # people are at home
    commercial = DAY_WEIGHTS["commercial"]
    assert commercial[WEEKDAY] > commercial[SATURDAY] > commercial[SUNDAY_HOLIDAY]  # offices close
