"""Chunk-addressable fleets: any range of whole chunks, built and stepped alone, equals the same meters
inside the whole group."""

from __future__ import annotations

import time

import numpy as np
import pytest

from metersim.fleet import build_attributes
from metersim.group import GroupSimulator
from metersim.records import ReadingBatch
from metersim.simulation import Simulation, build_groups
from metersim.sinks.memory import MemorySink
from metersim.streams import CHUNK, MeterRange
from metersim.windows import resolve_window
from tests.conftest import make_scenario, scenario_dict

SHARD = MeterRange(4096, 12288)  # chunks 1 and 2: meters 4,096-12,287


def _rich_group(count: int) -> dict:
    return {
        "name": "feeder",
        "commodity": "electricity",
        "count": count,
        "timezone": "Asia/Karachi",
        "region": "lahore",
        "annual_kwh": 3000,
        "pv": {"fraction": 0.3},
        "solar_water_heater": {"fraction": 0.2},
        "instantaneous": {"phases": 3},
        "tariff": "tou",
        "grid": {"substations": 2, "feeders_per_substation": 2, "transformers_per_feeder": 4},
    }


def _scenario(count: int, **simulation):
    data = scenario_dict(duration="2h", **simulation)
    data["tariffs"] = {
        "tou": {
            "bands": [{"name": "peak", "windows": [{"start": "00:00", "end": "00:30"}]}, {"name": "rest"}],
            "prices": {"peak": 2, "rest": 1},
        }
    }
    data["fleet"] = [_rich_group(count), dict(data["fleet"][1], count=count)]
    return make_scenario(data)


def _rows(batch: ReadingBatch, rows: np.ndarray) -> dict:
    taken = batch.take(rows)
    arrays = {
        "true": taken.true_milli,
        "import": taken.import_milli,
        "export": taken.export_milli,
        "sent": taken.sent_s,
        "band": taken.band,
        "total": taken.registers.total,
        "bands": taken.registers.bands,
        "export_bands": taken.registers.export_bands,
        "converted": taken.registers.converted,
        "battery": taken.battery_pct,
    }
    if taken.instantaneous is not None:
        arrays |= {"volts": taken.instantaneous.volts, "amps": taken.instantaneous.amps}
    return arrays


@pytest.mark.parametrize("group", [0, 1])
def test_a_shard_of_chunks_steps_exactly_like_the_same_meters_in_the_whole_group(group):
    count = 3 * CHUNK + 100
    scenario = _scenario(count)
    window, _ = resolve_window(scenario)
    whole = build_groups(scenario, window)[group]
    (shard,) = build_groups(scenario, window, {scenario.fleet[group].name: SHARD})
    assert shard.meter_set.ids == whole.meter_set.ids[SHARD.start : SHARD.stop]
    inside = np.arange(SHARD.start, SHARD.stop)
    for seq in range(4):
        end = window.start_s + (seq + 1) * whole.interval_s
        full, part = whole.step(seq, end).meters, shard.step(seq, end).meters
        expected, got = _rows(full, inside), _rows(part, np.arange(SHARD.count))
        for name, values in expected.items():
            if values is None:
                assert got[name] is None
            else:
                np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_a_shard_run_publishes_the_readings_of_the_same_meters_in_a_full_run():
    count = 3 * CHUNK + 100
    scenario = _scenario(count, seed=11)
    full, shard = MemorySink(), MemorySink()
    Simulation(scenario, sinks=[full]).run()
    Simulation(scenario, sinks=[shard], meters={"feeder": SHARD, "tashkent": SHARD}).run()
    ids = {f"feeder-{i + 1:06d}" for i in range(SHARD.start, SHARD.stop)}
    ids |= {f"UZ-GAS-{i + 1:06d}" for i in range(SHARD.start, SHARD.stop)}
    topology = build_attributes(scenario.fleet[0], 11).topology
    assert topology is not None
    whole_t, whole_f = topology.whole(SHARD)
    grid_ids = {t for t, w in zip(topology.transformer_ids, whole_t) if w}
    grid_ids |= {f for f, w in zip(topology.feeder_ids, whole_f) if w}
    assert grid_ids  # the shard holds some transformers whole, and their meters balance inside it
    wanted = ids | grid_ids
    expected = [m for m in full.messages if m[1].split(b'"')[3].decode() in wanted]
    assert sorted(shard.messages) == sorted(expected)


def _neighbours(small_count: int) -> None:
    """The same meters' numbers from the step, in a group of ``small_count`` and in a group of 3 chunks."""
    began = time.monotonic()
    small, large = scenario_dict(), scenario_dict()
    small["fleet"][0]["count"] = small_count
    large["fleet"][0]["count"] = 3 * CHUNK
    large["fleet"].reverse()
    runs = []
    for data in (small, large):
        scenario = make_scenario(data)
        window, _ = resolve_window(scenario)
        (simulator,) = [s for s in build_groups(scenario, window) if s.group.name == "lahore"]
        runs.append([simulator.step(seq, window.start_s + (seq + 1) * 900).meters for seq in range(8)])
    first = np.arange(min(small_count, 64))
    for a, b in zip(*runs):
        for name, values in _rows(a, first).items():
            if values is not None:
                np.testing.assert_array_equal(_rows(b, first)[name], values, err_msg=name)
    assert time.monotonic() - began < 1.0


def test_a_meter_does_not_depend_on_its_neighbours():
    _neighbours(CHUNK)


def test_a_meter_in_a_partial_chunk_does_not_depend_on_its_neighbours():
    _neighbours(20)


def test_a_range_must_hold_whole_chunks():
    with pytest.raises(ValueError, match="chunk boundary"):
        MeterRange(100, 5000)
    group = make_scenario().fleet[0]
    with pytest.raises(ValueError, match="beyond"):
        build_attributes(group, 1, MeterRange(0, CHUNK))


def test_group_simulator_takes_any_range():
    scenario = _scenario(2 * CHUNK)
    window, _ = resolve_window(scenario)
    attributes = build_attributes(scenario.fleet[1], 1, MeterRange.of_chunks(1, 2, 2 * CHUNK))
    simulator = build_groups(scenario, window)[1]
    part = GroupSimulator(
        attributes, seed=1, start_s=window.start_s, weather=simulator.weather, climate=None, tariff=None
    )
    assert part.meter_set.count == CHUNK and part.meter_set.ids[0] == f"UZ-GAS-{CHUNK + 1:06d}"
