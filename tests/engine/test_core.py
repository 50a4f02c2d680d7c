"""Properties of what the engine emits, checked over generated scenarios."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from datetime import datetime
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario, run_to_memory, scenario_dict

INTERVALS = [60, 300, 900, 3600]


@st.composite
def scenarios(draw):
    data = scenario_dict(seed=draw(st.integers(0, 2**32)))
    interval_e, interval_g = draw(st.sampled_from(INTERVALS)), draw(st.sampled_from(INTERVALS))
    data["simulation"]["duration"] = max(interval_e, interval_g) * draw(st.integers(1, 4))
    data["fleet"][0].update(count=draw(st.integers(1, 12)), interval_s=interval_e)
    data["fleet"][1].update(count=draw(st.integers(1, 12)), interval_s=interval_g)
    data["fleet"][0]["jitter_s"] = draw(st.integers(0, interval_e - 1))
    return make_scenario(data)


def milli(value: float) -> int:
    return round(value * 1000)


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_readings_obey_the_register_and_sequence_rules(scenario):
    readings = run_to_memory(scenario).readings()
    by_meter = defaultdict(list)
    for r in readings:
        by_meter[r["meter_id"]].append(r)
    groups = {g.name: g for g in scenario.fleet}
    assert len(by_meter) == scenario.meter_count
    expected_total = sum(g.count * scenario.simulation.duration_s // g.interval_s for g in groups.values())
    assert len(readings) == expected_total
    for series in by_meter.values():
        n = scenario.simulation.duration_s // series[0]["interval_s"]
        assert [r["seq"] for r in series] == list(range(n))
        (obis,) = series[0]["registers"]
        registers = [milli(r["registers"][obis]) for r in series]
        values = [milli(r["interval"]["value"]) for r in series]
        initial = registers[0] - values[0]
        assert initial >= 0
        running = initial
        for register, value in zip(registers, values):
            running += value
            assert register == running
        assert registers == sorted(registers)
        stamps = [datetime.fromisoformat(r["ts"]).timestamp() for r in series]
        assert all(b - a == series[0]["interval_s"] for a, b in pairwise(stamps))


@settings(max_examples=20, deadline=None)
@given(scenarios())
def test_reports_arrive_within_the_jitter_window(scenario):
    jitter = {g.name: g.effective_jitter_s for g in scenario.fleet}
    commodity_group = {g.commodity: g.name for g in scenario.fleet}
    for r in run_to_memory(scenario).readings():
        delay = datetime.fromisoformat(r["sent_at"]).timestamp() - datetime.fromisoformat(r["ts"]).timestamp()
        assert 0 <= delay < max(1, jitter[commodity_group[r["commodity"]]])


def test_same_seed_same_bytes_and_other_seed_differs():
    first = run_to_memory(make_scenario(seed=3)).messages
    assert run_to_memory(make_scenario(seed=3)).messages == first
    assert run_to_memory(make_scenario(seed=4)).messages != first


def test_paced_run_emits_the_same_bytes_as_a_fast_run():
    scenario = make_scenario(duration="2h")
    fast = run_to_memory(scenario).messages
    paced = run_to_memory(scenario, speed=7200 * 20).messages  # 2 h simulated in ~0.05 s of wall time
    assert paced == fast


def test_paced_run_follows_the_wall_clock_and_stops_on_request():
    scenario = make_scenario(duration="1h", speed=3600 / 2)
    sink = MemorySink()
    simulation = Simulation(scenario, sinks=[sink])
    threading.Timer(0.6, simulation.stop).start()
    began = time.monotonic()
    report = simulation.run()
    elapsed = time.monotonic() - began
    assert simulation.interrupted and report.status == "interrupted"
    assert 0.5 < elapsed < 1.5
    # About a quarter of the hour's four 15-minute intervals was simulated before the stop.
    assert 0 < len(sink.messages) < 4 * 20 + 10


def test_topics_carry_the_meters_place_in_the_grid():
    data = scenario_dict(duration="15m")
    data["fleet"] = [dict(data["fleet"][0], count=4, region="lahore", grid={"transformers_per_feeder": 2})]
    sink = run_to_memory(make_scenario(data))
    topics = {t for t, _ in sink.messages}
    sink_template = MemorySink("m/{region}/{feeder}/{transformer}/{meter_id}")
    Simulation(make_scenario(data), sinks=[sink_template]).run()
    placed = {t for t, _ in sink_template.messages}
    assert "m/lahore/lahore-SS01-F01/lahore-SS01-F01-T001/PK-LESCO-000001" in placed
    assert "m/lahore/lahore-SS01-F01//lahore-SS01-F01" in placed  # the feeder's own grid-side meter
    assert len(placed) == len(topics) == 4 + 4 + 2  # meters, transformers, feeders


def test_a_paced_run_reports_how_late_its_emissions_left():
    report = Simulation(make_scenario(duration="1h", speed=3600 * 20), sinks=[MemorySink()]).run()
    assert report.lateness is not None
    assert 0 <= report.lateness["p50_ms"] <= report.lateness["p99_ms"] <= report.lateness["max_ms"] < 1000
    assert Simulation(make_scenario(duration="1h"), sinks=[MemorySink()]).run().lateness is None


def test_every_reading_is_counted_at_each_step():
    sink = MemorySink()
    report = Simulation(make_scenario(duration="2h"), sinks=[sink]).run()
    expected = 20 * 8 + 10 * 2
    assert report.readings_generated == report.readings_published == expected
    assert report.readings_encoded == {"json": expected}  # the discard output encoded nothing
    assert [o.accepted for o in report.outputs] == [expected, expected]
    assert [o.acknowledged for o in report.outputs] == [expected, expected]


class Clocked(MemorySink):
    """Records when (monotonic wall time [s]) each message was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def send(self, outbox) -> None:  # type: ignore[no-untyped-def]
        super().send(outbox)
        self.at += [time.monotonic()] * len(outbox)


def test_a_last_gasp_leaves_when_the_supply_goes_not_at_the_interval_end():
    """Paced at 600x: a 15-min interval is 1.5 wall seconds. The feeder is shed at 00:05 local, so its
    meters' power_down events are due 1 s of wall time before the interval's readings (at 00:15)."""
    data = scenario_dict(duration="30m", speed=600)
    group = data["fleet"][0]
    group.update(count=4, jitter_s=0, grid={"transformers_per_feeder": 1, "feeders_per_substation": 1})
    group["supply"] = {
        "load_shedding": [{"name": "all", "share": 1.0, "windows": [{"start": "00:05", "end": "00:25"}]}]
    }
    data["fleet"] = [group]
    sink = Clocked()
    Simulation(make_scenario(data), sinks=[sink]).run()
    decoded = [(t, json.loads(p)) for t, (_, p) in zip(sink.at, sink.messages)]
    downs = [t for t, m in decoded if m.get("event") == "power_down"]
    ups = [t for t, m in decoded if m.get("event") == "power_up"]
    first_readings = [t for t, m in decoded if m.get("seq") == 0]
    assert len(downs) == len(ups) == 4 and first_readings
    assert max(downs) < min(first_readings) - 0.6  # ~1.0 s early; at the interval end it would be ~0
    assert min(ups) > max(first_readings) + 0.6  # 00:25, in the second interval: ~1.0 s after its start
