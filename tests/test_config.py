import json

import pytest

from metersim.config import apply_override, json_schema, load_scenario, parse_scenario
from metersim.errors import ConfigError
from tests.conftest import ROOT, scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_valid_scenario_loads():
    scenario = parse_scenario(scenario_dict())
    assert scenario.meter_count == 30
    assert scenario.simulation.duration_s == 86400


def test_every_problem_is_reported_with_its_dotted_path():
    data = scenario_dict(bogus=1)
    data["fleet"][0]["interval_s"] = 7
    data["fleet"][1]["colour"] = "red"
    data["outputs"] = [{"type": "mqtt", "qos": 3}, {"type": "file"}]
    found = problems(data)
    assert "simulation.bogus: unknown key" in found
    assert any(p.startswith("fleet[0].interval_s: must divide 86400") for p in found)
    assert "fleet[1].colour: unknown key" in found
    assert any(p.startswith("outputs[0].qos:") for p in found)
    assert any(p.startswith("outputs[1].path:") for p in found)


def test_duration_or_end():
    with pytest.raises(ConfigError, match="exactly one of `duration` and `end`"):
        parse_scenario(scenario_dict(end="2026-01-02T00:00:00+05:00"))
    data = scenario_dict(end="2026-01-02T00:00:00+05:00")
    del data["simulation"]["duration"]
    assert parse_scenario(data).simulation.duration_s == 86400


def test_duration_must_fit_whole_intervals():
    found = problems(scenario_dict(duration="90m"))
    assert any("simulation.duration" in p and "fleet[1].interval_s" in p for p in found)


def test_commodity_needs_matching_annual_amount():
    data = scenario_dict()
    data["fleet"][1]["annual_kwh"] = 100
    assert any(p.startswith("fleet[1]:") and "annual_kwh" in p for p in problems(data))


def test_duplicate_meter_ids_across_groups_are_rejected():
    data = scenario_dict()
    data["fleet"][1]["id_format"] = "PK-LESCO-{index:06d}"
    found = problems(data)
    assert found == ["fleet[1].id_format: meter id 'PK-LESCO-000001' is also used by fleet[0]"]


@pytest.mark.parametrize("fmt", ["a/{index}", "a+{index}", "a#{index}"])
def test_meter_ids_must_be_valid_topic_levels(fmt):
    data = scenario_dict()
    data["fleet"][0]["id_format"] = fmt
    assert any("not a valid MQTT topic level" in p for p in problems(data))


def test_id_format_needs_index_and_known_fields():
    data = scenario_dict()
    data["fleet"][0]["id_format"] = "{group}-{serial}"
    assert any(p.startswith("fleet[0].id_format") for p in problems(data))


def test_unknown_timezone():
    data = scenario_dict()
    data["fleet"][0]["timezone"] = "Mars/Olympus"
    assert any("unknown IANA time zone" in p for p in problems(data))


def test_mqtt_credentials_come_from_named_environment_variables(monkeypatch):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "username_env": "METERSIM_TEST_USER"}]
    monkeypatch.delenv("METERSIM_TEST_USER", raising=False)
    assert any("METERSIM_TEST_USER" in p for p in problems(data))
    monkeypatch.setenv("METERSIM_TEST_USER", "alice")
    assert parse_scenario(data).outputs[0].username_env == "METERSIM_TEST_USER"


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "tcp://h:1883", "mqtt://h:99999"])
def test_bad_broker_urls(url):
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "url": url}]
    assert any(p.startswith("outputs[0].url") for p in problems(data))


def test_overrides_reach_nested_fields_and_list_items():
    data = scenario_dict()
    apply_override(data, "simulation.duration=2d")
    apply_override(data, "fleet.0.count=5")
    apply_override(data, "simulation.speed=2.5")
    scenario = parse_scenario(data)
    assert scenario.simulation.duration_s == 2 * 86400
    assert scenario.fleet[0].count == 5
    assert scenario.simulation.speed == 2.5


@pytest.mark.parametrize("item", ["nonsense", "fleet.9.count=1", "simulation.seed.x=1"])
def test_bad_overrides(item):
    with pytest.raises(ConfigError):
        apply_override(scenario_dict(), item)


def test_invalid_yaml_is_one_line_with_position(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("simulation:\n  start: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert "invalid YAML: line" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "schemas" / "scenario.json").read_text())
    assert committed == json_schema()


def test_topics_may_use_grid_fields_only_where_groups_have_a_grid():
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "topic": "m/{region}/{feeder}/{meter_id}"}]
    found = problems(data)
    assert "outputs[0].topic: uses grid fields but fleet[0] has no `grid`" in found
    data["fleet"] = [dict(data["fleet"][0], region="lahore", grid={"substations": 1})]
    assert parse_scenario(data).outputs[0].topic == "m/{region}/{feeder}/{meter_id}"


ISSUE_EXAMPLE = """
simulation:
  start: "2026-01-01T00:00:00+05:00"
  duration: 1d
  seed: 42
  speed: max
fleet:
  - name: lahore-households
    commodity: electricity
    count: 1000
    id_format: "PK-LESCO-{index:06d}"
    timezone: Asia/Karachi
    interval_s: 900
    annual_kwh: 2400
    profile: household
  - name: tashkent-gas
    commodity: gas
    count: 500
    id_format: "UZ-GAS-{index:06d}"
    timezone: Asia/Tashkent
    interval_s: 3600
    annual_m3: 900
    profile: household
outputs:
  - type: mqtt
    url: mqtt://127.0.0.1:1883
    topic: "metersim/{commodity}/{meter_id}/reading"
    qos: 1
  - type: file
    path: out/readings.jsonl
"""


def test_the_documented_foundation_shape_still_validates(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(ISSUE_EXAMPLE)
    scenario = load_scenario(path)
    assert [g.region for g in scenario.fleet] == ["lahore", "tashkent"]  # from the time zones
    data = scenario_dict()
    data["fleet"][1].update(timezone="America/New_York")
    del data["fleet"][1]["region"]
    assert any("none is built in for America/New_York" in p for p in problems(data))
