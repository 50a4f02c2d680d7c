import pytest

from metersim.config import parse_scenario
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_commodity_needs_matching_annual_amount():
    data = scenario_dict()
    data["fleet"][1]["annual_kwh"] = 100
    assert any(p.startswith("fleet[1]:") and "annual_kwh" in p for p in problems(data))


def test_id_format_needs_index_and_known_fields():
    data = scenario_dict()
    data["fleet"][0]["id_format"] = "{group}-{serial}"
    assert problems(data) == ["fleet[0].id_format: unknown field(s) ['serial']; allowed: {index}, {group}"]
    data["fleet"][0]["id_format"] = "{group}-x"
    assert problems(data) == ["fleet[0].id_format: must contain {index} so that ids are unique"]


def test_id_format_that_cannot_be_formatted():
    data = scenario_dict()
    data["fleet"][0]["id_format"] = "{index:.2s}"
    assert [p.split(":")[0] for p in problems(data)] == ["fleet[0]"]
    assert "`id_format` cannot be formatted" in problems(data)[0]


@pytest.mark.parametrize(
    ("id_format", "message"),
    [
        ("{group.nope}-{index}", "{group.nope}: attribute or index access is not allowed; use the plain field name"),
        ("{group}-{index[0]}", "{index[0]}: attribute or index access is not allowed; use the plain field name"),
        ("{}-{index}", "positional fields ({} or {0}) are not allowed; use {index} and {group}"),
        ("{index:0300d}", "{index:0300d}: padding or precision over 200 is not allowed"),
        ("{index", "is not a valid template (expected '}' before end of string); write a literal brace as {{ or }}"),
    ],
)
def test_id_format_templates_are_checked_at_the_field(id_format, message):
    data = scenario_dict()
    data["fleet"][0]["id_format"] = id_format
    assert problems(data) == [f"fleet[0].id_format: {message}"]


@pytest.mark.parametrize("name", ["a/b", "a+b", "a#b", "a\x00b"])
def test_group_names_cannot_break_topics_or_grid_ids(name):
    data = scenario_dict()
    data["fleet"][0]["name"] = name
    found = problems(data)
    assert len(found) == 1 and found[0].startswith("fleet[0].name: must not contain ")
    assert "grid meter ids" in found[0]


def test_unknown_timezone():
    data = scenario_dict()
    data["fleet"][0]["timezone"] = "Mars/Olympus"
    assert any("unknown IANA time zone" in p for p in problems(data))


def test_groups_get_the_region_of_their_zone_unless_they_name_one():
    data = scenario_dict()
    data["fleet"][1]["timezone"] = "America/New_York"
    del data["fleet"][1]["region"]
    assert "fleet[1]: gas groups need a weather `region` (none is built in for America/New_York)" in problems(data)
    scenario = parse_scenario(scenario_dict())
    assert [g.region for g in scenario.fleet] == ["lahore", "tashkent"]


def test_derived_group_values():
    group = parse_scenario(scenario_dict()).fleet[0]
    assert group.effective_jitter_s == 60
    assert group.annual_amount == 2400
    assert group.meter_id(1) == "PK-LESCO-000001"
    assert group.meter_ids()[-1] == "PK-LESCO-000020"
    assert group.id_pattern is not None and group.id_pattern.prefix == "PK-LESCO-"
