"""The command wiring of a shard: a command for another shard's meter is that shard's to answer."""

from __future__ import annotations

import json

from metersim.commands.handler import CommandHandler
from metersim.commands.log import Inbound
from metersim.commands.wiring import _elsewhere
from metersim.config import parse_scenario
from metersim.config.commands import CommandsConfig
from metersim.scale.shards import Shard, plan
from metersim.simulation import build_groups
from metersim.streams import CHUNK
from metersim.windows import resolve_window
from tests.conftest import scenario_dict


def _sharded():
    data = scenario_dict()
    data["fleet"][0]["count"] = 2 * CHUNK  # PK-LESCO-000001 .. 008192: two chunks, two shards
    scenario = parse_scenario(data)
    window, _ = resolve_window(scenario)
    return scenario, window, build_groups(scenario, window, plan(scenario, Shard(0, 2)))


def test_a_shard_knows_which_meters_are_another_shards():
    scenario, window, simulators = _sharded()
    elsewhere = _elsewhere(scenario, simulators)
    assert [s.group.name for s in simulators] == ["lahore"]  # the gas meters are shard 1's
    assert not elsewhere("PK-LESCO-000001") and not elsewhere(f"PK-LESCO-{CHUNK:06d}")
    assert elsewhere(f"PK-LESCO-{CHUNK + 1:06d}") and elsewhere("UZ-GAS-000001")
    assert not elsewhere("NOT-A-METER")
    assert not _elsewhere(scenario, build_groups(scenario, window))("UZ-GAS-000001")  # a whole run holds all


def test_a_shard_leaves_another_shards_meters_unanswered_and_refuses_unknown_ones():
    scenario, window, simulators = _sharded()
    answers: list[dict[str, object]] = []
    handler = CommandHandler(
        CommandsConfig.model_validate({}),
        simulators,
        seed=1,
        reply=lambda topic, payload, qos, corr: answers.append(json.loads(payload)),
        qos=1,
        elsewhere=_elsewhere(scenario, simulators),
    )
    now = [float(window.start_s)]
    handler.clock = lambda: now[0]
    timeline = handler.run(window.start_s, window.start_s + 60)
    now[0] = float(next(timeline))  # the first poll is due at once
    for n, meter in enumerate(["PK-LESCO-000001", f"PK-LESCO-{CHUNK + 1:06d}", "NOT-A-METER"]):
        handler.receive(Inbound(f"metersim/cmd/{meter}", json.dumps({"id": f"c{n}", "command": "ping"}).encode()))
    for wake in timeline:  # the handler's clock follows its timeline, as the engine's does
        now[0] = max(now[0], float(wake))
    assert sorted((a["id"], a["status"]) for a in answers) == [("c0", "ok"), ("c2", "error")]
    assert handler.counters.received == 2
