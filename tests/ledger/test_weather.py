"""The hourly weather log beside the ledger: one row per region per simulated hour."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from metersim.errors import OutputNotWritableError
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.simulation import Simulation
from metersim.streams import group_key
from metersim.timebase import iso_local, parse_instant
from tests.conftest import make_scenario, scenario_dict

START = "2026-01-01T00:30:00+05:00"  # not on the hour: the first row is 01:00


def scenario(tmp_path, weather_path, **simulation):
    data = scenario_dict(start=START, duration="14h", **simulation)
    data["truth"] = {"path": str(tmp_path / "truth.csv"), "weather_path": str(weather_path)}
    return make_scenario(data)


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weather")
    s = scenario(folder, folder / "sub" / "weather.csv")
    Simulation(s).run()
    return s, read(folder / "sub" / "weather.csv")


def test_every_region_is_logged_at_the_top_of_every_hour_inside_the_window(logged):
    _, rows = logged
    start = parse_instant(START)
    hours = [parse_instant("2026-01-01T01:00:00+05:00") + 3600 * h for h in range(14)]  # 01:00 .. 14:00
    assert hours[0] > start and hours[-1] < start + 14 * 3600
    by_region = defaultdict(list)
    for row in rows:
        by_region[row["region"]].append(int(row["time_s"]))
    # both groups' regions, each once per hour (lahore for Asia/Karachi, tashkent for the gas group)
    assert by_region == {"lahore": hours, "tashkent": hours}
    times = [int(row["time_s"]) for row in rows]
    assert times == sorted(times)  # written as simulated time goes by


def test_the_values_are_the_regions_weather_at_that_hour(logged):
    s, rows = logged
    weathers = {
        name: Weather(climate_params(s.all_regions[name]), s.simulation.seed, group_key(name), s.region_timezone(name))
        for name in ("lahore", "tashkent")
    }
    for row in rows:
        weather, t = weathers[row["region"]], int(row["time_s"])
        assert row["time"] == iso_local(t, weather.timezone)  # the same hour, in the region's local offset
        assert row["temperature_c"] == f"{float(weather.temperature_c(t)):.2f}"
        assert row["ghi_w_m2"] == f"{weather.mean_ghi_w_m2(t, t + 3600):.1f}"
        assert row["clearness"] == f"{float(weather.clearness(weather.local_day(t))):.3f}"
        assert 0 < float(row["clearness"]) <= 1


def test_night_hours_have_no_sun_and_noon_has(logged):
    _, rows = logged
    for row in rows:
        local_hour = (int(row["time_s"]) + 5 * 3600) % 86400 // 3600  # both regions are UTC+5
        ghi = float(row["ghi_w_m2"])
        if local_hour <= 5:  # January: the sun rises after 07:00 in both cities
            assert ghi == 0.0
        if 11 <= local_hour <= 12:
            assert ghi > 100


def test_without_regions_only_the_header_is_written(tmp_path):
    data = scenario_dict(duration="2h")
    data["fleet"] = [dict(data["fleet"][0], timezone="UTC")]  # no built-in region for UTC
    data["truth"] = {"path": str(tmp_path / "truth.csv"), "weather_path": str(tmp_path / "weather.csv")}
    Simulation(make_scenario(data)).run()
    header = "region,time,time_s,temperature_c,ghi_w_m2,clearness"
    assert (tmp_path / "weather.csv").read_text().splitlines() == [header]


def test_a_path_that_cannot_be_written_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "weather.csv"  # below a regular file: fails even as root
    with pytest.raises(OutputNotWritableError) as error:
        Simulation(scenario(tmp_path, target)).run()
    message = str(error.value)
    assert message.startswith(f"cannot write weather {target}: ") and "\n" not in message
