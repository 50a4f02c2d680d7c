import time

import numpy as np
import pytest

from metersim.config import DEFAULT_REGIONS, Climate
from metersim.model import solar
from metersim.model.weather import BLOCK_DAYS, Weather, diurnal_shape
from metersim.streams import group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant

ZONES = {
    "lahore": "Asia/Karachi",
    "karachi": "Asia/Karachi",
    "tashkent": "Asia/Tashkent",
    "amsterdam": "Europe/Amsterdam",
}
SEED = 20250101


def _weather(name: str, seed: int = SEED) -> Weather:
    return Weather(DEFAULT_REGIONS[name], seed, group_key(name), ZONES[name])


def _day(iso_date: str) -> int:
    return int((np.datetime64(iso_date) - np.datetime64("1970-01-01")).astype(int))


def _year_days(year: int) -> np.ndarray:
    return np.arange(_day(f"{year}-01-01"), _day(f"{year + 1}-01-01"))


def _months(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12 + 1


def _monthly_means(values: np.ndarray, days: np.ndarray) -> np.ndarray:
    months = _months(days)
    return np.array([values[months == m].mean() for m in range(1, 13)])


# --- determinism and addressability ----------------------------------------------------------


@pytest.mark.parametrize("method", ["daily_mean_c", "clearness", "daily_irradiation_kwh_m2", "siglinde_mean_c"])
def test_a_day_alone_equals_the_day_inside_a_long_array(method):
    day = _day("2026-03-17")
    alone = getattr(_weather("tashkent"), method)(day)
    around = np.arange(day - 700, day + 300)
    inside = getattr(_weather("tashkent"), method)(around)[700]
    assert alone.shape == ()
    assert float(alone) == float(inside)
    # and in scattered order, after other blocks were cached
    w = _weather("tashkent")
    getattr(w, method)(np.arange(day + 1000, day + 1100))
    assert float(getattr(w, method)(np.array([day + 5000, day, day - 3000]))[1]) == float(alone)


def test_instants_are_addressable():
    t = parse_instant("2026-07-04T13:37:00+05:00")
    many = t + np.arange(-50_400, 50_400, 900, dtype=np.int64)
    idx = int(np.flatnonzero(many == t)[0])
    for method in ("temperature_c", "ghi_w_m2"):
        assert float(getattr(_weather("lahore"), method)(t)) == float(getattr(_weather("lahore"), method)(many)[idx])


def test_seeds_and_regions_differ():
    days = _year_days(2025)
    base = _weather("tashkent").daily_mean_c(days)
    assert not np.array_equal(base, _weather("tashkent", SEED + 1).daily_mean_c(days))
    other_key = Weather(DEFAULT_REGIONS["tashkent"], SEED, group_key("tashkent-2"), "Asia/Tashkent")
    assert not np.array_equal(base, other_key.daily_mean_c(days))
    assert not np.array_equal(_weather("tashkent").clearness(days), _weather("tashkent", SEED + 1).clearness(days))


def test_days_before_1970_work():
    w = _weather("amsterdam")
    values = w.daily_mean_c(np.arange(-400, 10))
    assert np.isfinite(values).all()
    assert float(w.daily_mean_c(-3)) == values[397]


def test_shapes_follow_the_input():
    w = _weather("lahore")
    days = np.arange(20_000, 20_012).reshape(3, 4)
    assert w.daily_mean_c(days).shape == (3, 4)
    assert w.clearness(days).shape == (3, 4)
    assert w.temperature_c(days * SECONDS_PER_DAY).shape == (3, 4)
    assert w.daily_mean_c(np.array([], dtype=np.int64)).shape == (0,)


# --- climatology -----------------------------------------------------------------------------


def test_tashkent_climatology():
    days = _year_days(2025)
    monthly = _monthly_means(_weather("tashkent").daily_mean_c(days), days)
    assert 1 - 3 <= monthly[0] <= 3 + 3
    assert 26 - 3 <= monthly[6] <= 29 + 3


def test_lahore_summer_is_much_warmer_than_winter():
    days = _year_days(2025)
    monthly = _monthly_means(_weather("lahore").daily_mean_c(days), days)
    assert monthly[6] - monthly[0] > 15


def test_amsterdam_coldest_month():
    days = _year_days(2025)
    monthly = _monthly_means(_weather("amsterdam").daily_mean_c(days), days)
    assert 0 <= monthly.min() <= 6
    assert int(np.argmin(monthly)) in (0, 1, 11)


@pytest.mark.parametrize("name", sorted(DEFAULT_REGIONS))
def test_anomaly_is_an_ar1_with_the_configured_sd_and_persistence(name):
    climate = DEFAULT_REGIONS[name]
    w = _weather(name)
    days = np.arange(_day("2000-01-01"), _day("2030-01-01"))
    anomaly = w.daily_mean_c(days) - w.seasonal_mean_c(days)
    assert abs(anomaly.mean()) < 0.15 * climate.temp_noise_c
    assert anomaly.std() == pytest.approx(climate.temp_noise_c, rel=0.08)
    lag1 = np.corrcoef(anomaly[:-1], anomaly[1:])[0, 1]
    assert lag1 == pytest.approx(climate.temp_noise_phi, abs=0.04)


def test_siglinde_mean_matches_hand_computation():
    w = _weather("tashkent")
    day = _day("2026-01-20")
    t = [float(w.daily_mean_c(day - k)) for k in range(4)]
    expected = (t[0] + 0.5 * t[1] + 0.25 * t[2] + 0.125 * t[3]) / 1.875
    assert float(w.siglinde_mean_c(day)) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(w.siglinde_mean_c(np.array([day, day + 1]))[0], expected, atol=1e-12)


# --- diurnal cycle ---------------------------------------------------------------------------


def test_diurnal_shape():
    hours = np.arange(0, 24, 1 / 60)
    shape = diurnal_shape(hours)
    assert hours[np.argmax(shape)] == pytest.approx(15.0)
    assert hours[np.argmin(shape)] == pytest.approx(6.0)
    assert shape.mean() == pytest.approx(0.0, abs=1e-9)
    assert np.abs(np.diff(shape)).max() < 0.01  # smooth, including across midnight


def test_temperature_peaks_mid_afternoon_and_bottoms_at_dawn():
    w = _weather("tashkent")
    climate = DEFAULT_REGIONS["tashkent"]
    start = parse_instant("2025-01-01T00:00:00Z")
    t = start + np.arange(0, 365 * SECONDS_PER_DAY, 600, dtype=np.int64)
    temperature = w.temperature_c(t)
    solar_hour = ((t + climate.longitude_deg * 240) % SECONDS_PER_DAY) // 3600
    profile = np.array([temperature[solar_hour == h].mean() for h in range(24)])
    assert 14 <= int(np.argmax(profile)) <= 15
    assert 5 <= int(np.argmin(profile)) <= 6
    assert profile.max() - profile.min() == pytest.approx(climate.diurnal_range_c, rel=0.1)
    # No jumps at midnight: the daily mean is interpolated.
    assert np.abs(np.diff(temperature)).max() < 1.5
    # The mean over a day stays close to the day's mean.
    days = w.local_day(t)
    daily = np.bincount(days - days.min(), weights=temperature) / np.bincount(days - days.min())
    expected = w.daily_mean_c(np.arange(days.min(), days.max() + 1))
    assert np.abs(daily[1:-1] - expected[1:-1]).mean() < 1.0


# --- sky -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULT_REGIONS))
def test_clearness_range_and_mean(name):
    # Updated with the monthly clearness: the sd is now the spread within a month.
    climate = DEFAULT_REGIONS[name]
    days = np.concatenate([_year_days(y) for y in (2025, 2026, 2027)])
    clearness = _weather(name).clearness(days)
    assert ((clearness > 0) & (clearness <= 1)).all()
    assert clearness.mean() == pytest.approx(climate.clearness_mean, abs=0.03)
    months = _months(days)
    monthly = np.array([clearness[months == m].mean() for m in range(1, 13)])
    factors = np.array(climate.clearness_monthly)
    np.testing.assert_allclose(monthly, climate.clearness_mean * factors / factors.mean(), atol=0.04)
    assert (clearness - monthly[months - 1]).std() == pytest.approx(climate.clearness_sd, abs=0.03)


def test_constant_clearness_without_spread():
    climate = DEFAULT_REGIONS["lahore"].model_copy(update={"clearness_sd": 0.0, "clearness_monthly": None})
    w = Weather(climate, SEED, 1, "Asia/Karachi")
    np.testing.assert_allclose(w.clearness(_year_days(2025)), climate.clearness_mean)
    monsoon = climate.model_copy(update={"clearness_sd": 0.0, "clearness_monthly": [1.0] * 6 + [0.8] * 3 + [1.0] * 3})
    days = _year_days(2025)
    clearness = Weather(monsoon, SEED, 1, "Asia/Karachi").clearness(days)
    mean = climate.clearness_mean / (11.4 / 12)  # the factors are normalised to mean 1
    np.testing.assert_allclose(clearness[np.isin(_months(days), [7, 8, 9])], 0.8 * mean)
    np.testing.assert_allclose(clearness[_months(days) == 1], mean)


def test_lahore_monsoon_is_its_cloudiest_season():
    w, days = _weather("lahore"), _year_days(2025)
    irradiation, clear = w.daily_irradiation_kwh_m2(days), _clear_sky_daily(w, days)
    months = _months(days)
    share = np.array([irradiation[months == m].sum() / clear[months == m].sum() for m in range(1, 13)])
    assert share[6:9].mean() < share[[3, 4, 9, 10]].mean() - 0.1


def _clear_sky_daily(w: Weather, days: np.ndarray) -> np.ndarray:
    """Clear-sky irradiation [kWh/m2] of local days (standard time: DST moves only the dark night)."""
    offset = int(w.utc_offsets_s(parse_instant("2025-01-15T00:00:00Z")))
    start = days[:, None] * SECONDS_PER_DAY - offset
    t = start + np.arange(300, SECONDS_PER_DAY, 600)
    return solar.clear_sky_ghi(w.climate.latitude_deg, w.climate.longitude_deg, t).sum(axis=1) * 600 / 3.6e6


def test_ghi_day_and_night():
    w = _weather("lahore")
    midnight = parse_instant("2025-06-21T00:00:00+05:00")
    noon = parse_instant("2025-06-21T12:00:00+05:00")
    assert float(w.ghi_w_m2(midnight)) == 0.0
    assert float(w.ghi_w_m2(noon)) > 0.0
    clear = float(solar.clear_sky_ghi(31.55, 74.34, noon))
    # Updated with the clouds: GHI is clear-sky x the region's clear-sky index of that minute.
    assert float(w.ghi_w_m2(noon)) == pytest.approx(clear * float(w.cloud_index(noon)))
    assert 0 < float(w.cloud_index(noon)) <= 1


@pytest.mark.parametrize(("name", "reference"), [("lahore", 1790.0), ("amsterdam", 1023.0)])
def test_annual_irradiation_matches_the_sourced_ghi(name, reference):
    # Global Solar Atlas (Punjab) ~1,790 and CBS (NL) 1,023 kWh/m2/yr; three synthetic years.
    annual = [_weather(name, seed).daily_irradiation_kwh_m2(_year_days(2025)).sum() for seed in (1, 2, 3)]
    assert np.mean(annual) == pytest.approx(reference, rel=0.05)
    assert all(abs(a / reference - 1) < 0.1 for a in annual)


def test_daily_irradiation_integrates_ghi():
    w = _weather("amsterdam")
    day = _day("2025-06-10")
    start = parse_instant("2025-06-10T00:00:00+02:00")
    ghi = w.ghi_w_m2(start + np.arange(30, SECONDS_PER_DAY, 60))  # minute midpoints
    assert float(w.daily_irradiation_kwh_m2(day)) == pytest.approx(ghi.sum() * 60 / 3.6e6, rel=0.02)


def test_clouds_make_a_day_vary_and_keep_its_clearness():
    w = _weather("amsterdam")
    days = _year_days(2025)
    ratio = w.daily_irradiation_kwh_m2(days) / _clear_sky_daily(w, days)
    # a day's energy realises its clearness, with some noise from where the clouds fall
    assert np.corrcoef(ratio, w.clearness(days))[0, 1] > 0.9
    assert abs(ratio.mean() - w.clearness(days).mean()) < 0.03
    index = w.cloud_index(parse_instant("2025-06-10T00:00:00Z") + np.arange(0, 30 * SECONDS_PER_DAY, 60))
    assert index.min() >= 0.02 and index.max() <= 1.0
    assert np.abs(np.diff(index)).max() > 0.1  # ramps within minutes


def test_amsterdam_june_is_far_sunnier_than_december():
    w = _weather("amsterdam")
    june = w.daily_irradiation_kwh_m2(np.arange(_day("2025-06-01"), _day("2025-07-01"))).sum()
    december = w.daily_irradiation_kwh_m2(np.arange(_day("2025-12-01"), _day("2026-01-01"))).sum()
    assert june > 4 * december


def test_southern_hemisphere():
    sydney = Climate(latitude_deg=-33.87, longitude_deg=151.2, temp_mean_c=18, temp_amplitude_c=5, coldest_day=196)
    w = Weather(sydney, SEED, 1, "Australia/Sydney")
    june = w.daily_irradiation_kwh_m2(np.arange(_day("2025-06-01"), _day("2025-07-01"))).sum()
    december = w.daily_irradiation_kwh_m2(np.arange(_day("2025-12-01"), _day("2026-01-01"))).sum()
    assert december > 1.5 * june
    days = _year_days(2025)
    monthly = _monthly_means(w.daily_mean_c(days), days)
    assert int(np.argmin(monthly)) in (5, 6, 7)


def test_mean_ghi_over_an_interval():
    w = _weather("lahore")
    start = parse_instant("2025-06-21T11:00:00+05:00")
    samples = w.ghi_w_m2(start + 450 + 900 * np.arange(4, dtype=np.int64))
    assert w.mean_ghi_w_m2(start, start + 3600, 4) == pytest.approx(samples.mean())
    many = w.mean_ghi_w_m2_many(np.array([start, start + 3600]), 3600, 4)
    assert many[0] == pytest.approx(samples.mean())


def test_hourly_table():
    w = _weather("amsterdam")
    start = parse_instant("2025-03-30T00:30:00+01:00")  # the spring DST change
    table = w.hourly(start, start + 2 * SECONDS_PER_DAY)
    assert set(table) == {"time_s", "temperature_c", "ghi_w_m2", "clearness"}
    assert len(table["time_s"]) == 48
    assert table["time_s"][0] == start + 1800
    assert (np.diff(table["time_s"]) == 3600).all()
    assert all(len(v) == 48 for v in table.values())
    assert (table["ghi_w_m2"] >= 0).all()
    # 01:00 on 30 March (local) to 02:00 on 1 April (local, after the change): three local days
    days = w.local_day(table["time_s"])
    np.testing.assert_array_equal(np.unique(days), [_day("2025-03-30"), _day("2025-03-31"), _day("2025-04-01")])
    np.testing.assert_array_equal(table["clearness"], w.clearness(days))


def test_local_day_follows_the_zone_through_dst():
    w = _weather("amsterdam")
    # 23:30 local on 2025-10-25 (CEST, UTC+2) and 00:30 local on 2025-10-26 (after the change, UTC+1)
    assert int(w.local_day(parse_instant("2025-10-25T23:30:00+02:00"))) == _day("2025-10-25")
    assert int(w.local_day(parse_instant("2025-10-26T00:30:00+02:00"))) == _day("2025-10-26")
    assert int(w.local_day(parse_instant("2025-10-26T23:30:00+01:00"))) == _day("2025-10-26")
    t = parse_instant("2025-10-25T20:00:00Z") + np.arange(0, 10 * 3600, 600, dtype=np.int64)
    expected = [w.local_day(int(x)) for x in t]
    np.testing.assert_array_equal(w.local_day(t), expected)


def test_solar_water_heater_sunny_lahore_summer_beats_cloudy_amsterdam_winter():
    lahore, amsterdam = _weather("lahore"), _weather("amsterdam")
    june = np.arange(_day("2025-06-01"), _day("2025-07-01"))
    december = np.arange(_day("2025-12-01"), _day("2026-01-01"))
    sunny = lahore.daily_irradiation_kwh_m2(june[np.argmax(lahore.clearness(june))])
    cloudy = amsterdam.daily_irradiation_kwh_m2(december[np.argmin(amsterdam.clearness(december))])
    demand = np.array([4.0, 7.0, 10.0])  # kWh_th per household-day
    f_sunny = solar.solar_water_heater_fraction(sunny, 3.0, 0.5, demand)
    f_cloudy = solar.solar_water_heater_fraction(cloudy, 3.0, 0.5, demand)
    assert (f_sunny > f_cloudy).all()
    assert (f_sunny > 0.6).all() and (f_cloudy < 0.15).all()
    for f in (f_sunny, f_cloudy):
        assert ((f >= 0) & (f <= 0.95)).all()


# --- speed -----------------------------------------------------------------------------------


def test_a_year_of_calls_is_fast():
    w = _weather("lahore")
    days = _year_days(2025)
    began = time.perf_counter()
    w.daily_mean_c(days)
    w.daily_irradiation_kwh_m2(days)
    for day in days:
        w.daily_mean_c(day)
        w.siglinde_mean_c(day)
    t = parse_instant("2025-01-01T00:00:00Z") + np.arange(0, 365 * SECONDS_PER_DAY, 3600, dtype=np.int64)
    w.ghi_w_m2(t)
    w.temperature_c(t)
    assert time.perf_counter() - began < 2.0
    assert len(w._daily_mean) <= 365 // BLOCK_DAYS + 3
