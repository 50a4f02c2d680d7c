"""A simulated year over a small fleet: annual totals, seasonality and PV behave like a real fleet."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pytest

from metersim.engine import Observer
from metersim.fleet import build_attributes
from metersim.simulation import Simulation
from tests.conftest import make_scenario


class YearTotals(Observer):
    """Sums true consumption per meter, and per local month for the fleet."""

    def __init__(self, scenario) -> None:
        self.groups = {g.name: g for g in scenario.fleet}
        self.seed = scenario.simulation.seed
        self.per_meter: dict[str, np.ndarray] = {}
        self.per_month: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(12))
        self.export_by_hour: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(24))
        self.scale: dict[str, np.ndarray] = {}

    def observe(self, observation) -> None:
        true = observation.true
        meters = true.meters
        name = meters.meters.group
        if name not in self.per_meter:
            group = self.groups[name]
            self.per_meter[name] = np.zeros(group.count)
            self.scale[name] = build_attributes(group, self.seed).scale
        self.per_meter[name] += meters.true_milli / 1000
        offset = 5 * 3600  # both regions below are UTC+5 all year
        local = time.gmtime(true.start_s + offset)
        self.per_month[name][local.tm_mon - 1] += meters.true_milli.sum() / 1000
        if meters.export_milli is not None:
            self.export_by_hour[name][local.tm_hour] += meters.export_milli.sum() / 1000


@pytest.fixture(scope="module")
def year() -> YearTotals:
    data = {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "365d", "seed": 5},
        "fleet": [
            {
                "name": "lahore",
                "commodity": "electricity",
                "count": 2500,
                "timezone": "Asia/Karachi",
                "region": "lahore",
                "interval_s": 3600,
                "annual_kwh": 2400,
                "pv": {"fraction": 0.2},
            },
            {
                "name": "tashkent",
                "commodity": "gas",
                "count": 2500,
                "timezone": "Asia/Tashkent",
                "region": "tashkent",
                "interval_s": 3600,
                "annual_m3": 1100,
            },
        ],
        "outputs": [{"type": "discard"}],
    }
    scenario = make_scenario(data)
    totals = YearTotals(scenario)
    Simulation(scenario, observers=[totals]).run()
    return totals


@pytest.mark.parametrize(("group", "annual"), [("lahore", 2400), ("tashkent", 1100)])
def test_each_meter_tracks_its_own_target_and_the_fleet_its_configured_mean(year, group, annual):
    totals, scale = year.per_meter[group], year.scale[group]
    ratio = totals / (annual * scale)
    assert np.all(np.abs(ratio - 1) < 0.15), (ratio.min(), ratio.max())
    # The fleet mean is the configured value: 2,500 lognormal scales average 1 within about 0.6 %.
    assert totals.mean() == pytest.approx(annual, rel=0.02)


def test_lahore_electricity_peaks_in_summer(year):
    months = year.per_month["lahore"]
    assert months[6] > 1.8 * months[0]  # July versus January


def test_tashkent_gas_is_winter_heating(year):
    months = year.per_month["tashkent"]
    assert months[0] >= 4 * months[6]  # January versus July


def test_pv_exports_at_midday_and_never_at_night(year):
    by_hour = year.export_by_hour["lahore"]
    assert by_hour[11:14].min() > 0
    assert by_hour[:5].sum() == 0 and by_hour[20:].sum() == 0
