"""BDEW fleets against the published BDEW tables (demandlib 0.2.2's data file), cell by cell.

The reference is demandlib's own ``selp_series.csv`` when demandlib is installed (read here with the
csv module, not with metersim), else the copy metersim ships; a separate test checks that the copy is
exact. Seasons: winter 1 Nov - 20 Mar, summer 15 May - 14 Sep, transition otherwise (BDEW).
"""

from __future__ import annotations

import csv
import datetime as dt
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metersim.model.shapes import BDEW_CSV, bdew_profile, dynamisation
from metersim.simulation import build_groups
from metersim.timebase import SECONDS_PER_DAY, utc_offsets_s
from metersim.windows import resolve_window
from tests.conftest import make_scenario

SEASONS = ("winter", "summer", "transition")


def run_group(group: dict[str, Any], start: str, days: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray, Any]:
    """(loads [kWh], local start [s] per interval, the GroupSimulator): loads is intervals x meters."""
    scenario = make_scenario(
        {
            "simulation": {"start": start, "duration": f"{days}d", "seed": seed},
            "fleet": [{"name": "fleet", "commodity": "electricity", "interval_s": 900, **group}],
            "outputs": [{"type": "discard"}],
        }
    )
    window, _ = resolve_window(scenario)
    (sim,) = build_groups(scenario, window)
    steps = days * SECONDS_PER_DAY // 900
    starts = window.start_s + np.arange(steps, dtype=np.int64) * 900
    local = starts + utc_offsets_s(sim.group.timezone, starts)
    loads = np.zeros((steps, sim.group.count), dtype=np.float32)
    for k in range(steps):
        s = int(starts[k])
        loads[k] = sim.model.step(s, int(local[k]), s // 900 + 1).load_milli / 1000
    return loads, local, sim


def demandlib_table() -> Path | None:
    spec = util.find_spec("demandlib")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "bdew" / "bdew_data" / "selp_series.csv"


def reference(profile: str) -> np.ndarray:
    """[season, day (workday, Saturday, Sunday), 96] in W per 1,000 kWh/a."""
    table = np.zeros((3, 3, 96))
    source = demandlib_table()
    if source is not None:
        rows = list(csv.DictReader(source.open()))
        for s, season in enumerate(SEASONS):
            for d, weekday in enumerate(("1", "6", "7")):
                values = [float(r[profile]) for r in rows if r["period"] == season and r["weekday"] == weekday]
                table[s, d] = np.array(values) * 1000
        return table
    for r in csv.DictReader(BDEW_CSV.open()):
        if r["profile"] == profile:
            table[SEASONS.index(r["season"]), ("workday", "saturday", "sunday").index(r["day"]), int(r["slot"])] = (
                float(r["watts"])
            )
    return table


def test_the_shipped_table_is_demandlibs_exactly():
    if demandlib_table() is None:
        pytest.skip("demandlib is not installed")
    for profile in ("h0", "g0", "l0"):
        np.testing.assert_allclose(bdew_profile(profile), reference(profile), rtol=0, atol=1e-9)


def test_the_table_holds_the_published_first_values_and_sums_to_about_a_thousand_kwh():
    h0 = bdew_profile("h0")
    # BDEW H0, winter, 00:00-00:15: workday 67.6 W, Saturday 70.8 W, Sunday 87.4 W (to 0.1 W)
    assert h0[0, :, 0].tolist() == pytest.approx([67.6, 70.8, 87.4], abs=0.05)
    with BDEW_CSV.open() as f:
        assert f.readline().strip() == "profile,season,day,slot,watts"
    # a BDEW year of 365 days at these watts is close to 1,000 kWh (exactly so after normalisation)
    days = {"winter": 140, "summer": 123, "transition": 102}  # 1 Nov - 20 Mar, 15 May - 14 Sep, the rest
    week = np.array([5, 1, 1]) / 7  # workdays, Saturday, Sunday
    for name in ("h0", "g0", "l0"):
        table = bdew_profile(name)
        kwh = sum(days[s] * (week @ table[i]).sum() * 0.25 / 1000 for i, s in enumerate(SEASONS))
        assert kwh == pytest.approx(1000, rel=0.03), name


def test_dynamisation_by_hand():
    # F(t) = -3.92e-10 t^4 + 3.2e-7 t^3 - 7.02e-5 t^2 + 2.1e-3 t + 1.24
    t = 202
    by_hand = -3.92e-10 * t**4 + 3.2e-7 * t**3 - 7.02e-5 * t**2 + 2.1e-3 * t + 1.24
    assert dynamisation(np.array([202]))[0] == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.785, abs=0.002)
    assert dynamisation(np.array([1]))[0] == pytest.approx(1.24 + 2.1e-3 - 7.02e-5 + 3.2e-7 - 3.92e-10, rel=1e-12)


def bdew_season(day: dt.date) -> int:
    md = (day.month, day.day)
    if md >= (11, 1) or md <= (3, 20):
        return 0
    return 1 if (5, 15) <= md <= (9, 14) else 2


def check_fleet(profile: str, name: str) -> None:
    import holidays

    loads, local, sim = run_group(
        {"count": 300, "timezone": "Europe/Amsterdam", "annual_kwh": 3500, "profile": profile},
        "2026-01-01T00:00:00+01:00",
        365,
    )
    ref = reference(name)
    fleet = loads.mean(axis=1)
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in local // 86400]
    nl = holidays.country_holidays("NL", years=2026)
    day = np.array([2 if (d.weekday() == 6 or d in nl) else 1 if d.weekday() == 5 else 0 for d in dates])
    season = np.array([bdew_season(d) for d in dates])
    slot = (local % 86400) // 900
    doy = np.array([d.timetuple().tm_yday for d in dates])
    by_hand_dyn = -3.92e-10 * doy**4 + 3.2e-7 * doy**3 - 7.02e-5 * doy**2 + 2.1e-3 * doy + 1.24
    dyn = by_hand_dyn if name == "h0" else np.ones(len(doy))
    for s in range(3):
        energy = []
        for d in range(3):
            cell = (season == s) & (day == d)
            ours = np.bincount(slot[cell], weights=fleet[cell], minlength=96) / np.bincount(slot[cell], minlength=96)
            assert np.corrcoef(ours, ref[s, d])[0, 1] >= 0.95, (s, d)
            mad = np.abs(ours / ours.mean() - ref[s, d] / ref[s, d].mean()).mean()
            assert mad <= 0.08, (s, d, mad)
            energy.append((fleet[cell] / dyn[cell]).mean())
        for d in (1, 2):
            assert energy[d] / energy[0] == pytest.approx(ref[s, d].mean() / ref[s, 0].mean(), abs=0.03)
    # the fleet's mean annual energy: annual_kwh x each meter's scale, over 365 of 365.2425 days
    annual = loads.sum(axis=0).mean() / sim.attributes.scale.mean() * 365.2425 / 365
    assert annual == pytest.approx(3500, rel=0.02)


@pytest.mark.slow
def test_a_bdew_h0_fleet_matches_h0_in_all_nine_cells():
    check_fleet("bdew-h0", "h0")


@pytest.mark.slow
def test_a_bdew_g0_fleet_matches_g0_in_all_nine_cells():
    check_fleet("bdew-g0", "g0")
