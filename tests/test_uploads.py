"""Concentrator uploads: each DCU sends its meters' readings together every `upload_every_s`, at a phase of
its own; the readings are those of a run without uploads, only their `sent_at` moves (to the first upload
at or after the report slot), and the readings a DCU uploads at once leave in one emission."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.timebase import parse_instant
from tests.conftest import make_scenario, scenario_dict

UPLOAD_S = 3600


def _scenario(upload_every_s: int | None, **extra: Any) -> Any:
    data = scenario_dict(duration="6h")
    group = data["fleet"][0]
    group["count"] = 40
    group["concentrator"] = {"meters": 10, "upload_every_s": upload_every_s}
    group.update(extra)
    data["fleet"] = [group]
    return make_scenario(data)


def _run(scenario: Any, **sink: Any) -> MemorySink:
    out = MemorySink(**sink)
    Simulation(scenario, sinks=[out]).run()
    return out


def test_readings_leave_at_their_concentrators_uploads_and_are_otherwise_unchanged():
    direct, uploaded = _run(_scenario(None)).readings(), _run(_scenario(UPLOAD_S)).readings()
    key = lambda r: (r["meter_id"], r["seq"])  # noqa: E731
    assert sorted(map(key, direct)) == sorted(map(key, uploaded))
    plain = {key(r): r for r in direct}
    phases: dict[str, set[int]] = defaultdict(set)
    for reading in uploaded:
        before = plain[key(reading)]
        assert {**reading, "sent_at": 0} == {**before, "sent_at": 0}  # quality stays valid: not a fault
        slot, sent = parse_instant(before["sent_at"]), parse_instant(reading["sent_at"])
        assert slot <= sent < slot + UPLOAD_S  # the first upload at or after the slot
        phases[reading["concentrator"]].add(sent % UPLOAD_S)
    assert len(phases) == 4 and all(len(p) == 1 for p in phases.values())  # one phase per DCU
    assert len({next(iter(p)) for p in phases.values()}) > 1  # and not all the same


def test_what_a_concentrator_uploads_at_once_is_one_emission_when_a_format_batches():
    sink, batches = MemorySink(), MemorySink(topic="b/{concentrator}", format="batch")
    Simulation(_scenario(UPLOAD_S), sinks=[sink, batches]).run()
    readings = sink.readings()
    start = 0
    for count in sink.emissions:
        emission = readings[start : start + count]
        start += count
        assert len({(r["concentrator"], r["sent_at"]) for r in emission}) == 1
    assert max(sink.emissions) >= 30  # 10 meters x 3 to 4 intervals of 15 min in an hour
    assert len(batches.messages) == len(sink.emissions)  # one batch message an upload
    # without a batching output the readings leave one interval at a time (joining costs copies)
    alone = _run(_scenario(UPLOAD_S))
    assert alone.readings() == readings and max(alone.emissions) <= 10


def test_grid_side_meters_and_groups_without_uploads_are_untouched():
    grid = {"grid": {"transformers_per_feeder": 2}}
    direct = _run(_scenario(None, **grid)).readings()
    uploaded = _run(_scenario(UPLOAD_S, **grid)).readings()
    grid_side = lambda rs: sorted((r["meter_id"], r["seq"], r["sent_at"]) for r in rs if "device" in r)  # noqa: E731
    assert grid_side(direct) == grid_side(uploaded) and grid_side(direct)
