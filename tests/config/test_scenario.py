import pickle

import pytest

from metersim.config import Problem, Scenario, parse_scenario
from metersim.errors import ConfigError
from tests.conftest import scenario_dict


def problems(data):
    with pytest.raises(ConfigError) as info:
        parse_scenario(data)
    return info.value.problems


def test_valid_scenario_loads():
    scenario = parse_scenario(scenario_dict())
    assert scenario.meter_count == 30
    assert scenario.simulation.duration_s == 86400


def test_duration_must_fit_whole_intervals():
    found = problems(scenario_dict(duration="90m"))
    assert found == ["simulation.duration: 5400 s is not a whole number of fleet[1].interval_s (3600 s)"]


def test_cross_checks_report_each_problem_at_its_own_path():
    data = scenario_dict(duration="90m")
    data["fleet"][1].update(name="lahore", region="mars", tariff="tou")
    data["outputs"] = [{"type": "mqtt", "topic": "m/{feeder}/{meter_id}"}]
    assert problems(data) == [
        "fleet[1].name: duplicate group name 'lahore'",
        "simulation.duration: 5400 s is not a whole number of fleet[1].interval_s (3600 s)",
        "fleet[1].region: unknown region 'mars'; known: ['amsterdam', 'karachi', 'lahore', 'tashkent']",
        "fleet[1].tariff: unknown tariff 'tou'; known: []",
        "outputs[0].topic: uses grid fields but fleet[0] has no `grid`",
        "outputs[0].topic: uses grid fields but fleet[1] has no `grid`",
    ]


def test_cross_check_problems_are_separate_pydantic_errors_with_locations():
    data = scenario_dict(duration="90m")
    data["fleet"][1]["name"] = "lahore"
    with pytest.raises(ValueError) as info:
        Scenario.model_validate(data)
    errors = info.value.errors()  # type: ignore[attr-defined]
    assert [(e["loc"], e["msg"]) for e in errors] == [
        (("fleet", 1, "name"), "duplicate group name 'lahore'"),
        (("simulation", "duration"), "5400 s is not a whole number of fleet[1].interval_s (3600 s)"),
    ]


def test_a_tariff_must_suit_the_commodity():
    data = scenario_dict()
    data["tariffs"] = {"g": {"commodity": "gas", "prices": {"all": 1}}}
    data["fleet"][0]["tariff"] = "g"
    assert problems(data) == ["fleet[0].tariff: 'g' is a gas tariff"]


def test_topics_may_use_grid_fields_only_where_groups_have_a_grid():
    data = scenario_dict()
    data["outputs"] = [{"type": "mqtt", "topic": "m/{region}/{feeder}/{meter_id}"}]
    found = problems(data)
    assert "outputs[0].topic: uses grid fields but fleet[0] has no `grid`" in found
    data["fleet"] = [dict(data["fleet"][0], region="lahore", grid={"substations": 1})]
    assert parse_scenario(data).outputs[0].topic == "m/{region}/{feeder}/{meter_id}"


def test_problem():
    problem = Problem(("fleet", 2, "interval_s"), "must divide 86400")
    assert (problem.path, str(problem)) == ("fleet[2].interval_s", "fleet[2].interval_s: must divide 86400")
    assert str(Problem((), "bad")) == "bad"


def test_copies_keep_their_regions():
    scenario = parse_scenario(scenario_dict())
    copy = scenario.model_copy(update={"truth": None})
    assert copy.all_regions == scenario.all_regions
    assert copy.region_timezone("lahore") == "Asia/Karachi"


def test_a_scenario_survives_pickling_with_its_typed_values():
    scenario = parse_scenario(scenario_dict())
    again = pickle.loads(pickle.dumps(scenario))
    assert again == scenario
    assert again.simulation.start_s == scenario.simulation.start_s
    assert again.fleet[0].id_pattern == scenario.fleet[0].id_pattern
    assert again.region_timezone("tashkent") == "Asia/Tashkent"
