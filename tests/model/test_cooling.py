"""Weather-driven electricity: air conditioning follows Lahore's heat, electric heating Tashkent's cold."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.config import DEFAULT_REGIONS
from metersim.model.electricity import ElectricityModel, ElectricityParams
from metersim.model.thermal import ThermalParams, duty
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.streams import MeterRange, group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant
from tests.model.test_bdew import run_group


def test_duty_by_hand():
    # cooling: (T - set-point) / span, clipped to [0, 1]; heating: (set-point - T) / span
    np.testing.assert_allclose(duty(30.0, np.array([24.0, 28.0, 31.0]), 20.0, False), [0.3, 0.1, 0.0])
    np.testing.assert_allclose(duty(50.0, np.array([24.0]), 20.0, False), [1.0])
    np.testing.assert_allclose(duty(6.0, np.array([16.0, 4.0]), 15.0, True), [10 / 15, 0.0])


@pytest.mark.slow
def test_lahore_summer_daily_load_follows_the_daily_mean_temperature():
    loads, local, sim = run_group(
        {"count": 100, "timezone": "Asia/Karachi", "annual_kwh": 2400}, "2026-06-01T00:00:00+05:00", 92
    )
    daily = loads.sum(axis=1).reshape(92, 96).sum(axis=1)
    temperature = sim.weather.daily_mean_c(local[::96] // SECONDS_PER_DAY)
    assert np.corrcoef(daily, temperature)[0, 1] >= 0.6


class HeatWave(Weather):
    """The region's weather, 7 K hotter on the days in ``days`` (local days)."""

    def __init__(self, base: Weather, days: range) -> None:
        self.__dict__.update(base.__dict__)
        self.hot_days = days

    def temperature_c(self, epoch_s):
        t = np.asarray(super().temperature_c(epoch_s), dtype=float)
        day = (np.asarray(epoch_s) + 5 * 3600) // SECONDS_PER_DAY
        return t + 7.0 * np.isin(day, list(self.hot_days))


def fleet_day(weather: Weather, day_start: int, params: ElectricityParams, n: int = 200) -> np.ndarray:
    m = ElectricityModel(
        params, seed=4, key=group_key("heat"), meters=MeterRange.whole(n), scale=np.ones(n),
        shift_slots=np.zeros(n, dtype=np.int64), pv=None, has_swh=np.zeros(n, dtype=bool), weather=weather,
        first_interval=day_start // 900 + 1,
    )  # fmt: skip
    out = np.zeros(96)
    for k in range(96):
        s = day_start + k * 900
        out[k] = m.step(s, s + 5 * 3600, s // 900 + 1).load_milli.sum() / 1000
    return out


def test_a_lahore_heat_wave_raises_the_load_and_the_evening_peak():
    base = Weather(climate_params(DEFAULT_REGIONS["lahore"]), 7, group_key("lahore"), "Asia/Karachi")
    day_start = parse_instant("2026-06-10T00:00:00+05:00")
    local_day = (day_start + 5 * 3600) // SECONDS_PER_DAY
    params = ElectricityParams(
        profile="household", interval_s=900, annual_kwh=2400.0, monthly_factors=(1.0,) * 12, country="PK",
        cooling=ThermalParams(ownership=0.4),
    )  # fmt: skip
    normal = fleet_day(base, day_start, params)
    hot = fleet_day(HeatWave(base, range(local_day - 3, local_day + 4)), day_start, params)
    assert hot.sum() > 1.15 * normal.sum()
    evening = slice(18 * 4, 22 * 4)
    assert hot[evening].max() > 1.15 * normal[evening].max()


def test_electric_heating_where_configured_raises_winter_load_in_tashkent():
    group = {"count": 60, "timezone": "Asia/Tashkent", "annual_kwh": 2400}
    start = "2026-01-05T00:00:00+05:00"
    plain, _, _ = run_group(group, start, 14)
    heated, local, sim = run_group({**group, "heating": {"ownership": 0.5}}, start, 14)
    assert heated.sum() > 1.1 * plain.sum()
    daily = heated.sum(axis=1).reshape(14, 96).sum(axis=1)
    temperature = sim.weather.daily_mean_c(local[::96] // SECONDS_PER_DAY)
    assert np.corrcoef(daily, temperature)[0, 1] < 0
