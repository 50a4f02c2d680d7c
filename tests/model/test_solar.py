import numpy as np
import pytest

from metersim.model import solar
from metersim.timebase import parse_instant

LAHORE = (31.55, 74.34)


def _instants(first: str, days: int, step_s: int = 600) -> np.ndarray:
    start = parse_instant(first)
    return start + np.arange(0, days * 86_400, step_s, dtype=np.int64)


def test_night_is_dark_and_noon_is_bright():
    midnight = parse_instant("2025-06-21T00:00:00+05:00")
    noon = parse_instant("2025-06-21T12:00:00+05:00")
    assert solar.clear_sky_ghi(*LAHORE, midnight) == 0.0
    assert solar.clear_sky_ghi(*LAHORE, noon) > 900.0


def test_clear_sky_is_never_negative_and_keeps_shape():
    t = _instants("2025-01-01T00:00:00Z", 3).reshape(3, -1)
    ghi = solar.clear_sky_ghi(*LAHORE, t)
    assert ghi.shape == t.shape
    assert (ghi >= 0).all()
    assert (ghi == 0).any()


def test_june_noon_peak_in_lahore():
    peak = solar.clear_sky_ghi(*LAHORE, _instants("2025-06-01T00:00:00+05:00", 30, 60)).max()
    assert 950.0 <= peak <= 1100.0


def test_solar_noon_follows_longitude_and_equation_of_time():
    # Early November the sun runs about 16 minutes ahead of mean solar time.
    t = _instants("2025-11-03T00:00:00Z", 1, 60)
    noon_utc_min = (t[np.argmax(solar.clear_sky_ghi(0.0, 0.0, t))] % 86_400) / 60
    assert 720 - 16.4 - 2 <= noon_utc_min <= 720 - 16.4 + 2
    t_east = solar.clear_sky_ghi(0.0, 90.0, t)  # six hours earlier
    assert abs((t[np.argmax(t_east)] % 86_400) / 60 - (noon_utc_min - 360)) <= 1


def test_annual_clear_sky_irradiation_in_lahore():
    t = _instants("2025-01-01T00:00:00+05:00", 365)
    kwh_m2 = solar.clear_sky_ghi(*LAHORE, t).sum() * 600 / 3.6e6
    assert 2000 <= kwh_m2 <= 2400


def test_hemispheres():
    june = _instants("2025-06-01T00:00:00Z", 30)
    december = _instants("2025-12-01T00:00:00Z", 31)
    amsterdam = (52.37, 4.9)
    sydney = (-33.87, 151.2)
    assert solar.clear_sky_ghi(*amsterdam, june).sum() > 4 * solar.clear_sky_ghi(*amsterdam, december).sum()
    assert solar.clear_sky_ghi(*sydney, december).sum() > 1.8 * solar.clear_sky_ghi(*sydney, june).sum()


def test_pv_power_broadcasts_over_meters_and_instants():
    # Hand-worked: at 500 W/m2 and 25 degC air the cells run 500 / 31.84 = 15.704 K warm (Faiman,
    # u0 25 + u1 6.84 x 1 m/s), so PVWatts derates by 1 - 0.004 x 15.704 = 0.937186.
    kwp = np.array([1.0, 4.0])
    poa = np.array([0.0, 500.0, 1000.0])
    power = solar.pv_power_kw(kwp[:, None], poa[None, :], 0.8)
    d500, d1000 = 1 - 0.004 * 500 / 31.84, 1 - 0.004 * 1000 / 31.84
    expected = [[0.0, 0.4 * d500, 0.8 * d1000], [0.0, 1.6 * d500, 3.2 * d1000]]
    np.testing.assert_allclose(power, expected)
    assert power[0, 1] == pytest.approx(0.374874, abs=1e-6)
    # 5 degC air at 0 W/m2 would gain 8 %; at 1000 W/m2 and 45 degC: cells at 76.41 degC, -20.6 %
    assert solar.pv_power_kw(np.array([2.0]), 1000.0, 0.5, 45.0)[0] == pytest.approx(
        1.0 * (1 - 0.004 * 51.407), rel=1e-4
    )


def test_solar_water_heater_fraction():
    # 0.5 * 3 m2 * 2 kWh/m2 = 3 kWh of 6 kWh demand
    assert solar.solar_water_heater_fraction(2.0, 3.0, 0.5, 6.0) == pytest.approx(0.5)
    # capped: some backup always runs
    assert solar.solar_water_heater_fraction(20.0, 3.0, 0.5, 6.0) == pytest.approx(0.95)
    demand = np.array([0.0, 3.0, 12.0])
    np.testing.assert_allclose(solar.solar_water_heater_fraction(2.0, 3.0, 0.5, demand), [0.0, 0.95, 0.25])
    days = np.array([0.0, 1.0, 4.0])
    frac = solar.solar_water_heater_fraction(days, 3.0, 0.5, 6.0)
    assert ((frac >= 0) & (frac <= 0.95)).all()
