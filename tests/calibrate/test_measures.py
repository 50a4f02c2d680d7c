"""The fidelity metrics on small synthetic series whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metersim.calibrate import measures as m


def test_pearson_of_a_line_and_its_mirror() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert m.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert m.pearson(x, -x) == pytest.approx(-1.0)
    assert math.isnan(m.pearson(x, np.ones(4)))  # a flat series has no correlation


def test_pearson_hand_worked() -> None:
    # x = 1,2,3; y = 1,3,2: deviations (-1,0,1) and (-1,1,0): sum of products 1, sums of squares 2 and 2 -> r = 1/2
    assert m.pearson(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)


def test_shape_agreement_ignores_scale() -> None:
    ref = np.array([1.0, 2.0, 3.0, 2.0])
    r, mad = m.shape_agreement(10 * ref, ref)
    assert (r, mad) == (pytest.approx(1.0), pytest.approx(0.0))


def test_shape_agreement_hand_worked_deviation() -> None:
    # ours 1,1,1,1 (mean 1); reference 0,2,0,2 (mean 1): |1-0|, |1-2|, ... = 1 each -> MAD 1.0 of the daily mean
    r, mad = m.shape_agreement(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.0, 2.0, 0.0, 2.0]))
    assert math.isnan(r) and mad == pytest.approx(1.0)
    # ours 2,4 (mean 3: 2/3, 4/3); reference 1,1 -> deviations 1/3 and 1/3
    assert m.shape_agreement(np.array([2.0, 4.0]), np.array([1.0, 1.0]))[1] == pytest.approx(1 / 3)


def test_cell_profiles_means_per_cell_and_slot() -> None:
    fleet = np.array([1.0, 3.0, 5.0, 7.0, 2.0, 4.0])
    cell = np.array([0, 0, 0, 0, 1, 1])
    slot = np.array([0, 1, 0, 1, 0, 1])
    means, counts = m.cell_profiles(fleet, cell, slot, 2, 2)
    assert means.tolist() == [[3.0, 5.0], [2.0, 4.0]]
    assert counts.tolist() == [[2, 2], [1, 1]]


def test_daily_totals_keep_full_days_only() -> None:
    # hourly values: day 10 has 24 h (each 1), day 11 has 23 h (DST: each 2), day 12 only 5 h
    day = np.array([10] * 24 + [11] * 23 + [12] * 5)
    values = np.array([1.0] * 24 + [2.0] * 23 + [3.0] * 5)
    days, sums = m.daily_totals(values, day, 3600)
    assert days.tolist() == [10, 11] and sums.tolist() == [24.0, 46.0]


def test_day_type_ratios() -> None:
    # workdays 10 and 12 (mean 11), Saturday 12.1, Sunday 11.55 -> 1.1 and 1.05
    daily = np.array([10.0, 12.0, 12.1, 11.55])
    sat, sun = m.day_type_ratios(daily, np.array([0, 0, 1, 2]))
    assert sat == pytest.approx(1.1) and sun == pytest.approx(1.05)


def test_month_ratio_january_over_july() -> None:
    daily = np.array([6.0, 8.0, 1.0, 3.0, 100.0])
    assert m.month_ratio(daily, np.array([1, 1, 7, 7, 4])) == pytest.approx(7.0 / 2.0)
    assert math.isnan(m.month_ratio(daily, np.array([1, 1, 2, 2, 4])))  # no July


def test_coincidence_factor_hand_worked() -> None:
    # two homes that peak at different times: group peak 5 (t=1: 4+1 or t=2: 1+4), sum of peaks 4+4 = 8
    load = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 4.0]])
    assert m.coincidence_factor(load) == pytest.approx(5.0 / 8.0)
    assert m.coincidence_factor(np.array([[1.0, 2.0], [3.0, 6.0]])) == pytest.approx(1.0)  # peak together


def test_individual_to_fleet() -> None:
    # two days of 3 slots; meter 0 follows the fleet shape, meter 1 is its mirror
    slot = np.array([0, 1, 2, 0, 1, 2])
    a = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    load = np.stack([a, 4 - a, 2 * a], axis=1)  # fleet mean per slot: (1+3+2)/3, (2+2+4)/3, (3+1+6)/3 = 2, 8/3, 10/3
    profiles = m.meter_profiles(load, slot, 3)
    assert profiles[:, 1].tolist() == [3.0, 2.0, 1.0]
    r = m.individual_to_fleet(load, slot, 3)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0) and r[2] == pytest.approx(1.0)


def test_linear_fit_and_seasons() -> None:
    slope, intercept = m.linear_fit(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    assert (slope, intercept) == (pytest.approx(2.0), pytest.approx(1.0))
    assert m.meteorological_seasons(np.arange(1, 13)).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0]


def test_zero_share() -> None:
    assert m.zero_share(np.array([0, 1, 0, 2])) == 0.5
