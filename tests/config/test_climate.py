import ast

import pytest

from metersim.config import DEFAULT_REGIONS, REGION_BY_TIMEZONE, Climate, parse_scenario
from metersim.errors import ConfigError
from metersim.model.regions import BUILTIN_REGIONS
from tests.conftest import ROOT, scenario_dict

NEW_REGION = {"latitude_deg": 41.0, "longitude_deg": 29.0, "temp_mean_c": 15.0, "temp_amplitude_c": 9.0}


def test_builtin_regions_have_their_own_zones():
    zones = {name: climate.timezone for name, climate in DEFAULT_REGIONS.items()}
    assert zones == {
        "lahore": "Asia/Karachi",
        "karachi": "Asia/Karachi",
        "tashkent": "Asia/Tashkent",
        "amsterdam": "Europe/Amsterdam",
    }
    for name, region in BUILTIN_REGIONS.items():
        assert DEFAULT_REGIONS[name].monthly_load_factors == list(region.monthly_load_factors)
        assert DEFAULT_REGIONS[name].latitude_deg == region.latitude_deg


def test_the_default_region_of_a_zone_lies_in_that_zone():
    for zone, region in REGION_BY_TIMEZONE.items():
        assert DEFAULT_REGIONS[region].timezone == zone


def test_region_data_is_plain_data_that_imports_nothing_of_metersim():
    tree = ast.parse((ROOT / "metersim" / "model" / "regions.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("metersim")]


def test_a_region_keeps_its_zone_whatever_zone_its_groups_use():
    data = scenario_dict()
    data["fleet"][0].update(timezone="UTC", region="lahore")
    scenario = parse_scenario(data)
    assert scenario.region_timezone("lahore") == "Asia/Karachi"
    assert scenario.region_timezone("tashkent") == "Asia/Tashkent"


def test_a_new_region_needs_a_zone():
    data = scenario_dict()
    data["regions"] = {"istanbul": NEW_REGION}
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    assert info.value.problems == [
        "regions.istanbul.timezone: a region that is not built in needs `timezone`, "
        "an IANA zone such as Europe/Istanbul"
    ]
    data["regions"]["istanbul"] = {**NEW_REGION, "timezone": "Europe/Istanbul"}
    data["fleet"][0]["region"] = "istanbul"
    scenario = parse_scenario(data)
    assert scenario.region_timezone("istanbul") == "Europe/Istanbul"
    assert scenario.all_regions["istanbul"].temp_mean_c == 15.0


def test_an_override_of_a_builtin_region_inherits_its_zone():
    data = scenario_dict()
    data["regions"] = {"tashkent": {**NEW_REGION, "country": "UZ"}, "lahore": {**NEW_REGION, "timezone": "UTC"}}
    scenario = parse_scenario(data)
    assert scenario.all_regions["tashkent"].temp_mean_c == 15.0
    assert scenario.region_timezone("tashkent") == "Asia/Tashkent"
    assert scenario.region_timezone("lahore") == "UTC"
    assert scenario.regions["tashkent"].timezone is None  # the section as written
    assert set(scenario.all_regions) == set(DEFAULT_REGIONS)


def test_region_zones_are_validated():
    with pytest.raises(ValueError, match="unknown IANA time zone 'Mars/Olympus'"):
        Climate.model_validate({**NEW_REGION, "timezone": "Mars/Olympus"})
    with pytest.raises(KeyError):
        parse_scenario(scenario_dict()).region_timezone("atlantis")
