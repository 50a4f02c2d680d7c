"""Grid topology: ids, contiguous placement of meters on transformers, what a range holds whole."""

from __future__ import annotations

import numpy as np

from metersim.config import MeterGroup
from metersim.fleet import build_topology
from metersim.streams import CHUNK, MeterRange


def group(count: int, **grid) -> MeterGroup:
    return MeterGroup.model_validate(
        {
            "name": "lesco",
            "commodity": "electricity",
            "count": count,
            "timezone": "Asia/Karachi",
            "annual_kwh": 2400,
            "grid": {"substations": 1, "feeders_per_substation": 3, "transformers_per_feeder": 2} | grid,
        }
    )


def test_no_grid_no_topology():
    plain = MeterGroup.model_validate(
        {"name": "x", "commodity": "electricity", "count": 3, "timezone": "UTC", "annual_kwh": 1}
    )
    assert build_topology(plain) is None


def test_ids_name_each_level_inside_its_parent():
    topology = build_topology(group(100, substations=2, feeders_per_substation=2, transformers_per_feeder=3))
    assert topology.region == "lahore"  # Asia/Karachi's built-in region
    assert topology.substation_ids == ["lesco-SS01", "lesco-SS02"]
    assert topology.feeder_ids == ["lesco-SS01-F01", "lesco-SS01-F02", "lesco-SS02-F01", "lesco-SS02-F02"]
    assert len(topology.transformer_ids) == 12
    assert topology.transformer_ids[:4] == [
        "lesco-SS01-F01-T001",
        "lesco-SS01-F01-T002",
        "lesco-SS01-F01-T003",
        "lesco-SS01-F02-T001",
    ]
    assert topology.transformer_ids[-1] == "lesco-SS02-F02-T003"
    assert topology.feeder_substation.tolist() == [0, 0, 1, 1]
    assert topology.transformer_feeder.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_meters_sit_on_transformers_in_contiguous_blocks_as_even_as_possible():
    topology = build_topology(group(100, substations=2, feeders_per_substation=2, transformers_per_feeder=3))
    placed = topology.meter_transformer(MeterRange.whole(100))
    assert placed[0] == 0 and placed[-1] == 11
    assert (np.diff(placed) >= 0).all() and (np.diff(placed) <= 1).all()  # blocks in index order, none skipped
    # 100 meters on 12 transformers: 8 or 9 each; meter p sits on transformer floor(12 p / 100)
    assert set(topology.meters_per_transformer.tolist()) == {8, 9}
    assert topology.meters_per_transformer.sum() == 100
    assert placed.tolist() == [12 * p // 100 for p in range(100)]


def test_meter_fields_give_each_meter_its_transformer_feeder_substation_and_region():
    topology = build_topology(group(100, substations=2, feeders_per_substation=2, transformers_per_feeder=3))
    fields = topology.meter_fields(MeterRange.whole(100))
    assert fields[0] == {
        "region": "lahore",
        "substation": "lesco-SS01",
        "feeder": "lesco-SS01-F01",
        "transformer": "lesco-SS01-F01-T001",
    }
    assert fields[99]["transformer"] == "lesco-SS02-F02-T003"
    for place in fields:
        assert place["transformer"].startswith(place["feeder"] + "-")
        assert place["feeder"].startswith(place["substation"] + "-")


def test_a_range_holds_whole_only_the_transformers_and_feeders_inside_it():
    # 3 chunks on 6 transformers: 2048 meters each; feeder f has transformers 2f and 2f + 1
    topology = build_topology(group(3 * CHUNK))
    cases = {
        MeterRange(0, CHUNK): ([0, 1], [0]),
        MeterRange(CHUNK, 2 * CHUNK): ([2, 3], [1]),
        MeterRange(CHUNK, 3 * CHUNK): ([2, 3, 4, 5], [1, 2]),
        MeterRange.whole(3 * CHUNK): ([0, 1, 2, 3, 4, 5], [0, 1, 2]),
    }
    for meters, (transformers, feeders) in cases.items():
        whole_t, whole_f = topology.whole(meters)
        assert np.flatnonzero(whole_t).tolist() == transformers, meters
        assert np.flatnonzero(whole_f).tolist() == feeders, meters


def test_no_feeder_straddles_a_chunk_boundary_unless_it_spans_whole_chunks():
    # 10,000 meters in 3 chunks (4,096, 4,096, 1,808) and 5 feeders: each chunk holds whole feeders, as
    # many as its share of the meters (2, 2, 1); its transformers share its meters evenly
    topology = build_topology(group(10_000, feeders_per_substation=5))
    assert topology.feeder_start.tolist() == [0, 2048, 4096, 6144, 8192, 10_000]
    assert topology.transformer_start.tolist() == [0, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 9096, 10_000]
    # 5 chunks and 2 feeders: each feeder holds whole chunks (2 and 3)
    wide = build_topology(group(5 * CHUNK, feeders_per_substation=2))
    assert wide.feeder_start.tolist() == [0, 2 * CHUNK, 5 * CHUNK]
    assert wide.meters_per_transformer.tolist() == [CHUNK, CHUNK, 3 * CHUNK // 2, 3 * CHUNK // 2]


def test_a_feeder_cut_by_the_range_is_not_whole_but_its_whole_transformers_are():
    topology = build_topology(group(5 * CHUNK, feeders_per_substation=2))  # feeder 0: chunks 0-1
    whole_t, whole_f = topology.whole(MeterRange(0, CHUNK))
    assert np.flatnonzero(whole_t).tolist() == [0]
    assert not whole_f.any()
    whole_t, whole_f = topology.whole(MeterRange(2 * CHUNK, 5 * CHUNK))
    assert np.flatnonzero(whole_t).tolist() == [2, 3]
    assert np.flatnonzero(whole_f).tolist() == [1]


def test_grid_side_meters_are_the_whole_transformers_then_the_whole_feeders():
    topology = build_topology(group(10_000))  # 3 chunks, one feeder each
    publish_t, publish_f, ids, devices, places = topology.grid_meters(MeterRange(CHUNK, 10_000))
    assert publish_t.tolist() == [False, False, True, True, True, True]
    assert publish_f.tolist() == [False, True, True]
    assert ids == [
        "lesco-SS01-F02-T001",
        "lesco-SS01-F02-T002",
        "lesco-SS01-F03-T001",
        "lesco-SS01-F03-T002",
        "lesco-SS01-F02",
        "lesco-SS01-F03",
    ]
    assert devices == ["transformer"] * 4 + ["feeder"] * 2
    assert places[1] == {
        "region": "lahore",
        "substation": "lesco-SS01",
        "feeder": "lesco-SS01-F02",
        "transformer": "lesco-SS01-F02-T002",
    }
    assert places[5] == {"region": "lahore", "substation": "lesco-SS01", "feeder": "lesco-SS01-F03", "transformer": ""}


def test_grid_side_meters_can_be_switched_off_per_level():
    no_feeders = build_topology(group(600, feeder_meters=False))
    _, publish_f, ids, devices, _ = no_feeders.grid_meters(MeterRange.whole(600))
    assert not publish_f.any() and devices == ["transformer"] * 6 and len(ids) == 6
    no_transformers = build_topology(group(600, transformer_meters=False))
    publish_t, _, ids, devices, _ = no_transformers.grid_meters(MeterRange.whole(600))
    assert not publish_t.any()
    assert ids == ["lesco-SS01-F01", "lesco-SS01-F02", "lesco-SS01-F03"] and devices == ["feeder"] * 3
