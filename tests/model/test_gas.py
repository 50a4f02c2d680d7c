"""The gas model with plain parameters: annual volume, SigLinDe (with its linear part), hot water and cooking
by the clock, EN 12405 conversion, battery."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from metersim.config import DEFAULT_REGIONS, parse_scenario
from metersim.config.gas import DEFAULT_ANNUAL_M3, GasConfig
from metersim.engine import Observer
from metersim.model.gas import GasModel, GasParams, battery_percent, conversion_factor
from metersim.model.siglinde import BY_BUILDING_CLASS
from metersim.model.weather import Weather
from metersim.parameters import climate_params, gas_params
from metersim.simulation import Simulation
from metersim.streams import MeterRange, group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant

HOUR = 3600
OFFSET_S = 5 * HOUR  # Asia/Tashkent, UTC+5 all year
START_2026 = parse_instant("2026-01-01T00:00:00+05:00")
DAY0 = (START_2026 + OFFSET_S) // SECONDS_PER_DAY  # local day of 2026-01-01
WEATHER = Weather(climate_params(DEFAULT_REGIONS["tashkent"]), 11, group_key("tashkent"), "Asia/Tashkent")

# SigLinDe HEF33 / HMF33, typed by hand from BDEW/VKU/GEODE, "Leitfaden Abwicklung von
# Standardlastprofilen Gas", 2016, Anlage, Auspraegung 33, pp. 133-134: A, B, C, D, mH, bH, mW, bW.
HEF33 = (1.6209544, -37.1833141, 5.6727847, 0.0716431, -0.0495700, 0.8401015, -0.0022090, 0.1074468)
HMF33 = (1.2328655, -34.7213605, 5.8164304, 0.0873352, -0.0409284, 0.7672920, -0.0022320, 0.1199207)


def siglinde(t_c, p=HEF33):
    """h(T) = A / (1 + (B / (T - 40))**C) + D + max(mH T + bH, mW T + bW)."""
    a, b, c, d, m_h, b_h, m_w, b_w = p
    t = np.asarray(t_c, dtype=float)
    return a / (1 + (b / (t - 40)) ** c) + d + np.maximum(m_h * t + b_h, m_w * t + b_w)


def warm_water_base(t_c, p=HEF33):
    """SigLinDe's base: D plus the warm-water line mW T + bW."""
    return p[3] + p[6] * np.asarray(t_c, dtype=float) + p[7]


def geometric_mean_c(days):
    """SigLinDe's temperature: (T_d + T_d-1 / 2 + T_d-2 / 4 + T_d-3 / 8) / 1.875, from the daily means."""
    t = WEATHER.daily_mean_c
    days = np.asarray(days)
    return (t(days) + t(days - 1) / 2 + t(days - 2) / 4 + t(days - 3) / 8) / 1.875


def model(params: GasParams, n: int, converter=None) -> GasModel:
    return GasModel(
        params,
        seed=11,
        key=group_key("plain-gas"),
        meters=MeterRange.whole(n),
        scale=np.ones(n),
        shift_slots=np.zeros(n, dtype=np.int64),
        has_swh=np.zeros(n, dtype=bool),
        has_converter=np.zeros(n, dtype=bool) if converter is None else converter,
        weather=WEATHER,
        first_interval=START_2026 // params.interval_s + 1,
    )


def day_volume_litres(m: GasModel, day: int) -> np.ndarray:
    """Volume [l] of each meter over local day ``day`` (hourly intervals)."""
    total = 0
    for h in range(24):
        start = day * SECONDS_PER_DAY - OFFSET_S + h * HOUR
        total = total + m.step(start, start + OFFSET_S, start // HOUR + 1).volume_milli
    return total


def hourly_volumes(m: GasModel, days) -> np.ndarray:
    """[day, hour, meter] litres."""
    out = []
    for day in days:
        hours = []
        for h in range(24):
            start = int(day) * SECONDS_PER_DAY - OFFSET_S + h * HOUR
            hours.append(m.step(start, start + OFFSET_S, start // HOUR + 1).volume_milli)
        out.append(hours)
    return np.array(out)


def test_a_scale_one_meter_uses_its_annual_m3_over_the_year():
    params = GasParams(interval_s=HOUR, annual_m3=1000.0)
    n = 150
    m = model(params, n)
    totals = np.zeros(n)
    for i in range(365 * 24):
        start = START_2026 + i * HOUR
        totals += m.step(start, start + OFFSET_S, start // HOUR + 1).volume_milli / 1000
    expected = 1000.0 * 365 / 365.2425
    assert totals.mean() == pytest.approx(expected, rel=0.01)
    assert np.abs(totals / expected - 1).max() < 0.06


@pytest.mark.parametrize(("building_class", "coefficients"), [("EFH", HEF33), ("MFH", HMF33)])
def test_a_heating_home_uses_siglinde_of_the_four_day_weighted_mean_temperature(building_class, coefficients):
    # No noise: a day's volume is annual / 365.2425 * h(T_geo(d)) / mean of h over the year, whether the
    # heating runs (winter) or not (summer: the sigmoid's tail goes to hot water and cooking).
    params = GasParams(
        interval_s=HOUR, annual_m3=3000.0, hot_water_share=0.18, cooking_share=0.10, noise_sigma=0.0,
        profile=BY_BUILDING_CLASS[building_class],
    )  # fmt: skip
    m = model(params, 1)
    year = np.arange(DAY0, DAY0 + 365)
    mean_h = siglinde(geometric_mean_c(year), coefficients).mean()
    days = year[::7]
    volumes = np.array([day_volume_litres(m, int(d))[0] for d in days])
    expected = 3000 * 1000 / 365.2425 * siglinde(geometric_mean_c(days), coefficients) / mean_h
    np.testing.assert_allclose(volumes, expected, atol=12)  # 24 hourly volumes, each rounded to litres
    coldest, warmest = volumes[np.argsort(geometric_mean_c(days))][[0, -1]]
    assert coldest > 10 * warmest  # Tashkent heats in winter and hardly at all in summer


def test_homes_without_gas_heating_use_only_the_warm_water_base():
    params = GasParams(interval_s=HOUR, annual_m3=3000.0, noise_sigma=0.0, heating_fraction=0.5)
    n = 200
    m = model(params, n)
    t_year = geometric_mean_c(np.arange(DAY0, DAY0 + 365))
    # KW: the fleet mean over the year is annual_m3; half the homes heat, all have the base
    mean_factor = (0.5 * (siglinde(t_year) - warm_water_base(t_year)) + warm_water_base(t_year)).mean()
    kw = 3000 * 1000 / 365.2425 / mean_factor  # [l per unit of h]
    day = DAY0 + 15  # January
    t = geometric_mean_c(np.array([day]))[0]
    volumes = day_volume_litres(m, day)
    heats = volumes > kw * warm_water_base(t) * 2
    assert 0.4 < heats.mean() < 0.6
    np.testing.assert_allclose(volumes[~heats], kw * warm_water_base(t), atol=12)
    np.testing.assert_allclose(volumes[heats], kw * siglinde(t), atol=12)


def test_summer_nights_read_zero_and_winter_nights_do_not():
    params = GasParams(interval_s=HOUR, annual_m3=3100.0, hot_water_share=0.18, cooking_share=0.10)
    july = hourly_volumes(model(params, 100), np.arange(DAY0 + 181, DAY0 + 188))
    assert (july[:, 0:4] == 0).all()  # heating off, nobody showers or cooks from 23:00 to 05:00
    assert (july[:, 7] > 0).all() and (july[:, 12] > 0).all() and (july[:, 19] > 0).all()
    january = hourly_volumes(model(params, 100), np.arange(DAY0 + 10, DAY0 + 14))
    assert (january[:, 0:4] > 0).all()  # the heating runs all night


def test_hot_water_and_cooking_peak_at_the_wash_and_meal_times():
    cooking = GasParams(interval_s=HOUR, annual_m3=3100.0, hot_water_share=0.0, cooking_share=0.3)
    by_hour = hourly_volumes(model(cooking, 50), np.arange(DAY0 + 190, DAY0 + 197)).sum(axis=(0, 2))
    assert set(np.argsort(by_hour)[-3:].tolist()) <= {7, 12, 18, 19}  # breakfast, lunch, dinner
    washing = GasParams(interval_s=HOUR, annual_m3=3100.0, hot_water_share=0.3, cooking_share=0.0)
    by_hour = hourly_volumes(model(washing, 50), np.arange(DAY0 + 190, DAY0 + 197)).sum(axis=(0, 2))
    assert int(np.argmax(by_hour)) in (6, 7) and int(np.argmax(by_hour[12:])) + 12 in (19, 20)


def test_hot_water_follows_the_season():
    # SigLinDe's base D + mW T + bW: more gas for hot water in winter (colder mains water)
    params = GasParams(
        interval_s=HOUR, annual_m3=3100.0, hot_water_share=0.3, cooking_share=0.0, noise_sigma=0.0,
        heating_fraction=0.0,
    )  # fmt: skip
    winter, summer = DAY0 + 15, DAY0 + 196
    t_w, t_s = geometric_mean_c(np.array([winter, summer]))
    assert t_w < 5 < 25 < t_s
    m = model(params, 1)
    ratio = day_volume_litres(m, winter)[0] / day_volume_litres(m, summer)[0]
    assert ratio == pytest.approx(warm_water_base(t_w) / warm_water_base(t_s), rel=0.01)
    assert ratio > 1.4


def test_converted_volume_is_the_metered_volume_times_the_en12405_factor():
    params = GasParams(interval_s=HOUR, annual_m3=2000.0)
    converter = np.array([True, False] * 20)
    m = model(params, len(converter), converter)
    for day in (DAY0 + 10, DAY0 + 190):  # a January and a July day
        temperature = float(WEATHER.daily_mean_c(day))
        gas_k = 273.15 + (temperature + 10.0) / 2  # near ground temperature: halfway to 10 degC
        factor = (1.01325 + 0.021) / 1.01325 * 288.15 / gas_k
        for h in (0, 7, 18):
            start = day * SECONDS_PER_DAY - OFFSET_S + h * HOUR
            step = m.step(start, start + OFFSET_S, start // HOUR + 1)
            assert step.temperature_c == temperature
            np.testing.assert_array_equal(step.converted_milli[~converter], 0)
            got, volume = step.converted_milli[converter], step.volume_milli[converter]
            # unrounded: an hour's few litres would otherwise round straight back to the metered litres
            np.testing.assert_allclose(got, volume * factor, rtol=1e-12)
            assert conversion_factor(temperature) == pytest.approx(factor, rel=1e-12)


def test_a_warm_day_converts_to_less_than_the_pressure_ratio_and_a_cold_day_to_more():
    pressure_ratio = (1.01325 + 0.021) / 1.01325
    assert conversion_factor(20.0) == pytest.approx(pressure_ratio)  # gas at 15 degC, the base temperature
    assert conversion_factor(30.0) < pressure_ratio < conversion_factor(0.0)
    # Karachi in July: gas near 20 degC, so about a third of a per cent more than metered
    assert conversion_factor(30.0) == pytest.approx(pressure_ratio * 288.15 / 293.15)


def test_the_battery_discharges_linearly_over_twelve_years():
    year_s = 365 * SECONDS_PER_DAY
    initial = np.array([100.0, 60.0, 5.0])
    np.testing.assert_allclose(battery_percent(initial, 0), initial)
    np.testing.assert_allclose(battery_percent(initial, year_s), [100 - 100 / 12, 60 - 100 / 12, 0.0])  # empty: 0
    np.testing.assert_allclose(battery_percent(initial, 6 * year_s), [50.0, 10.0, 0.0])
    np.testing.assert_allclose(battery_percent(initial, 12 * year_s), [0.0, 0.0, 0.0])


# --- acceptance: a year of the Tashkent fleet against the sourced volumes -------------------------------------
# Uztransgaz (2018): ~10 bcm a year to ~3.2 M households, ~3,100 m3 per household and year; a regional
# distributor: ~25 m3 a day per house in cold weather.
SOURCED_ANNUAL_M3, SOURCED_COLD_DAY_M3 = 3100.0, 25.0


class HourlyTruth(Observer):
    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.starts: list[int] = []
        self.weather = None

    def observe(self, observation) -> None:
        self.rows.append(observation.true.meters.true_milli.copy())
        self.starts.append(observation.true.start_s)
        self.weather = observation.weather


@pytest.fixture(scope="module")
def tashkent_year():
    data = yaml.safe_load((Path(__file__).parents[2] / "configs" / "tashkent-gas.yaml").read_text())
    data["simulation"].update({"start": "2026-01-01T00:00:00+05:00", "duration": "365d", "speed": "max"})
    group = next(g for g in data["fleet"] if g["commodity"] == "gas")
    group.update(count=200, annual_m3=DEFAULT_ANNUAL_M3["tashkent"])
    data.update(fleet=[group], outputs=[{"type": "discard"}], truth=None)
    truth = HourlyTruth()
    Simulation(parse_scenario(data), observers=[truth]).run()
    litres = np.array(truth.rows)  # [hour, meter]
    local = np.array(truth.starts) + OFFSET_S
    return litres / 1000.0, local // SECONDS_PER_DAY, (local % SECONDS_PER_DAY) // HOUR, truth.weather


def month_of(days):
    return np.array([(date(1970, 1, 1) + timedelta(days=int(d))).month for d in days])


@pytest.mark.slow
def test_tashkent_volumes_match_the_sourced_figures(tashkent_year):
    m3, day, _, weather = tashkent_year
    days = np.arange(DAY0, DAY0 + 365)
    daily = np.array([m3[day == d].sum(axis=0) for d in days])  # [day, meter]
    assert daily.sum(axis=0).mean() == pytest.approx(SOURCED_ANNUAL_M3, rel=0.20)
    t = weather.daily_mean_c
    t_geo = (t(days) + t(days - 1) / 2 + t(days - 2) / 4 + t(days - 3) / 8) / 1.875
    assert daily.mean(axis=1)[np.argmin(t_geo)] == pytest.approx(SOURCED_COLD_DAY_M3, rel=0.20)
    # January over July within 25 % of SigLinDe's (hand-typed HEF33) on the same weather
    months = month_of(days)
    fleet = daily.mean(axis=1)
    ours = fleet[months == 1].mean() / fleet[months == 7].mean()
    h = siglinde(t_geo)
    reference = h[months == 1].mean() / h[months == 7].mean()
    assert ours == pytest.approx(reference, rel=0.25)


@pytest.mark.slow
def test_at_least_thirty_per_cent_of_tashkent_july_night_hours_read_zero(tashkent_year):
    m3, day, hour, _ = tashkent_year
    night = (month_of(day) == 7) & (hour < 6)  # 00:00-06:00 local
    assert (m3[night] == 0).mean() >= 0.30
    assert (m3[(month_of(day) == 1) & (hour < 6)] > 0).mean() > 0.99  # January nights: the heating runs


def test_a_group_maps_onto_the_gas_parameters_with_its_gas_block_or_the_defaults():
    data = yaml.safe_load((Path(__file__).parents[2] / "configs" / "tashkent-gas.yaml").read_text())
    group = next(g for g in parse_scenario(data).fleet if g.commodity == "gas")
    params = gas_params(group)  # no `gas` block: single-family homes, all heating, 15 +- 2 degC
    assert (params.profile.name, params.heating_fraction, params.heating_limit_c) == ("HEF33", 1.0, 15.0)
    assert params.annual_m3 == group.annual_m3

    class WithGas:  # a group with a `gas` block, until MeterGroup has the field
        gas = GasConfig.model_validate({"building_class": "MFH", "heating_fraction": 0.4})

        def __getattr__(self, name):
            return getattr(group, name)

    params = gas_params(WithGas())
    assert (params.profile.name, params.heating_fraction) == ("HMF33", 0.4)
