import pytest

from metersim.config import parse_scenario
from metersim.errors import ConfigError
from metersim.timebase import parse_instant
from tests.conftest import scenario_dict


def test_duration_or_end():
    with pytest.raises(ConfigError, match="exactly one of `duration` and `end`"):
        parse_scenario(scenario_dict(end="2026-01-02T00:00:00+05:00"))
    data = scenario_dict(end="2026-01-02T00:00:00+05:00")
    del data["simulation"]["duration"]
    assert parse_scenario(data).simulation.duration_s == 86400


def test_the_section_is_kept_as_written_and_as_typed_values():
    sim = parse_scenario(scenario_dict(duration="1d12h")).simulation
    assert sim.start == "2026-01-01T00:00:00+05:00"
    assert sim.start_s == parse_instant("2026-01-01T00:00:00+05:00") == 1767207600
    assert not sim.starts_now
    assert (sim.duration, sim.duration_s, sim.end, sim.end_s) == ("1d12h", 129600, None, None)
    data = scenario_dict(end="2026-01-03T00:00:00Z")
    del data["simulation"]["duration"]
    sim = parse_scenario(data).simulation
    assert sim.end_s == parse_instant("2026-01-03T00:00:00Z")
    assert sim.duration_s == sim.end_s - 1767207600
    now = parse_scenario(scenario_dict(start="now", duration=3600)).simulation
    assert now.start == "now" and now.starts_now and now.start_s is None and now.duration_s == 3600


def test_typed_values_follow_a_copy_with_new_fields():
    sim = parse_scenario(scenario_dict()).simulation
    copy = sim.model_copy(update={"duration": "2h", "start": "now"})
    assert (copy.duration_s, copy.start_s) == (7200, None)
    assert (sim.duration_s, sim.start_s) == (86400, 1767207600)


@pytest.mark.parametrize(
    ("backfill", "seconds"),
    [(False, None), (True, 0), ("6h", 21600), ("1d12h", 129600), (3600, 3600)],
)
def test_backfill_is_off_true_or_a_duration(backfill, seconds):
    sim = parse_scenario(scenario_dict(start="now", backfill=backfill)).simulation
    assert sim.backfill == backfill and sim.backfill_s == seconds
    assert parse_scenario(scenario_dict(start="now")).simulation.backfill_s is None  # the default: none


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"start": "now", "backfill": "soon"},
            "simulation.backfill: must be true, false or a duration such as 6h or 7d",
        ),
        ({"start": "now", "backfill": 0}, "simulation.backfill: must be true, false or a duration such as 6h or 7d"),
        ({"start": "now", "backfill": 1.5}, "simulation.backfill: must be true, false or a duration such as 6h or 7d"),
        ({"backfill": True}, "simulation: `backfill` needs `start: now`"),
        ({"backfill": "1d"}, "simulation: `backfill` needs `start: now`"),
        ({"start": "yesterday"}, "simulation.start: not an ISO 8601 timestamp: 'yesterday'"),
        ({"start": "2026-01-01T00:00:00"}, "simulation.start: timestamp '2026-01-01T00:00:00' needs a UTC offset"),
        ({"duration": "5x"}, "simulation.duration: not a duration: '5x'"),
        ({"duration": 0}, "simulation.duration: duration must be positive, got 0"),
        ({"duration": None, "end": "2025-01-01T00:00:00Z"}, "simulation: `end` must be after `start`"),
        ({"duration": None, "start": "now", "end": "2027-01-01T00:00:00Z"}, "simulation: `end` needs a fixed `start`"),
        ({"duration": None}, "simulation: give exactly one of `duration` and `end`"),
    ],
)
def test_bad_sections(changes, message):
    with pytest.raises(ConfigError) as info:
        parse_scenario(scenario_dict(**changes))
    assert any(p.startswith(message) for p in info.value.problems), info.value.problems
