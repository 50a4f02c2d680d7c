"""The electricity model with plain parameters (no scenario): annual energy, day types, PV netting.

Day-type ratios are checked against the published BDEW table means (demandlib 0.2.2 selp_series.csv,
read by hand): H0 winter Sat/WD 1.129, Sun/WD 1.051; G0 winter Sat/WD 0.834, Sun/WD 0.486.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from metersim.config import DEFAULT_REGIONS
from metersim.model import solar
from metersim.model.appliances import DiversityParams
from metersim.model.electricity import ElectricityModel, ElectricityParams
from metersim.model.thermal import ThermalParams
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.streams import MeterRange, group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant

HOUR = 3600
START_2026 = parse_instant("2026-01-01T00:00:00+00:00")  # a Thursday
PLAIN = ElectricityParams(
    profile="household", interval_s=HOUR, annual_kwh=3000.0, monthly_factors=(1.0,) * 12, country=None
)


def model(params: ElectricityParams, n: int, *, pv_kwp=None, weather=None, start_s=START_2026) -> ElectricityModel:
    return ElectricityModel(
        params,
        seed=7,
        key=group_key("plain"),
        meters=MeterRange.whole(n),
        scale=np.ones(n),
        shift_slots=np.zeros(n, dtype=np.int64),
        pv=None if pv_kwp is None else pv_systems(pv_kwp, weather, params),
        has_swh=np.zeros(n, dtype=bool),
        weather=weather,
        first_interval=start_s // params.interval_s + 1,
    )


def pv_systems(kwp, weather, params) -> solar.PvSystems:
    rows = np.flatnonzero(kwp > 0)
    k = len(rows)
    return solar.PvSystems(
        rows, kwp[rows], weather, params.pv_performance_ratio, tilt_deg=np.full(k, 20.0),
        azimuth_deg=np.full(k, 180.0), cloud_cell=np.zeros(k, dtype=np.int64), cloud_lag_s=np.zeros(k),
        key=group_key("plain"),
    )  # fmt: skip


def run_utc(params: ElectricityParams, n: int, days: int, start_s: int = START_2026):
    """Per-meter totals [kWh] and the fleet's energy per UTC day [kWh], for meters on UTC clocks."""
    m = model(params, n, start_s=start_s)
    totals = np.zeros(n)
    per_day = np.zeros(days)
    steps = days * SECONDS_PER_DAY // params.interval_s
    for i in range(steps):
        start = start_s + i * params.interval_s
        load = m.step(start, start, start // params.interval_s + 1).load_milli / 1000
        totals += load
        per_day[i * params.interval_s // SECONDS_PER_DAY] += load.sum()
    return totals, per_day


@pytest.fixture(scope="module")
def year():
    return run_utc(PLAIN, 200, 365)


def weekday_of(day_index: int, start_s: int = START_2026) -> int:
    """Monday = 0 of the ``day_index``-th day after ``start_s``; 1970-01-01 was a Thursday (3)."""
    return (start_s // SECONDS_PER_DAY + day_index + 3) % 7


def test_a_scale_one_meter_uses_its_annual_kwh_over_a_year(year):
    totals, _ = year
    # 2026 has 365 of the 365.2425 days the annual figure is spread over
    expected = 3000.0 * 365 / 365.2425
    assert totals.mean() == pytest.approx(expected, rel=0.01)
    # each meter on its own (no personal rhythm): the interval noise averages out over 8760 hours
    smooth, _ = run_utc(replace(PLAIN, diversity=DiversityParams(enabled=False)), 50, 365)
    assert np.abs(smooth / expected - 1).max() < 0.06


def winter_ratios(per_day, start_s=START_2026):
    """Saturday/weekday and Sunday/weekday energy over the days before 20 March (BDEW winter)."""
    by_type = defaultdict(list)
    for d, energy in enumerate(per_day[:78]):
        wd = weekday_of(d, start_s)
        by_type["sunday" if wd == 6 else "saturday" if wd == 5 else "weekday"].append(energy)
    weekday, saturday, sunday = (np.mean(by_type[k]) for k in ("weekday", "saturday", "sunday"))
    return saturday / weekday, sunday / weekday


def test_household_day_types_follow_h0_with_saturday_above_sunday(year):
    _, per_day = year
    saturday, sunday = winter_ratios(per_day)
    assert saturday == pytest.approx(1.129, abs=0.02)
    assert sunday == pytest.approx(1.051, abs=0.02)


def test_commercial_day_types_follow_g0():
    params = replace(PLAIN, profile="commercial", spikes_per_day=0.0)
    _, per_day = run_utc(params, 100, 78)
    saturday, sunday = winter_ratios(per_day)
    assert saturday == pytest.approx(0.834, abs=0.02)
    assert sunday == pytest.approx(0.486, abs=0.02)


def test_monthly_factors_set_the_season_without_changing_the_year():
    winter_peak = (1.5, 1.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5)
    params = replace(PLAIN, monthly_factors=winter_peak, spikes_per_day=0.0, interval_s=4 * HOUR)
    totals, per_day = run_utc(params, 100, 365)
    assert totals.mean() == pytest.approx(3000.0 * 365 / 365.2425, rel=0.015)
    january, june = per_day[:31].mean(), per_day[151:181].mean()
    assert january / june == pytest.approx(3.0, rel=0.05)


def test_pv_meters_import_no_more_than_their_load_and_net_to_load_minus_generation():
    weather = Weather(climate_params(DEFAULT_REGIONS["lahore"]), 7, group_key("lahore"), "Asia/Karachi")
    params = replace(PLAIN, interval_s=900, pv_performance_ratio=0.8)
    start = parse_instant("2026-06-21T00:00:00+05:00")
    kwp = np.array([0.0, 4.0, 8.0] * 10)
    m = model(params, len(kwp), pv_kwp=kwp, weather=weather, start_s=start)
    night_export = day_export = 0
    for i in range(96):
        s = start + i * 900
        step = m.step(s, s + 5 * HOUR, s // 900 + 1)
        assert (step.export_milli[kwp == 0] == 0).all()
        np.testing.assert_array_equal(step.import_milli[kwp == 0], step.load_milli[kwp == 0])
        # netting rounds import and export to Wh separately; generation is never negative
        assert (step.import_milli <= step.load_milli + 1).all()
        assert (step.import_milli - step.export_milli <= step.load_milli + 1).all()
        hour = i // 4  # local hour
        if hour < 4 or hour >= 21:  # Lahore in June: dark before 05:00 and after 19:30
            night_export += int(step.export_milli.sum())
            np.testing.assert_array_equal(step.import_milli, step.load_milli)
        elif 10 <= hour < 14:
            day_export += int(step.export_milli[kwp == 8.0].sum())
    assert night_export == 0
    assert day_export > 0  # 8 kWp at midsummer noon outruns a household's load


@pytest.mark.slow
def test_every_meter_keeps_its_annual_energy_with_air_conditioning_and_diversity():
    weather = Weather(climate_params(DEFAULT_REGIONS["lahore"]), 7, group_key("lahore"), "Asia/Karachi")
    params = replace(PLAIN, country="PK", cooling=ThermalParams(ownership=0.5))
    n = 120
    m = model(params, n, weather=weather)
    totals = np.zeros(n)
    for i in range(365 * 24):
        s = START_2026 + i * HOUR
        totals += m.step(s, s + 5 * HOUR, s // HOUR + 1).load_milli / 1000
    expected = 3000.0 * 365 / 365.2425  # scale 1 for every meter
    owners = np.zeros(n, dtype=bool)
    owners[m.thermal[0].rows] = True
    assert 0 < owners.sum() < n
    assert np.abs(totals / expected - 1).max() < 0.1  # owners and non-owners alike
    assert totals.mean() == pytest.approx(expected, rel=0.02)
