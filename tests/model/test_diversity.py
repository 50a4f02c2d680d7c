"""Household diversity: single homes are spiky and different, fleets are smooth and keep their shape.

Coincidence factor = the group's highest 15-minute load / the sum of each home's highest 15-minute
load over the same period (IEEE/Willis, "Power Distribution Planning Reference Book", 2004, ch. 3).
"""

from __future__ import annotations

import numpy as np
import pytest

from metersim.model.appliances import ARCHETYPES, DiversityParams, Households, balanced_curves, event_kwh
from metersim.streams import MeterRange
from tests.model.test_bdew import run_group


@pytest.fixture(scope="module")
def lahore_july():
    loads, local, _ = run_group(
        {"count": 100, "timezone": "Asia/Karachi", "annual_kwh": 2400}, "2026-07-01T00:00:00+05:00", 28
    )
    return loads, local


def test_homes_have_their_own_daily_profiles(lahore_july):
    loads, local = lahore_july
    slot = (local % 86400) // 900
    profiles = np.stack([np.bincount(slot, weights=loads[:, i], minlength=96) for i in range(loads.shape[1])])
    fleet = profiles.mean(axis=0)
    r = [np.corrcoef(p, fleet)[0, 1] for p in profiles]
    assert np.median(r) <= 0.8


def test_a_hundred_homes_peak_together_at_a_fraction_of_their_own_peaks(lahore_july):
    loads, _ = lahore_july
    coincidence = loads.sum(axis=1).max() / loads.max(axis=0).sum()
    assert 0.15 <= coincidence <= 0.45
    assert np.median(loads.max(axis=0)) * 4 > 2.0  # single homes reach several kW in a quarter hour


def test_archetype_curves_keep_each_homes_energy_and_the_fleets_shape():
    shares = np.array([share for share, _ in ARCHETYPES.values()])
    curves = balanced_curves(shares, 900)
    np.testing.assert_allclose(curves.mean(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(shares @ curves, 1.0, atol=1e-12)
    assert curves[list(ARCHETYPES).index("away_by_day"), 40:60].max() < 1  # empty at 10:00-15:00


def test_the_personal_rhythm_keeps_each_meters_daily_mean_and_a_flat_fleet_mean():
    n = 4096
    h = Households(DiversityParams(), 5, 9, MeterRange.whole(n), 900, np.zeros(n, dtype=np.int64))
    h.archetype[:] = list(ARCHETYPES).index("home_by_day")
    h.archetype_curves[:] = 1.0  # the rhythm alone
    rhythm = np.stack([h.modulation(s, np.full(n, s)) for s in range(96)])
    np.testing.assert_allclose(rhythm.mean(axis=0), 1.0, rtol=1e-4)  # each meter's own mean
    assert np.abs(rhythm.mean(axis=1) - 1).max() < 0.05  # the fleet's mean: flat, to sampling error
    assert rhythm.std(axis=1).mean() > 0.2  # while each home differs


def test_events_are_poisson_counts_of_the_tabled_energies():
    # Poisson(0.1): P(0) = e^-0.1 = 0.9048, P(1) = 0.0905, P(2+) = 0.0047 (capped at 2 here)
    h = Households(DiversityParams(), 5, 9, MeterRange.whole(10), 900, np.zeros(10, dtype=np.int64))
    rng = np.random.default_rng(0)
    energy = h.events_kwh(rng, np.full(200_000, 0.1))
    assert (energy > 0).mean() == pytest.approx(1 - np.exp(-0.1), abs=0.003)
    cum, kwh = event_kwh(900)
    # kettle 2 kW x 3 min = 0.1 kWh, hob 1.5 kW x 15 min = 0.375, washing 2 kW x 10 min, pump 0.75 kW x 15 min
    np.testing.assert_allclose(kwh, [0.1, 0.375, 2 / 6, 0.1875])
    assert energy.mean() == pytest.approx(0.1 * np.diff(cum, prepend=0) @ kwh, rel=0.03)
