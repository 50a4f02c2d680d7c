"""``metersim verify --replay-commands``: the regenerated stream of a run that answered commands holds
what that run published (a disconnected meter's zeros), not what it would have published without them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from metersim.config import load_scenario
from metersim.verify.expected import regenerate
from tests.test_commands_run import broker, entry, replay, write_log, write_scenario

__all__ = ["broker"]  # the module-scoped embedded broker fixture


def test_regenerating_with_the_command_log_gives_the_run_s_payloads(tmp_path: Path, broker: str):
    scenario_path = write_scenario(tmp_path, broker)
    log = write_log(tmp_path, [entry(0, 60, "PK-0002", {"id": "d1", "command": "disconnect"})])
    done = replay(scenario_path, log)
    assert done.returncode == 0, done.stderr.decode()
    published = {
        (r["meter_id"], r["seq"]): line.encode()
        for line in (tmp_path / "out/readings.jsonl").read_text().splitlines()
        if (r := json.loads(line))["schema"] == "metersim/reading/v1"
    }
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scenario = load_scenario(scenario_path)
        with_log = regenerate(scenario, replay_commands=str(log))
        without = regenerate(scenario)
    finally:
        os.chdir(cwd)
    assert {k: r.payload for k, r in with_log.readings.items()} == published
    # without the log the disconnected meter's intervals after 00:15 differ (they were 0 in the run)
    differ = sorted(k for k, r in without.readings.items() if r.payload != published[k])
    assert differ and {m for m, _ in differ} == {"PK-0002"}
    assert all(json.loads(published[k])["interval"]["value"] == 0.0 for k in differ)
