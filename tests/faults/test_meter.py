"""Meter faults, through real runs: every kind shows in the stream exactly as its labels say, and
nowhere else; nothing at rate zero; the same seed gives the same faults whatever the fleet size.

The scenario (tests/conftest.py): 20 electricity meters PK-LESCO-000001.. at 15 min from
2026-01-01T00:00+05:00 (2 days here), so reading ``seq`` ends at 00:15 + 15 min x seq.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from metersim.config.faults import MeterFaultsConfig
from metersim.engine import Observer
from metersim.faults.episodes import Offsets, apply_offsets
from metersim.faults.meter import MeterFaults
from metersim.records import EVENT_CODES, Label, Observation, RegisterValues
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.timebase import parse_instant
from tests.conftest import make_scenario, scenario_dict

STEP = 900
START = parse_instant("2026-01-01T00:00:00+05:00")
WRAP = 1_000_000_000  # six digits [Wh]
Key = tuple[str, int]


class Log(Observer):
    def __init__(self, faults: MeterFaults | None = None) -> None:
        self.labels: list[Label] = []
        self.events: list[tuple[str, int, int]] = []
        self.faults = faults

    def observe(self, observation: Observation) -> None:
        self.labels += observation.labels
        batch = observation.published.meters
        assert (batch.true_milli == observation.true.meters.true_milli).all()  # the truth is untouched
        if self.faults is not None:
            rows, time_s, code = self.faults.events(batch)
            self.events += [
                (batch.meters.ids[r], t, c) for r, t, c in zip(rows.tolist(), time_s.tolist(), code.tolist())
            ]


def scenario(count: int = 20, days: int = 2) -> Any:
    data = scenario_dict(duration=f"{days}d")
    data["fleet"][0]["count"] = count
    return make_scenario(data)


def faults(sc: Any, seed: int = 42, **sections: Any) -> MeterFaults:
    window = (sc.simulation.start_s, sc.simulation.start_s + sc.simulation.duration_s)
    return MeterFaults(MeterFaultsConfig(**sections), seed=seed, group="lahore", count=sc.fleet[0].count, window=window)


def run(sc: Any, *transforms: MeterFaults) -> tuple[dict[Key, dict], Log]:
    sink, log = MemorySink(), Log(transforms[0] if transforms else None)
    Simulation(sc, sinks=[sink], transforms=list(transforms), observers=[log]).run()
    return {(r["meter_id"], r["seq"]): r for r in sink.readings()}, log


def milli(reading: dict, what: str = "register") -> int:
    value = reading["registers"]["1-0:1.8.0"] if what == "register" else reading["interval"]["value"]
    return round(value * 1000)


def without(reading: dict, field: str) -> dict:
    return {k: v for k, v in reading.items() if k != field}


def seqs(label: Label) -> range:
    return range((label.start_s - START) // STEP - 1, (label.end_s - START) // STEP)


@pytest.fixture(scope="module")
def plain() -> dict[Key, dict]:
    return run(scenario())[0]


def one_kind(plain: dict[Key, dict], kind: str, **sections: Any) -> tuple[dict[Key, dict], list[Label]]:
    """A run with one fault: its labels do not overlap per meter, and readings outside them are unchanged."""
    out, log = run(scenario(), faults(scenario(), **sections))
    labels = [label for label in log.labels if label.kind == kind]
    assert labels and len(labels) == len(log.labels)
    covered = set()
    for label in labels:
        keys = {(label.meter_id, s) for s in seqs(label)}
        assert not keys & covered, "episodes of one meter overlap: pick another rate"
        covered |= keys
    assert out.keys() == plain.keys()
    for key, reading in out.items():
        if key not in covered and key[0].startswith("PK") and kind not in ("reverse_flow", "meter_replacement"):
            assert reading == plain[key]
    return out, labels


def test_stuck_register_is_flat_over_its_span_then_catches_up(plain):
    out, labels = one_kind(plain, "stuck_register", stuck_register={"per_meter_per_year": 40, "hours_median": 3})
    for label in labels:
        span = list(seqs(label))
        m, first, last = label.meter_id, span[0], span[-1]
        flat = milli(plain[m, first]) - milli(plain[m, first], "interval")
        for s in span[:-1]:
            assert milli(out[m, s]) == flat and milli(out[m, s], "interval") == 0
        assert milli(out[m, last]) == milli(plain[m, last])
        if label.start_s > START + STEP:  # not cut by the run's start
            assert milli(out[m, last], "interval") == sum(milli(plain[m, s], "interval") for s in span)


def test_spike_multiplies_the_one_labelled_interval_by_1000(plain):
    out, labels = one_kind(plain, "spike", spike={"per_meter_per_year": 40})
    for label in labels:
        assert label.start_s == label.end_s and label.severity == 1000
        (s,) = seqs(label)
        key = (label.meter_id, s)
        assert milli(out[key], "interval") == 1000 * milli(plain[key], "interval")
        assert out[key]["registers"] == plain[key]["registers"]


def test_negative_interval_negates_one_value(plain):
    out, labels = one_kind(plain, "negative_interval", negative_interval={"per_meter_per_year": 40})
    for label in labels:
        (s,) = seqs(label)
        key = (label.meter_id, s)
        assert milli(out[key], "interval") == -milli(plain[key], "interval")
        assert out[key]["registers"] == plain[key]["registers"]


def test_reverse_flow_stops_the_import_register_for_its_span(plain):
    out, labels = one_kind(plain, "reverse_flow", reverse_flow={"per_meter_per_year": 20, "hours_median": 2})
    lost: dict[str, int] = defaultdict(int)
    for label in sorted(labels, key=lambda x: x.start_s):
        for s in seqs(label):
            lost[label.meter_id] += milli(plain[label.meter_id, s], "interval")
            assert milli(out[label.meter_id, s], "interval") == 0
        after = (label.meter_id, seqs(label)[-1])
        assert milli(out[after]) == (milli(plain[after]) - lost[label.meter_id]) % WRAP
    assert all("export" not in r for r in out.values())  # these meters have no export register


def test_replacement_restarts_the_register_and_names_the_new_serial(plain):
    out, labels = one_kind(plain, "meter_replacement", replacement={"per_meter_per_year": 30})
    ends = 2 * 96 - 1
    for label in labels:
        assert "new serial SN" in label.detail and seqs(label)[-1] == ends
        m, s = label.meter_id, seqs(label)[0]
        assert milli(out[m, s]) == round(label.severity * 1000) + milli(plain[m, s], "interval")
        offset = milli(out[m, s]) - milli(plain[m, s])
        serial = re.search(r"new serial (SN\d{8})", label.detail)[1]
        assert out[m, s]["serial"] == serial  # the payload names the new meter from its first reading on
        if sum(1 for x in labels if x.meter_id == m) == 1:
            assert all(milli(out[m, k]) - milli(plain[m, k]) == offset for k in range(s, ends + 1))
            assert all(out[m, k]["serial"] == serial for k in range(s, ends + 1))
            assert all(without(out[m, k], "serial") == plain[m, k] for k in range(s))
            assert len({out[m, k]["serial"] for k in range(s)} - {serial}) == (s > 0)  # the old meter's
    replaced = {label.meter_id for label in labels}
    others = {k[0]: r["serial"] for k, r in out.items() if k[0].startswith("PK") and k[0] not in replaced}
    assert others and all(re.fullmatch(r"SN\d{8}", v) for v in others.values())
    assert all(out[k]["serial"] == others[k[0]] for k in out if k[0] in others)  # never changes


def test_rollover_starts_below_the_wrap_and_wraps_in_the_run(plain):
    out, labels = one_kind(plain, "rollover", rollover={"fraction": 0.3, "headroom_kwh": 5.0})
    for label in labels:
        m = label.meter_id
        first = out[m, 0]
        assert milli(first) - milli(first, "interval") == WRAP - round(label.severity * 1000)
        offset = (milli(first) - milli(plain[m, 0])) % WRAP
        registers = [milli(out[m, s]) for s in seqs(label)]
        assert registers == [(milli(plain[m, s]) + offset) % WRAP for s in seqs(label)]
        assert sum(b < a for a, b in itertools.pairwise(registers)) == 1  # rolled over once


def test_clock_drift_shifts_times_by_the_drift_since_the_last_sync(plain):
    sc = scenario()
    drift = faults(sc, clock_drift={"fraction": 0.5, "s_per_day": [40.0, 80.0], "sync_every_days": 1})
    out, log = run(sc, drift)
    labels = [label for label in log.labels if label.kind == "clock_drift"]
    assert {label.kind for label in log.labels} == {"clock_drift"}
    for key, reading in out.items():
        shift = parse_instant(reading["ts"]) - parse_instant(plain[key]["ts"])
        assert parse_instant(reading["sent_at"]) - parse_instant(plain[key]["sent_at"]) == shift
        assert {**reading, "ts": 0, "sent_at": 0, "quality": 0} == {**plain[key], "ts": 0, "sent_at": 0, "quality": 0}
        if not any(label.meter_id == key[0] for label in labels):
            assert shift == 0
    for label in labels:
        m = label.meter_id
        shifts = [parse_instant(out[m, s]["ts"]) - parse_instant(plain[m, s]["ts"]) for s in seqs(label)]
        assert shifts == sorted(shifts) and 0 <= shifts[-1] <= round(label.severity)  # at most a day's drift
    syncs = {(m, t) for m, t, code in log.events if code == EVENT_CODES["clock_adjusted"]}
    starts = {(label.meter_id, label.start_s) for label in labels if label.start_s > START + STEP}
    # a sync at t starts a new label at the reading of the interval holding t (the first end >= t)
    assert {(m, t + (START - t) % STEP) for m, t in syncs} == starts and starts
    # the interval holding a sync is flagged by the meter itself, and only that one
    synced = {(m, (t + (START - t) % STEP - START) // STEP - 1) for m, t in syncs}
    assert {key for key, r in out.items() if r["quality"] == "suspect"} == synced
    assert all(r["quality"] == "valid" for key, r in out.items() if key not in synced)


def test_every_kind_at_rate_zero_leaves_no_trace(plain):
    sc = scenario()
    zero = faults(
        sc,
        clock_drift={"fraction": 0.0},
        stuck_register={"per_meter_per_year": 0},
        spike={"per_meter_per_year": 0},
        rollover={"fraction": 0},
        replacement={"per_meter_per_year": 0},
        reverse_flow={"per_meter_per_year": 0},
        negative_interval={"per_meter_per_year": 0},
    )
    assert zero.idle and faults(sc).idle
    out, log = run(sc, zero)
    assert out == plain and log.labels == []


ALL: dict[str, Any] = {
    "clock_drift": {"fraction": 0.3, "s_per_day": [-20.0, 20.0], "sync_every_days": 1},
    "stuck_register": {"per_meter_per_year": 30},
    "spike": {"per_meter_per_year": 30},
    "rollover": {"fraction": 0.2},
    "replacement": {"per_meter_per_year": 30},
    "reverse_flow": {"per_meter_per_year": 30},
    "negative_interval": {"per_meter_per_year": 30},
}


def test_same_seed_same_faults_and_independent_of_fleet_size():
    big, small = scenario(20), scenario(7)
    a_out, a = run(big, faults(big, **ALL))
    b_out, b = run(big, faults(big, **ALL))
    c_out, c = run(small, faults(small, **ALL))
    _, d = run(big, faults(big, seed=7, **ALL))
    assert a.labels == b.labels and a_out == b_out
    assert {label.kind for label in a.labels} == {
        "clock_drift", "stuck_register", "spike", "rollover", "meter_replacement", "reverse_flow", "negative_interval"
    }  # fmt: skip
    mine = {f"PK-LESCO-{k:06d}" for k in range(1, 8)}
    assert sorted(map(repr, c.labels)) == sorted(repr(x) for x in a.labels if x.meter_id in mine)
    # (the plain stream of a meter may itself depend on the fleet size: compare what the faults changed)
    a_plain, c_plain = run(big)[0], run(small)[0]

    def changed(out: dict[Key, dict], base: dict[Key, dict]) -> dict[Key, tuple[int, bool]]:
        shift = {k: parse_instant(v["ts"]) - parse_instant(base[k]["ts"]) for k, v in out.items() if k[0] in mine}
        return {k: (shift[k], out[k] != base[k]) for k in shift}

    assert changed(a_out, a_plain) == changed(c_out, c_plain)
    assert a.labels != d.labels


def test_idle_faults_return_the_same_batch_object():
    sc = scenario()
    seen = []

    class Grab(Observer):
        def observe(self, observation: Observation) -> None:
            seen.append(observation.true.meters)

    Simulation(sc, sinks=[MemorySink()], observers=[Grab()]).run()
    batch = seen[0]
    assert faults(sc)(batch) == (batch, [])
    assert faults(sc, spike={"per_meter_per_year": 0})(batch)[0] is batch


def test_offsets_keep_the_bands_summing_to_the_total_mod_the_wrap():
    offsets = Offsets(2)
    offsets.add(np.array([2, 0]), offsets.delta(np.array([1, 0]), np.array([-30, 5])))
    offsets.add(np.array([2]), offsets.delta(np.array([0]), np.array([-1])))
    assert offsets.pos.tolist() == [0, 2]
    assert offsets.val.tolist() == [[5, 5, 0, 0, 0, 0], [-31, -1, -30, 0, 0, 0]]
    registers = RegisterValues(total=np.array([100, 200, 20]), bands=np.array([[60, 150, 10], [40, 50, 10]]))
    out = apply_offsets(registers, np.array([0, 2]), offsets.val, 1000)
    assert out.total.tolist() == [105, 200, 989]
    assert out.bands is not None and out.bands.tolist() == [[65, 150, 9], [40, 50, 980]]
    assert ((out.bands.sum(axis=0) - out.total) % 1000 == 0).all()


def test_a_resumed_run_continues_from_the_state():
    sc = scenario()
    steps = []

    class Grab(Observer):
        def observe(self, observation: Observation) -> None:
            if observation.group == "lahore":
                steps.append(observation.true.meters)

    Simulation(sc, sinks=[MemorySink()], observers=[Grab()]).run()
    whole, first = faults(sc, **ALL), faults(sc, **ALL)
    expected = [whole(batch) for batch in steps]
    half = len(steps) // 2
    got = [first(batch) for batch in steps[:half]]
    resumed = faults(sc, **ALL)
    resumed.restore(first.state())
    got += [resumed(batch) for batch in steps[half:]]
    assert first.state() and len(expected) == len(got)
    for (a, a_labels), (b, b_labels) in zip(expected, got):
        assert a_labels == b_labels
        assert (a.import_milli == b.import_milli).all() and (a.end_s == b.end_s).all()
        assert (a.registers.total == b.registers.total).all()
