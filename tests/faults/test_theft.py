"""Theft, through real runs and one hand-made batch: registered = fraction x true in the theft hours
and only there, the truth untouched, tamper events where the labels say, nothing at rate zero.

The scenario (tests/conftest.py): 20 electricity meters PK-LESCO-000001.. at 15 min from
2026-01-01T00:00+05:00 (Asia/Karachi, no DST) for a day; reading ``seq`` ends at 00:15 + 15 min x seq,
so the readings of the intervals that start 18:00..20:45 local are seq 72..83.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from metersim.config.faults import TheftConfig
from metersim.engine import Observer
from metersim.faults.theft import Theft
from metersim.records import EVENT_CODES, Label, MeterSet, Observation, ReadingBatch, RegisterValues
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.timebase import parse_instant
from tests.conftest import make_scenario, scenario_dict

STEP = 900
START = parse_instant("2026-01-01T00:00:00+05:00")
EVENING = range(72, 84)  # seqs of the intervals starting 18:00 .. 20:45
Key = tuple[str, int]


class Log(Observer):
    def __init__(self, theft: Theft | None) -> None:
        self.labels: list[Label] = []
        self.events: list[tuple[str, int, int]] = []
        self.theft = theft

    def observe(self, observation: Observation) -> None:
        self.labels += observation.labels
        true, published = observation.true.meters, observation.published.meters
        assert (published.true_milli == true.true_milli).all() and (true.import_milli == true.true_milli).all()
        if self.theft is not None:
            rows, time_s, code = self.theft.events(published)
            ids = published.meters.ids
            self.events += [(ids[r], t, c) for r, t, c in zip(rows.tolist(), time_s.tolist(), code.tolist())]


def scenario(count: int = 20) -> Any:
    data = scenario_dict(duration="1d")
    data["fleet"][0]["count"] = count
    return make_scenario(data)


def theft(sc: Any, seed: int = 42, **sections: Any) -> Theft:
    window = (sc.simulation.start_s, sc.simulation.start_s + sc.simulation.duration_s)
    return Theft(TheftConfig(**sections), seed=seed, group="lahore", count=sc.fleet[0].count, window=window)


def run(sc: Any, transform: Theft | None = None) -> tuple[dict[Key, dict], Log]:
    sink, log = MemorySink(), Log(transform)
    Simulation(sc, sinks=[sink], transforms=[transform] if transform else [], observers=[log]).run()
    return {(r["meter_id"], r["seq"]): r for r in sink.readings()}, log


def milli(reading: dict, what: str = "register") -> int:
    value = reading["registers"]["1-0:1.8.0"] if what == "register" else reading["interval"]["value"]
    return round(value * 1000)


@pytest.fixture(scope="module")
def plain() -> dict[Key, dict]:
    return run(scenario())[0]


def test_bypass_registers_the_fraction_in_the_window_and_the_truth_is_unchanged(plain):
    sc = scenario()
    bypass = theft(sc, bypass={"fraction": 0.5, "registered_fraction": [0.4, 0.4], "hours": [18, 19, 20]})
    out, log = run(sc, bypass)
    thieves = {label.meter_id for label in log.labels}
    assert 0 < len(thieves) < 20 and {label.kind for label in log.labels} == {"theft_bypass"}
    for label in log.labels:  # one episode each: 18:15 .. 21:00 local
        assert (label.start_s, label.end_s) == (START + 73 * STEP, START + 84 * STEP)
        assert label.severity == pytest.approx(0.6)
    stolen = dict.fromkeys(thieves, 0)
    for (m, s), reading in sorted(out.items()):
        if m not in thieves:
            assert reading == plain[m, s]
            continue
        true = milli(plain[m, s], "interval")
        registered = (true * 4) // 10 if s in EVENING else true  # floor(0.4 x true)
        assert milli(reading, "interval") == registered
        stolen[m] += true - registered
        assert milli(reading) == milli(plain[m, s]) - stolen[m]
    positions, milli_stolen = bypass.stolen_milli()
    assert {f"PK-LESCO-{p + 1:06d}": v for p, v in zip(positions.tolist(), milli_stolen.tolist())} == stolen
    assert all(v > 0 for v in stolen.values())


def test_magnet_logs_42_at_the_window_opening_and_43_at_its_close(plain):
    sc = scenario()
    magnet = theft(sc, magnet={"fraction": 0.3, "registered_fraction": [0.5, 0.5], "hours": [18, 19, 20]})
    out, log = run(sc, magnet)
    thieves = sorted({label.meter_id for label in log.labels})
    assert thieves and {label.kind for label in log.labels} == {"theft_magnet"}
    opens, closes = START + 18 * 3600, START + 21 * 3600
    assert sorted(log.events) == sorted(
        [(m, opens, EVENT_CODES["magnetic_field_detected"]) for m in thieves]
        + [(m, closes, EVENT_CODES["magnetic_field_gone"]) for m in thieves]
    )
    m = thieves[0]
    assert milli(out[m, 80], "interval") == milli(plain[m, 80], "interval") // 2


def test_cover_open_logs_44_and_45_inside_its_label_and_changes_no_reading(plain):
    sc = scenario()
    cover = theft(sc, cover_open={"per_meter_per_year": 100, "minutes": 40})
    out, log = run(sc, cover)
    assert out == plain and log.labels and {label.kind for label in log.labels} == {"cover_open"}

    def inside(label: Label, t: int) -> bool:
        return label.start_s - STEP < t <= label.end_s

    assert all(any(x.meter_id == m and inside(x, t) for x in log.labels) for m, t, _ in log.events)
    last = START + 96 * STEP
    whole = [x for x in log.labels if x.start_s > START + STEP and x.end_s < last]  # not cut by the run's ends
    assert whole
    for label in whole:
        mine = sorted((t, c) for m, t, c in log.events if m == label.meter_id and inside(label, t))
        assert [c for _, c in mine] == [EVENT_CODES["meter_cover_removed"], EVENT_CODES["meter_cover_closed"]]
        assert mine[1][0] - mine[0][0] == 40 * 60


def test_rate_zero_leaves_no_trace_and_returns_the_same_batch(plain):
    sc = scenario()
    zero = theft(
        sc,
        bypass={"fraction": 0},
        magnet={"fraction": 0},
        earth_return={"fraction": 0},
        cover_open={"per_meter_per_year": 0},
    )
    assert zero.idle and theft(sc).idle
    out, log = run(sc, zero)
    assert out == plain and log.labels == [] and log.events == []
    batch = hand_batch()
    assert zero(batch) == (batch, [])


def test_same_seed_same_thieves_independent_of_fleet_size():
    sections = {
        "bypass": {"fraction": 0.3, "hours": [0, 1, 2, 3]},
        "earth_return": {"fraction": 0.3},
        "cover_open": {"per_meter_per_year": 50},
    }
    big, small = scenario(20), scenario(6)
    _, a = run(big, theft(big, **sections))
    _, b = run(big, theft(big, **sections))
    _, c = run(small, theft(small, **sections))
    _, d = run(big, theft(big, seed=1, **sections))
    assert a.labels == b.labels and a.events == b.events and a.labels != d.labels
    assert {label.kind for label in a.labels} == {"theft_bypass", "theft_earth_return", "cover_open"}
    mine = {f"PK-LESCO-{k:06d}" for k in range(1, 7)}
    assert sorted(map(repr, c.labels)) == sorted(repr(x) for x in a.labels if x.meter_id in mine)
    assert sorted(c.events) == sorted(e for e in a.events if e[0] in mine)


def hand_batch(band: int = 1) -> ReadingBatch:
    meters = MeterSet("g", "electricity", "UTC", "", 3, lambda: ["A", "B", "C"], band_names=("peak", "off"))
    n, end = 3, 86_400 * 20_000 + 900  # 00:15 UTC: the first interval of the run and of the window
    return ReadingBatch(
        meters=meters,
        meters_at=np.arange(n),
        interval_s=900,
        seq=np.zeros(n, np.int64),
        end_s=np.full(n, end),
        sent_s=np.full(n, end),
        band=np.full(n, band, np.int8),
        true_milli=np.array([100, 7, 0]),
        import_milli=np.array([100, 7, 0]),
        registers=RegisterValues(
            total=np.array([1000, 2000, 3000]), bands=np.array([[600, 500, 1000], [400, 1500, 2000]])
        ),
        quality=np.zeros(n, np.int8),
        published=np.ones(n, bool),
    )


def test_by_hand_bypass_of_every_meter_at_one_half_keeps_the_bands_summing_to_the_total():
    window = (86_400 * 20_000, 86_400 * 20_001)
    half = Theft(
        TheftConfig(bypass={"fraction": 1.0, "registered_fraction": [0.5, 0.5], "hours": [0]}),
        seed=1, group="g", count=3, window=window,
    )  # fmt: skip
    batch = hand_batch()
    out, labels = half(batch)
    assert out.import_milli.tolist() == [50, 3, 0]  # floor(0.5 x [100, 7, 0])
    assert out.true_milli is batch.true_milli
    assert out.registers.total.tolist() == [950, 1996, 3000]
    assert out.registers.bands is not None and out.registers.bands.tolist() == [[600, 500, 1000], [350, 1496, 2000]]
    assert [(x.meter_id, x.start_s, x.end_s, x.kind) for x in labels] == [
        (m, batch.end_s[0], window[0] + 3600, "theft_bypass") for m in "ABC"
    ]
    assert half.stolen_milli()[1].tolist() == [50, 4, 0]
    state = half.state()
    again = Theft(half.config, seed=1, group="g", count=3, window=window)
    again.restore(state)
    later = hand_batch()
    later = later.replace(end_s=later.end_s + 900, sent_s=later.sent_s + 900, registers=RegisterValues(
        total=np.array([1100, 2007, 3000]), bands=np.array([[600, 500, 1000], [500, 1507, 2000]])))  # fmt: skip
    out, labels = again(later)
    assert labels == [] and out.registers.total.tolist() == [1000, 1999, 3000]  # 2007 - 4 - 4
    assert again.stolen_milli()[1].tolist() == [100, 8, 0]


class Balance(Observer):
    """Per grid-side meter and interval: delivered energy, its customers' published imports, the truth."""

    def __init__(self) -> None:
        self.labels: list[Label] = []
        self.rows: list[tuple[str, int, int, int, int]] = []  # id, seq, delivered, losses, unmetered

    def observe(self, observation: Observation) -> None:
        self.labels += observation.labels
        grid = observation.published.grid
        if grid is None:  # the gas group
            return
        ids = grid.meters.ids
        for row, at in enumerate(grid.meters_at.tolist()):
            self.rows.append(
                (ids[at], observation.true.seq, int(grid.import_milli[row]) - int(grid.export_milli[row]),
                 int(grid.losses_milli[row]), int(grid.unmetered_milli[row]))
            )  # fmt: skip


@pytest.mark.parametrize("pct", [0, 8])
def test_hooking_is_labelled_on_each_grid_side_meter_and_only_the_balance_shows_it(pct):
    data = scenario_dict(duration="6h")
    data["fleet"][0]["grid"] = {"transformers_per_feeder": 2, "unmetered_pct": pct}
    sink, balance = MemorySink(), Balance()
    Simulation(make_scenario(data), sinks=[sink], observers=[balance]).run()
    readings = sink.readings()
    grid_ids = {r["meter_id"] for r in readings if "device" in r}
    hooking = [label for label in balance.labels if label.kind == "theft_hooking"]
    if pct == 0:
        assert hooking == [] and all(u == 0 for *_, u in balance.rows)
        return
    assert sorted(label.meter_id for label in hooking) == sorted(grid_ids) and len(grid_ids) > 0
    assert {(label.start_s, label.end_s, label.severity) for label in hooking} == {
        (START + STEP, START + 6 * 3600, 0.08)
    }
    # The stream: a transformer delivers its customers' imports, plus losses and the hooked load
    customers: dict[tuple[str, int], int] = {}
    for r in readings:
        if "device" not in r and r["commodity"] == "electricity":
            key = (r["topology"]["transformer"], r["seq"])
            customers[key] = customers.get(key, 0) + round(r["interval"]["value"] * 1000)
    transformers = [row for row in balance.rows if (row[0], row[1]) in customers]
    assert transformers
    for meter_id, seq, delivered, losses, unmetered in transformers:
        metered = customers[meter_id, seq]
        assert delivered - metered - losses == unmetered
        assert unmetered == round(metered * 0.08) or abs(unmetered - metered * 0.08) <= 1 + metered * 0.001


@pytest.mark.parametrize("kind", ["earth_return", "bypass"])
def test_theft_shows_in_the_measured_currents(kind):
    data = scenario_dict(duration="1d")
    data["fleet"][0]["instantaneous"] = {"phases": 1}
    sc = make_scenario(data)
    plain_out = run(sc)[0]
    section = {"fraction": 0.5, "registered_fraction": [0.25, 0.25], "hours": [18, 19, 20]}
    out, log = run(sc, theft(sc, **{kind: section}))
    thieves = {label.meter_id for label in log.labels}
    assert thieves
    phase, neutral = "1-0:31.7.0", "1-0:91.7.0"
    for key, reading in out.items():
        if reading["commodity"] == "gas":
            continue
        now, before = reading["instantaneous"], plain_out[key]["instantaneous"]
        if key[0] in thieves and key[1] in EVENING:
            # earth return: the phase carries the whole load; the neutral (what registers) a quarter
            quarter = pytest.approx(before[phase] * 0.25, abs=0.0051)  # rounded to 0.01 A
            assert now[phase] == (before[phase] if kind == "earth_return" else quarter)
            assert now[neutral] == quarter
            assert before[neutral] == before[phase]
        else:
            assert now == before  # honest meters, and thieves outside their hours
