import numpy as np
import pytest

from metersim.fleet import build_fleet
from metersim.model.household import daily_shape, seasonal_factor
from tests.conftest import make_scenario, run_to_memory, scenario_dict


@pytest.mark.parametrize("commodity", ["electricity", "gas"])
@pytest.mark.parametrize("interval_s", [30, 60, 900, 1800, 3600, 86400])
def test_daily_shape_has_mean_one(commodity, interval_s):
    shape = daily_shape(commodity, interval_s)
    assert shape.shape == (86400 // interval_s,)
    assert shape.mean() == pytest.approx(1.0)
    assert (shape > 0).all()


def test_household_electricity_peaks_in_the_evening():
    hourly = daily_shape("electricity", 3600)
    assert hourly.argmax() in (18, 19, 20)
    assert hourly[3] < 0.6 * hourly.mean()


def test_gas_seasonality_averages_to_one_and_peaks_in_winter():
    days = np.arange(365) + 0.5
    factors = np.array([seasonal_factor("gas", d) for d in days])
    assert factors.mean() == pytest.approx(1.0, abs=0.01)
    assert seasonal_factor("gas", 15) > 1.5 > 0.5 > seasonal_factor("gas", 197)


@pytest.mark.parametrize("group", [0, 1])
def test_a_year_sums_to_the_configured_annual_amount(group):
    data = scenario_dict(start="2026-01-01T00:00:00+05:00", duration="365d")
    data["fleet"] = [data["fleet"][group]]
    data["fleet"][0].update(count=200, interval_s=86400)
    scenario = make_scenario(data)
    readings = run_to_memory(scenario).readings()
    totals = {}
    for r in readings:
        totals[r["meter_id"]] = totals.get(r["meter_id"], 0) + r["interval"]["value"]
    cohort = build_fleet(scenario)[0]
    annual = scenario.fleet[0].annual_amount
    per_meter = np.array([totals[m] for m in cohort.ids])
    # Each meter tracks its own target (annual amount x its drawn scale): 365 daily draws of sigma 0.25
    # noise leave about 1.3 % of spread, so 6 % is a 4.5-sigma bound...
    np.testing.assert_allclose(per_meter / (annual * cohort.scale), 1.0, rtol=0.06)
    # ...and the fleet's mean target is the configured amount (the scale has mean 1).
    assert per_meter.mean() / cohort.scale.mean() == pytest.approx(annual * 365 / 365.2425, rel=0.01)
