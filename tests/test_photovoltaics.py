"""PV a grid planner believes: yield per kWp, clouds inside the day, feeders, orientation, addressing.

Oracles: the published yields (Global Solar Atlas for Punjab, CBS for the Netherlands) and, for the
clear-sky reference of the within-day variability, pvlib's own chain on pvlib's Haurwitz sky.
"""

import numpy as np
import pytest

from metersim.config import parse_scenario
from metersim.fleet.attributes import build_attributes
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.photovoltaics import CLOUD_BLOCK_METERS, pv_systems
from metersim.streams import MeterRange, group_key
from metersim.timebase import SECONDS_PER_DAY, parse_instant

ZONES = {"lahore": ("Asia/Karachi", "+05:00"), "amsterdam": ("Europe/Amsterdam", "+01:00")}


def _systems(region, count=8, grid=True, seed=7, pv=None, meters=None):
    group = {
        "name": f"{region}-pv", "commodity": "electricity", "count": count, "id_format": "M-{index:06d}",
        "timezone": ZONES[region][0], "region": region, "interval_s": 900, "annual_kwh": 3000,
        "pv": pv or {"fraction": 1.0, "kwp_mean": 4.0, "kwp_sd": 0.0},
    }  # fmt: skip
    if grid:
        group["grid"] = {"substations": 1, "feeders_per_substation": 2, "transformers_per_feeder": 2}
    doc = {
        "simulation": {"start": "2025-01-01T00:00:00+05:00", "duration": "1d", "seed": seed, "speed": "max"},
        "fleet": [group],
        "outputs": [{"type": "discard"}],
    }
    scenario = parse_scenario(doc)
    g = scenario.fleet[0]
    weather = Weather(climate_params(scenario.all_regions[region]), seed, group_key(region), ZONES[region][0])
    attributes = build_attributes(g, seed, meters)
    return pv_systems(g, attributes, weather), attributes


def _year(systems, region, days=range(365)):
    """15-minute energies [kWh] of a year, netted every 5 minutes as the electricity model does."""
    start = parse_instant(f"2025-01-01T00:00:00{ZONES[region][1]}")
    out = []
    for d in days:
        t = start + d * SECONDS_PER_DAY + np.arange(150, SECONDS_PER_DAY, 300)
        out.append(systems.generation_kwh(t, 300.0).reshape(len(systems.kwp), 96, 3).sum(axis=2))
    return np.stack(out, axis=1)  # systems x days x 96


@pytest.mark.parametrize(("region", "low", "high"), [("lahore", 1420, 1670), ("amsterdam", 805, 945)])
def test_specific_yield_of_4_kwp_meters_matches_the_published_yield(region, low, high):
    # References: Global Solar Atlas (Punjab) ~1,545 kWh/kWp; CBS 875 kWh/kWp (NL); +-8 %.
    systems, _ = _systems(region, count=8)
    assert np.allclose(systems.kwp, 4.0)
    specific = _year(systems, region).sum(axis=(1, 2)) / 4.0
    assert low <= specific.mean() <= high
    assert (specific > 0.7 * low).all()  # an east- or steep-facing roof yields less, not nothing


def _clear_reference(systems, tilt, azimuth, region, t):
    """kWh per 5 minutes of one system under pvlib's Haurwitz clear sky (no clouds), by pvlib."""
    pvlib = pytest.importorskip("pvlib")
    import pandas as pd

    c = systems.weather.climate
    index = pd.DatetimeIndex(pd.to_datetime(t, unit="s", utc=True))
    location = pvlib.location.Location(c.latitude_deg, c.longitude_deg)
    sun = location.get_solarposition(index, method="nrel_numpy")
    ghi = pvlib.clearsky.haurwitz(sun["zenith"])["ghi"].to_numpy() * c.haze_transmittance
    split = pvlib.irradiance.erbs(ghi, sun["zenith"].to_numpy(), index.dayofyear.to_numpy())
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sun["zenith"], sun["azimuth"], split["dni"], ghi, split["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(index), albedo=0.2, model="haydavies",
    )["poa_global"].fillna(0).to_numpy()  # fmt: skip
    return np.maximum(poa, 0) * 4.0 / 1000 * (300 / 3600)


@pytest.mark.slow
def test_amsterdam_days_show_cloud_ramps():
    systems, _ = _systems("amsterdam", count=4)
    start = parse_instant("2025-01-01T00:00:00+01:00")
    t = start + np.arange(150, 365 * SECONDS_PER_DAY, 300)
    tilt, azimuth = _orientation(systems)
    clear = _clear_reference(systems, tilt[0], azimuth[0], "amsterdam", t).reshape(365, 96, 3).sum(axis=2)
    energy = _year(systems, "amsterdam")[0]
    cvs = []
    for d in range(365):
        lit = clear[d] > 0.05 * clear[d].max()  # daylight intervals
        ratio = energy[d, lit] / clear[d, lit]
        cvs.append(ratio.std() / ratio.mean())
    cvs = np.array(cvs)
    assert (cvs >= 0.15).mean() >= 1 / 3
    summer = cvs[151:243]  # June to August
    assert (summer >= 0.15).mean() >= 1 / 3
    assert (cvs < 0.15).any()  # and some days are steady: clear, or one grey deck


def _orientation(systems):
    g = systems._geometry  # cos tilt, sin tilt sin az, sin tilt cos az
    tilt = np.degrees(np.arccos(g[0]))
    return tilt, np.degrees(np.arctan2(g[1], g[2])) % 360


def test_meters_of_one_feeder_are_correlated_but_not_identical():
    # Equal kWp and orientation: only where the clouds fall differs.
    pv = {"fraction": 1.0, "kwp_mean": 4.0, "kwp_sd": 0.0, "tilt_deg_sd": 0.0, "azimuth_deg_sd": 0.0}
    systems, attributes = _systems("amsterdam", count=8, pv=pv)
    feeders = attributes.topology.transformer_feeder[attributes.topology.meter_transformer(attributes.meters)]
    energy = _year(systems, "amsterdam", range(150, 180)).reshape(8, -1)  # June
    day = energy.sum(axis=0) > 0
    r = np.corrcoef(energy[:, day])
    same = [r[i, j] for i in range(8) for j in range(i) if feeders[i] == feeders[j]]
    other = [r[i, j] for i in range(8) for j in range(i) if feeders[i] != feeders[j]]
    assert np.allclose(systems.kwp, 4.0)
    assert min(same) > 0.8 and max(same) < 0.9995
    assert np.mean(other) < np.mean(same)  # less correlated across the region
    assert not np.allclose(energy[0], energy[1])


def test_orientation_follows_the_config_and_the_region():
    systems, _ = _systems("lahore", count=400, grid=False)
    tilt, azimuth = _orientation(systems)
    assert tilt.mean() == pytest.approx(20, abs=1.5) and tilt.std() == pytest.approx(5, abs=1)  # the region's frames
    assert ((azimuth - 180 + 180) % 360 - 180).std() == pytest.approx(15, abs=2)
    pv = {"fraction": 1.0, "tilt_deg_mean": 40, "tilt_deg_sd": 0, "azimuth_deg_mean": 90, "azimuth_deg_sd": 0}
    systems, _ = _systems("lahore", count=10, grid=False, pv=pv)
    tilt, azimuth = _orientation(systems)
    np.testing.assert_allclose(tilt, 40)
    np.testing.assert_allclose(azimuth, 90)


def test_a_shard_sees_the_same_generation_as_the_whole_group():
    whole, _ = _systems("lahore", count=2 * 4096 + 100, grid=False, pv={"fraction": 0.01})
    shard, _ = _systems("lahore", count=2 * 4096 + 100, grid=False, pv={"fraction": 0.01},
                                 meters=MeterRange(4096, 8192))  # fmt: skip
    t = parse_instant("2025-06-01T12:00:00+05:00") + np.arange(0, 3600, 300)
    mine = np.isin(whole.rows, shard.rows + 4096)
    np.testing.assert_array_equal(whole.generation_kwh(t, 300.0)[mine], shard.generation_kwh(t, 300.0))
    assert CLOUD_BLOCK_METERS and 4096 % CLOUD_BLOCK_METERS == 0


def test_night_is_zero_and_runs_are_deterministic():
    a, _ = _systems("lahore")
    b, _ = _systems("lahore")
    night = parse_instant("2025-06-01T01:00:00+05:00") + np.arange(3) * 300
    assert (a.generation_kwh(night, 300.0) == 0).all()
    noon = parse_instant("2025-06-01T12:00:00+05:00") + np.arange(3) * 300
    np.testing.assert_array_equal(a.generation_kwh(noon, 300.0), b.generation_kwh(noon, 300.0))
    c, _ = _systems("lahore", seed=8)
    assert not np.array_equal(a.generation_kwh(noon, 300.0), c.generation_kwh(noon, 300.0))
