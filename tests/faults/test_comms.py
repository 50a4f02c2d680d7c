"""Communication faults, through real runs: link outages and the store, concentrators, reconnect storms,
drops, duplicates and delays. Every change to the stream is checked against the labels, both ways.

The scenario (tests/conftest.py): 20 electricity meters PK-LESCO-000001.. at 15 min from
2026-01-01T00:00+05:00 for a day, reports 0-59 s after the interval end, so reading ``seq`` ends at
00:15 + 15 min x seq and the reading of the interval ending 06:00 is seq 23.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest

from metersim.config import MeterGroup
from metersim.config.events import CommsConfig, ConcentratorConfig
from metersim.config.events import LinkOutage as LinkOutageConfig
from metersim.engine import Observer
from metersim.faults import CommsFaults, CommsParams, LinkOutage, Probabilities, comms_params
from metersim.fleet.concentrators import Paths, build_paths
from metersim.records import Label, Observation
from metersim.simulation import Simulation, build_groups
from metersim.sinks.memory import MemorySink
from metersim.streams import CHUNK, MeterRange
from metersim.timebase import SECONDS_PER_DAY, parse_instant
from metersim.windows import resolve_window
from tests.conftest import make_scenario, scenario_dict

STEP = 900
START = parse_instant("2026-01-01T00:00:00+05:00")
M = "PK-LESCO-000005"  # the meter whose link goes down (position 4)
Key = tuple[str, int]


def at(hhmm: str, day: int = 1) -> int:
    return parse_instant(f"2026-01-{day:02d}T{hhmm}:00+05:00")


def seq_of(end_s: int) -> int:
    return (end_s - START) // STEP - 1


class LabelLog(Observer):
    def __init__(self) -> None:
        self.labels: list[Label] = []

    def observe(self, observation: Observation) -> None:
        self.labels += observation.labels


def scenario(count: int = 20, grid: dict | None = None):
    data = scenario_dict(duration="1d")
    data["fleet"][0]["count"] = count
    if grid is not None:
        data["fleet"][0]["grid"] = grid
    return make_scenario(data)


def faults(sc, paths: Paths | None = None, seed: int | None = None, **params: Any) -> CommsFaults:
    paths = paths or build_paths(sc.fleet[0])
    seed = sc.simulation.seed if seed is None else seed
    window = (sc.simulation.start_s, sc.simulation.start_s + sc.simulation.duration_s)
    restored_at = params.pop("restored_at", None)
    return CommsFaults(
        CommsParams(**params), seed=seed, group="lahore", paths=paths, window=window, restored_at=restored_at
    )


def run(sc, *transforms) -> tuple[list[dict], list[Label]]:
    sink, log = MemorySink(), LabelLog()
    Simulation(sc, sinks=[sink], transforms=list(transforms), observers=[log]).run()
    return sink.readings(), log.labels


def by_key(readings: list[dict]) -> dict[Key, list[dict]]:
    out: dict[Key, list[dict]] = defaultdict(list)
    for r in readings:
        out[r["meter_id"], r["seq"]].append(r)
    return out


def covered(labels: list[Label], kind: str) -> dict[Key, Label]:
    """(meter, seq) -> the label of ``kind`` that spans it."""
    return {
        (label.meter_id, seq_of(end)): label
        for label in labels
        if label.kind == kind
        for end in range(label.start_s, label.end_s + 1, STEP)
    }


def reconcile(plain: list[dict], faulted: list[dict], labels: list[Label]) -> dict[str, dict[Key, Any]]:
    """What the faults did to each reading, checked against the labels both ways."""
    base, seen = by_key(plain), by_key(faulted)
    assert set(seen) <= set(base)
    found: dict[str, dict[Key, Any]] = {"lost": {}, "late": {}, "drop": {}, "duplicate": {}, "delay": {}}
    for key, (original,) in base.items():
        copies = seen.get(key, [])
        if not copies:
            found["lost" if covered(labels, "comms_lost").get(key) else "drop"][key] = True
            continue
        assert all(c == copies[0] for c in copies) and len(copies) <= 2
        first = copies[0]
        moved = parse_instant(first["sent_at"]) - parse_instant(original["sent_at"])
        assert {**first, "quality": 0, "sent_at": 0} == {**original, "quality": 0, "sent_at": 0}
        if first["quality"] == "late":
            found["late"][key] = moved
        elif moved:
            found["delay"][key] = moved
        if len(copies) == 2:
            found["duplicate"][key] = True
    assert found["lost"].keys() == covered(labels, "comms_lost").keys()
    held = covered(labels, "comms_backlog") | covered(labels, "supply_backlog")
    assert found["late"].keys() == held.keys()
    assert all(moved > 0 for moved in found["late"].values())
    assert found["drop"].keys() == covered(labels, "comms_drop").keys()
    assert found["duplicate"].keys() == covered(labels, "comms_duplicate").keys()
    delays = {key: label.severity for key, label in covered(labels, "comms_delay").items()}
    assert found["delay"] == delays
    return found


@pytest.fixture(scope="module")
def plain() -> list[dict]:
    return run(scenario())[0]


def outage(paths: Paths, path_id: str, start_s: int, hours: float) -> LinkOutage:
    index = paths.index_of(path_id)
    assert index is not None
    return LinkOutage(index, start_s, round(hours * 3600))


def test_a_six_hour_outage_with_a_deep_store_delivers_every_reading_late_after_it_and_loses_none(plain):
    sc = scenario()
    paths = build_paths(sc.fleet[0])
    readings, labels = run(sc, faults(sc, paths, store_depth=96, outages=(outage(paths, M, at("06:00"), 6),)))
    found = reconcile(plain, readings, labels)
    # report times 06:00:xx .. 11:45:xx fall in [06:00, 12:00): the readings of seq 23 .. 46
    assert sorted(found["late"]) == [(M, seq) for seq in range(23, 47)]
    assert found["lost"] == {} and found["drop"] == {}
    mine = [r for r in readings if r["meter_id"] == M]
    assert sorted(r["seq"] for r in mine) == list(range(96))
    sent = {parse_instant(r["sent_at"]) for r in mine if r["quality"] == "late"}
    assert len(sent) == 1 and at("12:00") <= sent.pop() <= at("12:02")  # the end plus one jitter <= 120 s
    assert [r["seq"] for r in mine] == list(range(96))  # the backlog keeps the meter's own order
    assert [(lb.kind, lb.start_s, lb.end_s, lb.severity) for lb in labels] == [
        ("comms_backlog", at("06:00"), at("11:45"), 24.0)
    ]
    assert labels[0].meter_id == M and labels[0].detail.startswith("24 readings held")


def test_a_store_of_8_keeps_the_newest_8_readings_and_loses_the_16_oldest(plain):
    sc = scenario()
    paths = build_paths(sc.fleet[0])
    readings, labels = run(sc, faults(sc, paths, store_depth=8, outages=(outage(paths, M, at("06:00"), 6),)))
    found = reconcile(plain, readings, labels)
    assert sorted(found["lost"]) == [(M, seq) for seq in range(23, 39)]  # 24 - 8 = 16, the oldest
    assert sorted(found["late"]) == [(M, seq) for seq in range(39, 47)]
    assert sorted((lb.kind, lb.start_s, lb.end_s, lb.severity) for lb in labels) == [
        ("comms_backlog", at("10:00"), at("11:45"), 8.0),
        ("comms_lost", at("06:00"), at("09:45"), 16.0),
    ]


def test_outages_across_the_run_start_and_end_count_only_the_readings_the_run_takes(plain):
    sc = scenario()
    paths = build_paths(sc.fleet[0])
    early = outage(paths, "PK-LESCO-000001", parse_instant("2025-12-31T22:00:00+05:00"), 4)  # to 02:00
    late = outage(paths, "PK-LESCO-000002", at("23:00"), 6)  # to 05:00 the next day, after the run
    readings, labels = run(sc, faults(sc, paths, store_depth=4, outages=(early, late)))
    found = reconcile(plain, readings, labels)
    # early: seq 0 .. 6 (ends 00:15 .. 01:45), 7 readings: 3 lost, 4 held
    # late: ends 23:00 .. 24:00 (seq 91 .. 95), 5 readings the run takes: 1 lost, 4 held (sent after the run)
    assert sorted(found["lost"]) == [("PK-LESCO-000001", s) for s in range(3)] + [("PK-LESCO-000002", 91)]
    assert sorted(found["late"]) == [("PK-LESCO-000001", s) for s in range(3, 7)] + [
        ("PK-LESCO-000002", s) for s in range(92, 96)
    ]
    assert all(
        parse_instant(r["sent_at"]) >= at("05:00", 2) for r in readings if r["seq"] >= 92 and r["quality"] == "late"
    )
    assert sorted((lb.meter_id[-1], lb.kind, lb.start_s, lb.end_s, lb.severity) for lb in labels) == [
        ("1", "comms_backlog", at("01:00"), at("01:45"), 4.0),
        ("1", "comms_lost", at("00:15"), at("00:45"), 3.0),
        ("2", "comms_backlog", at("23:15"), at("00:00", 2), 4.0),
        ("2", "comms_lost", at("23:00"), at("23:00"), 1.0),
    ]


def test_all_meters_of_one_concentrator_go_dark_together():
    grid = {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 4}
    sc = scenario(grid=grid)  # 20 meters on 4 transformers: 5 each
    paths = build_paths(sc.fleet[0], ConcentratorConfig(per="transformer"))
    plain, _ = run(sc)
    readings, labels = run(sc, faults(sc, paths, outages=(outage(paths, "lahore-DCU0002", at("03:00"), 2),)))
    found = reconcile(plain, readings, labels)
    # meters 6 .. 10 hang on transformer 2; ends 03:00 .. 04:45 are seq 11 .. 18
    dark = [f"PK-LESCO-{m:06d}" for m in range(6, 11)]
    assert sorted(found["late"]) == [(m, s) for m in dark for s in range(11, 19)]
    for m in dark:
        sent = {parse_instant(r["sent_at"]) for r in readings if r["meter_id"] == m and r["quality"] == "late"}
        assert len(sent) == 1 and at("05:00") <= sent.pop() <= at("05:02")
    assert Counter(lb.kind for lb in labels) == {"comms_backlog": 5}
    assert all("lahore-DCU0002" in lb.detail for lb in labels)
    grid_side = [r for r in readings if "device" in r]  # transformer and feeder meters report as ever
    assert grid_side and grid_side == [r for r in plain if "device" in r]


def test_with_every_rate_zero_the_batch_goes_through_untouched(plain):
    sc = scenario()
    transform = faults(sc)
    assert transform.idle
    window, _ = resolve_window(sc)
    for simulator in build_groups(sc, window):
        batch = simulator.step(0, window.start_s + simulator.interval_s).meters
        out, labels = transform(batch)
        assert out is batch and labels == []
    readings, labels = run(sc, faults(sc))
    assert readings == plain and labels == []


RATES = Probabilities(drop=0.05, duplicate=0.05, delay=0.05, delay_max_s=1800)


def test_drops_duplicates_and_delays_are_exactly_what_the_labels_say(plain):
    sc = scenario()
    readings, labels = run(sc, faults(sc, faults=RATES))
    found = reconcile(plain, readings, labels)
    n = 20 * 96
    for kind in ("drop", "duplicate", "delay"):
        assert 0.02 * n < len(found[kind]) < 0.09 * n, kind
    assert all(1 <= s <= 1800 for s in found["delay"].values())
    assert all(r["quality"] == "valid" for r in readings if r["meter_id"].startswith("PK"))  # a delay is hidden
    assert len(readings) == len(plain) - len(found["drop"]) + len(found["duplicate"])


def test_the_same_seed_gives_the_same_faults_and_a_meter_keeps_its_faults_in_a_larger_fleet():
    sc = scenario()
    once = run(sc, faults(sc, faults=RATES))
    assert run(sc, faults(sc, faults=RATES)) == once
    other = run(sc, faults(sc, seed=7, faults=RATES))[1]
    assert {(lb.meter_id, lb.start_s, lb.kind) for lb in other} != {
        (lb.meter_id, lb.start_s, lb.kind) for lb in once[1]
    }
    big = scenario(count=35)
    _, labels = run(big, faults(big, faults=RATES))
    assert [lb for lb in labels if lb.meter_id <= "PK-LESCO-000020"] == once[1]


def test_targets_put_faults_on_one_meter_and_leave_the_stream_of_the_others_as_it_was(plain):
    sc = scenario()
    target = {3: Probabilities(drop=1.0)}  # position 3: PK-LESCO-000004
    readings, labels = run(sc, faults(sc, meter_targets=target))
    found = reconcile(plain, readings, labels)
    assert sorted(found["drop"]) == [("PK-LESCO-000004", s) for s in range(96)]
    assert [r for r in readings if r["meter_id"] != "PK-LESCO-000004"] == [
        r for r in plain if r["meter_id"] != "PK-LESCO-000004"
    ]


def test_without_supply_a_meter_holds_its_readings_until_it_returns_and_then_until_its_link_does(plain):
    off, back = at("02:00"), at("03:30")

    def restored_at(rows, t_s):  # meter position 2 (PK-LESCO-000003) is off in [02:00, 03:30)
        rows = np.arange(20) if rows is None else np.asarray(rows)
        return np.where((rows == 2) & (off <= t_s) & (t_s < back), back, -1)

    sc = scenario()
    paths = build_paths(sc.fleet[0])
    m = "PK-LESCO-000003"
    link = outage(paths, m, at("03:00"), 1)  # the link is down in [03:00, 04:00) too
    readings, labels = run(sc, faults(sc, paths, restored_at=restored_at, outages=(link,)))
    found = reconcile(plain, readings, labels)
    # without supply at the ends 02:00 .. 03:15 (seq 7 .. 12); link down at 03:00 .. 03:45 (seq 11 .. 14)
    assert sorted(found["late"]) == [(m, s) for s in range(7, 15)]
    sent = {parse_instant(r["sent_at"]) for r in readings if r["meter_id"] == m and r["quality"] == "late"}
    assert len(sent) == 1 and at("04:00") <= sent.pop() <= at("04:02")  # both wait for the link
    assert sorted((lb.kind, lb.start_s, lb.end_s, lb.severity) for lb in labels) == [
        ("comms_backlog", at("03:00"), at("03:45"), 4.0),
        ("supply_backlog", at("02:00"), at("03:15"), 6.0),
    ]


def test_random_link_outages_in_a_run_match_the_labels(plain):
    sc = scenario()
    transform = faults(sc, store_depth=4, outages_per_year=200.0, outage_hours_median=2.0)
    readings, labels = run(sc, transform)
    found = reconcile(plain, readings, labels)
    assert found["lost"] and found["late"]
    assert {lb.meter_id for lb in labels} == {
        path for path, _, _ in transform.link_outages(START, START + SECONDS_PER_DAY + STEP)
    }


def test_random_link_outages_depend_on_the_path_alone():
    g = MeterGroup.model_validate(
        {"name": "big", "commodity": "electricity", "count": 3 * CHUNK, "timezone": "UTC", "annual_kwh": 1}
    )
    paths = build_paths(g)
    params = CommsParams(outages_per_year=10.0)
    t0 = parse_instant("2026-03-01T00:00:00Z")
    t1 = t0 + 30 * SECONDS_PER_DAY
    whole = CommsFaults(params, seed=1, group="big", paths=paths).link_outages(t0, t1)
    shard = CommsFaults(params, seed=1, group="big", paths=paths, meters=MeterRange(CHUNK, 2 * CHUNK))
    assert shard.link_outages(t0, t1) == [o for o in whole if CHUNK <= (paths.index_of(o[0]) or 0) < 2 * CHUNK]
    later = (t0 + 10 * SECONDS_PER_DAY, t0 + 11 * SECONDS_PER_DAY)  # asked after an earlier window, or alone
    assert shard.link_outages(*later) == CommsFaults(
        params, seed=1, group="big", paths=paths, meters=MeterRange(CHUNK, 2 * CHUNK)
    ).link_outages(*later)
    expected = 3 * CHUNK * 10 / 365.2425 * 30  # ~10 092 that start inside, a few more from before
    assert expected * 0.95 < len(whole) < expected * 1.06
    hours = np.array([(b - a) / 3600 for _, a, b in whole if a >= t0])
    assert 5.7 < np.median(hours) < 6.3 and hours.max() <= 31 * 24


def test_comms_params_resolve_concentrator_and_meter_ids():
    sc = scenario(grid={"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 4})
    paths = build_paths(sc.fleet[0], ConcentratorConfig(per="transformer"))
    config = CommsConfig(
        store_depth=10,
        outages=[LinkOutageConfig(path="lahore-DCU0003", start="2026-01-01T08:00:00+05:00", hours=1.5)],
        faults={"drop": 0.01},
        targets={"lahore-DCU0001": {"delay": 0.5, "delay_max_s": 60}, "PK-LESCO-000020": {"duplicate": 1.0}},
    )
    params = comms_params(config, paths)
    assert params.outages == (LinkOutage(2, at("08:00"), 5400),)
    assert params.faults == Probabilities(drop=0.01)
    assert params.path_targets == {0: Probabilities(delay=0.5, delay_max_s=60)}
    assert params.meter_targets == {19: Probabilities(duplicate=1.0)}
    bad = CommsConfig(outages=[LinkOutageConfig(path="nowhere", start="2026-01-01T08:00:00Z", hours=1)])
    with pytest.raises(ValueError, match="nowhere"):
        comms_params(bad, paths)


def test_rows_in_any_order_or_a_subset_get_the_faults_their_meters_get_in_the_whole_batch():
    grid = {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 4}
    sc = scenario(grid=grid)
    paths = build_paths(sc.fleet[0], ConcentratorConfig(per="transformer"))
    params: dict[str, Any] = {"store_depth": 2, "faults": RATES, "outages_per_year": 300.0}
    params["outages"] = (outage(paths, "lahore-DCU0003", at("01:00"), 1),)
    whole, picked = faults(sc, paths, **params), faults(sc, paths, **params)
    window, _ = resolve_window(sc)
    simulator = build_groups(sc, window)[0]
    rows = np.random.default_rng(0).permutation(20)[:13]
    kinds: Counter[str] = Counter()
    for seq in range(12):
        batch = simulator.step(seq, window.start_s + (seq + 1) * STEP).meters
        full, full_labels = whole(batch)
        part, part_labels = picked(batch.take(rows))
        expected = full.take(rows)
        for name in ("sent_s", "quality", "published", "resend_s"):
            a, b = (np.full(13, -1) if x is None else x for x in (getattr(expected, name), getattr(part, name)))
            assert np.array_equal(a, b), name
        ids = {batch.meters.ids[r] for r in rows}
        assert sorted(part_labels, key=repr) == sorted((lb for lb in full_labels if lb.meter_id in ids), key=repr)
        kinds.update(lb.kind for lb in part_labels)
    assert {"comms_lost", "comms_backlog", "comms_drop", "comms_delay", "comms_duplicate"} <= set(kinds)


def test_without_a_window_the_run_starts_at_the_first_interval_seen(plain):
    sc = scenario()
    paths = build_paths(sc.fleet[0])
    early = (outage(paths, "PK-LESCO-000001", parse_instant("2025-12-31T22:00:00+05:00"), 4),)
    windowed = run(sc, faults(sc, paths, store_depth=4, outages=early))
    bare = CommsFaults(CommsParams(store_depth=4, outages=early), seed=42, group="lahore", paths=paths)
    assert run(sc, bare) == windowed
