import json
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Discriminator, Field, Tag, ValidationError

from metersim.config import (
    Scenario,
    apply_override,
    format_validation_error,
    json_schema,
    load_scenario,
    parse_scenario,
)
from metersim.config.messages import without_union_tags
from metersim.errors import ConfigError
from tests.conftest import ROOT, scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_every_problem_is_reported_with_its_dotted_path():
    data = scenario_dict(bogus=1)
    data["fleet"][0]["interval_s"] = 7
    data["fleet"][1]["colour"] = "red"
    data["outputs"] = [{"type": "mqtt", "qos": 3}, {"type": "file"}]
    found = problems(data)
    assert "simulation.bogus: unknown key" in found
    assert any(p.startswith("fleet[0].interval_s: must divide 86400") for p in found)
    assert any(p.startswith("fleet[1].colour: unknown key") for p in found)  # "; did you mean 'country'?"
    assert any(p.startswith("outputs[0].qos:") for p in found)
    assert any(p.startswith("outputs[1].path:") for p in found)


def test_output_paths_carry_no_union_tag():
    data = scenario_dict()
    data["outputs"] = [
        {"type": "mqtt", "url": "http://x", "tls": {"cert_file": "a"}},
        {"type": "stdout", "x": 1},
        {"type": "bogus"},
    ]
    found = problems(data)
    assert found == [
        "outputs[0].url: expected mqtt://host[:port], mqtts://host[:port] or \"embedded\", got 'http://x'",
        "outputs[0].tls: give both `cert_file` and `key_file`, or neither",
        "outputs[1].x: unknown key",
        "outputs[2]: unknown type 'bogus'; must be one of mqtt, file, stdout, parquet, discard",
    ]


class _A(BaseModel):
    kind: Literal["a", "alpha"]
    n: int


class _B(BaseModel):
    kind: Literal["b"]
    n: int


class _Shapes(BaseModel):
    one: _A | _B = Field(discriminator="kind")
    many: dict[str, list[Annotated[_A | _B, Field(discriminator="kind")]]] = {}
    tagged: (
        Annotated[
            Annotated[_A, Tag("first")] | Annotated[_B, Tag("second")],
            Discriminator(lambda v: "first" if v.get("kind") != "b" else "second"),
        ]
        | None
    ) = None


def test_union_tags_are_removed_wherever_a_discriminated_union_sits():
    with pytest.raises(ValidationError) as info:
        _Shapes.model_validate(
            {"one": {"kind": "alpha", "n": "x"}, "many": {"k": [{"kind": "b", "n": "y"}]}, "tagged": {"n": "z"}}
        )
    raw = [e["loc"] for e in info.value.errors()]
    assert raw == [
        ("one", "alpha", "n"),
        ("many", "k", 0, "b", "n"),
        ("tagged", "first", "kind"),
        ("tagged", "first", "n"),
    ]
    assert [without_union_tags(loc, _Shapes) for loc in raw] == [
        ("one", "n"),
        ("many", "k", 0, "n"),
        ("tagged", "kind"),
        ("tagged", "n"),
    ]
    first = format_validation_error(info.value, _Shapes)[0]
    assert first == "one.n: must be a whole number, not 'x'"


def test_only_tags_of_the_union_at_that_place_are_removed():
    assert without_union_tags(("outputs", 0, "file", "path"), Scenario) == ("outputs", 0, "path")
    assert without_union_tags(("outputs", 0, "topic"), Scenario) == ("outputs", 0, "topic")
    assert without_union_tags(("fleet", 0, "file"), Scenario) == ("fleet", 0, "file")
    assert without_union_tags(("one", "b", "b"), _Shapes) == ("one", "b")


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


def test_every_shipped_config_loads():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert load_scenario(path).meter_count > 0


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
