"""The gas model with plain parameters: annual volume, SigLinDe heating, EN 12405 conversion, battery."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.config import DEFAULT_REGIONS
from metersim.model.gas import GasModel, GasParams, battery_percent, conversion_factor
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.streams import MeterRange, group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant

HOUR = 3600
OFFSET_S = 5 * HOUR  # Asia/Tashkent, UTC+5 all year
START_2026 = parse_instant("2026-01-01T00:00:00+05:00")
DAY0 = (START_2026 + OFFSET_S) // SECONDS_PER_DAY  # local day of 2026-01-01
WEATHER = Weather(climate_params(DEFAULT_REGIONS["tashkent"]), 11, group_key("tashkent"), "Asia/Tashkent")


def siglinde(t_c):
    """h(T) = A / (1 + (B / (T - 40))**C) + D, with the EFH coefficients documented in metersim/model/gas.py."""
    a, b, c, d = 3.0554, -37.1836, 5.6811, 0.1145
    return a / (1 + (b / (np.asarray(t_c, dtype=float) - 40)) ** c) + d


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


def test_daily_heating_follows_siglinde_of_the_four_day_geometric_mean_temperature():
    # Heating only, no noise: a day's volume is annual / 365.2425 * h(T_geo(d)) / mean of h over the year.
    params = GasParams(interval_s=HOUR, annual_m3=1000.0, hot_water_share=0.0, cooking_share=0.0, noise_sigma=0.0)
    m = model(params, 1)
    year = np.arange(DAY0, DAY0 + 365)
    mean_h = siglinde(geometric_mean_c(year)).mean()
    days = year[::5]
    volumes = np.array([day_volume_litres(m, int(d))[0] for d in days])
    expected = 1000 * 1000 / 365.2425 * siglinde(geometric_mean_c(days)) / mean_h
    # each of the 24 hourly volumes is rounded to whole litres
    np.testing.assert_allclose(volumes, expected, atol=12)
    # colder days, more gas: volumes sorted by temperature never rise by more than the rounding
    by_temperature = volumes[np.argsort(geometric_mean_c(days))]
    assert (np.diff(by_temperature) <= 24).all()
    coldest, warmest = by_temperature[:10].mean(), by_temperature[-10:].mean()
    assert coldest > 5 * warmest  # Tashkent heats in winter and hardly at all in summer


def test_siglinde_is_a_falling_sigmoid_of_temperature():
    t = np.linspace(-20, 35, 200)
    h = siglinde(t)
    assert (np.diff(h) < 0).all()
    assert siglinde(-30) == pytest.approx(3.0554 + 0.1145, rel=0.03)  # saturates at A + D in deep cold
    assert siglinde(35) == pytest.approx(0.1145, abs=0.01)  # and falls to D in the heat


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
