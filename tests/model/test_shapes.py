"""Daily load shapes: resampling a 24-knot curve that is linear between knots at the middle of each hour."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.calendar import SATURDAY, SUMMER, SUNDAY_HOLIDAY, WEEKDAY, WINTER
from metersim.model.shapes import (
    COOKING,
    DAY_WEIGHTS,
    ELECTRICITY,
    HEATING,
    HOT_WATER,
    PROFILES,
    day_energy,
    electricity_shape,
    fixed_shape,
    resample,
    seasonal_shape,
    shape_table,
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


def test_day_energies_rank_the_days_as_bdew_does():
    # H0 (households): Saturday above Sunday above a workday, in every season (BDEW table means);
    # G0 (commerce): workday above Saturday above Sunday. The ratios below were read off the published
    # tables (demandlib 0.2.2 selp_series.csv): Sat/WD 1.08-1.13 and Sun/WD 1.01-1.05 for H0.
    household = day_energy("household")
    for season in range(3):
        assert household[season, SATURDAY] > household[season, SUNDAY_HOLIDAY] > household[season, WEEKDAY] == 1.0
        assert 1.07 < household[season, SATURDAY] < 1.14 and 1.0 < household[season, SUNDAY_HOLIDAY] < 1.06
    commercial = day_energy("commercial")
    assert (commercial[:, WEEKDAY] > commercial[:, SATURDAY]).all()
    assert (commercial[:, SATURDAY] > commercial[:, SUNDAY_HOLIDAY]).all()
    # G0's own seasonality: winter workdays above summer workdays by about 9 % (not the households')
    assert commercial[0, WEEKDAY] / commercial[1, WEEKDAY] == pytest.approx(1.09, abs=0.01)
    agricultural = day_energy("agricultural")
    assert agricultural[0].tolist() == [DAY_WEIGHTS["agricultural"][d] for d in (WEEKDAY, SATURDAY, SUNDAY_HOLIDAY)]


def test_every_profile_has_a_mean_one_shape_per_season_and_day_type():
    for profile in PROFILES:
        table = shape_table(profile, 900)
        assert table.shape == (3, 3, 96)
        np.testing.assert_allclose(table.mean(axis=2), 1.0, rtol=1e-12)
        assert (table > 0).all()


def test_household_summer_evenings_peak_lower_than_winter_evenings_as_in_h0():
    winter = seasonal_shape("household", WINTER, WEEKDAY, 900)
    summer = seasonal_shape("household", SUMMER, WEEKDAY, 900)
    assert summer.max() < winter.max()  # long summer evenings need less light
