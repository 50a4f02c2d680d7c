"""SigLinDe against the published coefficients and hand-worked arithmetic.

Oracle: BDEW / VKU / GEODE, "Leitfaden Abwicklung von Standardlastprofilen Gas", 30 June 2016,
Anlage, SigLinDe "Ausprägung 33", pp. 133-134, typed in here by hand:
HEF33 (single-family home) and HMF33 (multi-family house), T0 = 40 degC.
"""

from __future__ import annotations

import numpy as np
import pytest

from metersim.model.siglinde import BY_BUILDING_CLASS, HEF33, HMF33, weekday_of

#            A          B            C          D          mH          bH         mW          bW
PUBLISHED = {
    "HEF33": (1.6209544, -37.1833141, 5.6727847, 0.0716431, -0.0495700, 0.8401015, -0.0022090, 0.1074468),
    "HMF33": (1.2328655, -34.7213605, 5.8164304, 0.0873352, -0.0409284, 0.7672920, -0.0022320, 0.1199207),
}


def h_by_hand(name: str, t: float) -> float:
    a, b, c, d, m_h, b_h, m_w, b_w = PUBLISHED[name]
    return a / (1 + (b / (t - 40)) ** c) + d + max(m_h * t + b_h, m_w * t + b_w)


@pytest.mark.parametrize("profile", [HEF33, HMF33])
def test_the_coefficients_are_the_published_ones(profile):
    got = (profile.a, profile.b, profile.c, profile.d, profile.m_h, profile.b_h, profile.m_w, profile.b_w)
    assert got == PUBLISHED[profile.name]
    assert profile.weekday_factors == (1.0,) * 7  # households: no weekday effect in the guide


def test_building_classes_map_to_the_household_profiles():
    assert BY_BUILDING_CLASS == {"EFH": HEF33, "MFH": HMF33}


@pytest.mark.parametrize("profile", [HEF33, HMF33])
@pytest.mark.parametrize("t", [-15.0, -10.0, -2.5, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0])
def test_h_matches_the_formula_by_hand(profile, t):
    assert float(profile.h(t)) == pytest.approx(h_by_hand(profile.name, t), rel=1e-12)


def test_hand_worked_values_of_hef33():
    # -10 degC: B/(T-40) = 0.743667; ^C = 0.186 -> sigmoid 1.3663; H line 1.3358 > W line 0.1295
    assert float(HEF33.h(-10.0)) == pytest.approx(1.36632 + 0.0716431 + 1.3358015, abs=2e-4)
    # 25 degC: the sigmoid is nearly spent (0.0093) and the warm-water line wins: 0.0522243
    assert float(HEF33.h(25.0)) == pytest.approx(0.00935 + 0.0716431 + 0.0522218, abs=2e-4)


@pytest.mark.parametrize("profile", [HEF33, HMF33])
def test_split_is_heating_plus_the_warm_water_base(profile):
    t = np.linspace(-20, 35, 221)
    heating, base = profile.split(t)
    np.testing.assert_allclose(heating + base, [h_by_hand(profile.name, x) for x in t], rtol=1e-12)
    d, m_w, b_w = (PUBLISHED[profile.name][i] for i in (3, 6, 7))
    np.testing.assert_allclose(base, d + m_w * t + b_w, rtol=1e-12)
    assert (heating >= 0).all() and (np.diff(heating) < 0).all() and (np.diff(heating + base) < 0).all()
    assert float(profile.split(25.0)[0]) < 0.02 < 1.0 < float(profile.split(-5.0)[0])


def test_winter_over_summer_is_an_order_of_magnitude():
    # 0 degC against 25 degC: about 14x for a single-family home
    assert h_by_hand("HEF33", 0.0) / h_by_hand("HEF33", 25.0) == pytest.approx(14.2, abs=0.2)
    assert float(HEF33.h(0.0) / HEF33.h(25.0)) == pytest.approx(14.2, abs=0.2)


def test_weekday_of_local_days():
    assert int(weekday_of(0)) == 3  # 1970-01-01 was a Thursday
    assert int(weekday_of(20458)) == 0  # 2026-01-05 is a Monday (20458 days after the epoch)
    np.testing.assert_array_equal(weekday_of(np.arange(20458, 20465)), np.arange(7))
