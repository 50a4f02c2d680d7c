"""Plane-of-array irradiance and PV power against pvlib, an independent implementation.

metersim computes these in plain numpy on the hot path (one call per interval covers every PV meter
of a group; pvlib's functions take pandas objects and cost ~100 us a call), so pvlib is the oracle.
"""

import numpy as np
import pandas as pd
import pytest

pvlib = pytest.importorskip("pvlib")

from metersim.model import solar  # noqa: E402
from metersim.timebase import parse_instant  # noqa: E402

SITES = {"lahore": (31.55, 74.34), "amsterdam": (52.37, 4.9)}


def _hours(first: str, days: int, step_s: int = 3600) -> np.ndarray:
    return parse_instant(first) + np.arange(0, days * 86_400, step_s, dtype=np.int64)


def _index(t: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(t, unit="s", utc=True))


@pytest.mark.parametrize("site", sorted(SITES))
def test_sun_position_matches_nrel_spa_within_a_twentieth_of_a_degree(site):
    lat, lon = SITES[site]
    t = _hours("2025-01-01T00:00:00Z", 365, 1800)
    east, north, up = solar.sun_vector(lat, lon, t)
    spa = pvlib.solarposition.get_solarposition(_index(t), lat, lon, method="nrel_numpy")
    zenith = np.degrees(np.arccos(np.clip(up, -1, 1)))
    azimuth = np.degrees(np.arctan2(east, north)) % 360
    high = spa["elevation"].to_numpy() > 5
    assert np.abs(zenith - spa["zenith"].to_numpy()).max() < 0.05
    assert np.abs(((azimuth - spa["azimuth"].to_numpy() + 180) % 360 - 180)[high]).max() < 0.1
    np.testing.assert_allclose(east**2 + north**2 + up**2, 1.0, atol=1e-12)


def test_extraterrestrial_and_haurwitz_match_pvlib():
    t = _hours("2025-01-01T12:00:00Z", 365, 86_400)
    doy = _index(t).dayofyear.to_numpy()
    np.testing.assert_allclose(solar.extraterrestrial_w_m2(t), pvlib.irradiance.get_extra_radiation(doy), rtol=2e-4)
    zenith = np.linspace(0, 89.9, 500)
    expected = pvlib.clearsky.haurwitz(pd.Series(zenith))["ghi"].to_numpy()
    np.testing.assert_allclose(solar.haurwitz(np.cos(np.radians(zenith))), expected, rtol=1e-9, atol=1e-9)


def test_erbs_matches_pvlib():
    rng = np.random.default_rng(1)
    zenith = rng.uniform(0, 95, 5000)
    doy = rng.integers(1, 366, 5000)
    dni_extra = pvlib.irradiance.get_extra_radiation(doy)
    ghi = rng.uniform(0, 1.1, 5000) * 1100 * np.clip(np.cos(np.radians(zenith)), 0, None)
    expected = pvlib.irradiance.erbs(ghi, zenith, doy)
    dni, dhi = solar.erbs(ghi, np.cos(np.radians(zenith)), dni_extra)
    np.testing.assert_allclose(dni, expected["dni"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dhi, expected["dhi"], rtol=1e-9, atol=1e-9)


def test_hay_davies_matches_pvlib_total_irradiance():
    rng = np.random.default_rng(2)
    n = 5000
    zenith, sun_az = rng.uniform(0, 89, n), rng.uniform(0, 360, n)
    tilt, az = rng.uniform(0, 60, n), rng.uniform(0, 360, n)
    ghi = rng.uniform(0, 1000, n) * np.cos(np.radians(zenith))
    dni_extra = rng.uniform(1320, 1410, n)
    dni, dhi = solar.erbs(ghi, np.cos(np.radians(zenith)), dni_extra)
    expected = pvlib.irradiance.get_total_irradiance(
        tilt, az, zenith, sun_az, dni, ghi, dhi, dni_extra=dni_extra, albedo=0.2, model="haydavies"
    )["poa_global"]
    cos_aoi = pvlib.irradiance.aoi_projection(tilt, az, zenith, sun_az)
    cz, ct = np.cos(np.radians(zenith)), np.cos(np.radians(tilt))
    poa = solar.hay_davies_poa(ghi, dni, dhi, cz, cos_aoi, ct, dni_extra, 0.2)
    np.testing.assert_allclose(poa, expected, rtol=1e-9, atol=1e-9)


def test_power_matches_faiman_and_pvwatts():
    rng = np.random.default_rng(3)
    poa, air = rng.uniform(0, 1100, 1000), rng.uniform(-10, 45, 1000)
    cell = pvlib.temperature.faiman(poa, air)
    expected = pvlib.pvsystem.pvwatts_dc(poa, cell, pdc0=4.0, gamma_pdc=-0.004) * 0.85
    np.testing.assert_allclose(solar.pv_power_kw(4.0, poa, 0.85, air), expected, rtol=1e-12)


def _pvlib_chain(lat, lon, t, ghi, tilt, azimuth, air, kwp, pr, albedo=0.2):
    """kW of one system from GHI by pvlib: SPA position, Erbs, Hay-Davies, Faiman, PVWatts."""
    index = _index(t)
    spa = pvlib.solarposition.get_solarposition(index, lat, lon, method="nrel_numpy")
    dni_extra = pvlib.irradiance.get_extra_radiation(index).to_numpy()
    split = pvlib.irradiance.erbs(ghi, spa["zenith"].to_numpy(), index.dayofyear.to_numpy())
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, spa["zenith"].to_numpy(), spa["azimuth"].to_numpy(), split["dni"], ghi, split["dhi"],
        dni_extra=dni_extra, albedo=albedo, model="haydavies",
    )["poa_global"]  # fmt: skip
    poa = np.nan_to_num(np.asarray(poa, dtype=float))
    return pvlib.pvsystem.pvwatts_dc(poa, pvlib.temperature.faiman(poa, air), kwp, -0.004) * pr


class _Sky:
    """A stand-in region: fixed climate, clear-sky index from a function, constant air temperature."""

    def __init__(self, lat, lon, index):
        from metersim.model.weather import ClimateParams

        self.climate = ClimateParams(latitude_deg=lat, longitude_deg=lon, temp_mean_c=20, temp_amplitude_c=0)
        self.seed, self._index = 1, index

    def day_and_minute(self, t):
        return t // 86_400, (t % 86_400) // 60

    def local_cloud_index(self, day, rngs):
        return np.tile(self._index(np.arange(1440)), (len(rngs), 1))

    def temperature_c(self, t):
        return np.full(np.shape(t), 30.0)


@pytest.mark.parametrize("site", sorted(SITES))
def test_pv_systems_match_the_pvlib_chain_on_the_same_ghi(site):
    lat, lon = SITES[site]
    sky = _Sky(lat, lon, lambda minute: 0.55 + 0.4 * np.sin(minute / 37.0))  # broken cloud, 0.15..0.95
    tilt, azimuth = np.array([0.0, 20.0, 35.0, 45.0]), np.array([180.0, 180.0, 120.0, 250.0])
    systems = solar.PvSystems(
        np.arange(4), np.full(4, 4.0), sky, 0.85, tilt_deg=tilt, azimuth_deg=azimuth,
        cloud_cell=np.zeros(4, dtype=int), cloud_lag_s=np.zeros(4), key=1,
    )  # fmt: skip
    t = _hours("2025-03-01T00:00:00Z", 4, 300) + 150
    ours = systems.generation_kwh(t, 300.0) / (300 / 3600)  # kW
    _, _, up = solar.sun_vector(lat, lon, t)
    ghi = solar.haurwitz(up) * systems.clear_sky_index(t)[0]
    for i in range(4):
        expected = _pvlib_chain(lat, lon, t, ghi, tilt[i], azimuth[i], 30.0, 4.0, 0.85)
        # The sun's position (ours within 0.05 degrees of SPA) is the only difference.
        assert ours[i].sum() == pytest.approx(expected.sum(), rel=0.002)
        bright = expected > 1.0
        np.testing.assert_allclose(ours[i][bright], expected[bright], rtol=0.01)
    assert (ours[:, up <= 0] == 0).all()
