"""Communication paths: each meter alone, one concentrator per transformer, or blocks of N meters."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.config import MeterGroup
from metersim.config.events import ConcentratorConfig
from metersim.fleet import build_topology
from metersim.fleet.concentrators import build_paths
from metersim.streams import CHUNK, MeterRange


def group(count: int, grid: dict | None = None) -> MeterGroup:
    data = {"name": "lesco", "commodity": "electricity", "count": count, "timezone": "Asia/Karachi"}
    data |= {"annual_kwh": 2400, "id_format": "PK-{index:06d}"}
    if grid is not None:
        data["grid"] = {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 3} | grid
    return MeterGroup.model_validate(data)


def test_without_concentrators_each_meter_is_its_own_path():
    paths = build_paths(group(5))
    assert (paths.count, paths.concentrators) == (5, False)
    assert paths.of_range(MeterRange.whole(5)).tolist() == [0, 1, 2, 3, 4]
    assert [paths.path_id(p) for p in range(5)] == ["PK-000001", "PK-000002", "PK-000003", "PK-000004", "PK-000005"]
    assert paths.index_of("PK-000004") == 3 and paths.index_of("PK-000009") is None
    assert paths.span(3) == (3, 4)
    assert paths.locate("PK-000002") == ("path", 1)


def test_one_concentrator_per_transformer_holds_the_meters_the_grid_puts_on_it():
    # 20 meters on 3 transformers: meter p sits on transformer p * 3 // 20, so 7 + 7 + 6 meters
    g = group(20, {})
    paths = build_paths(g, ConcentratorConfig(per="transformer"))
    assert paths.count == 3 and paths.concentrators
    assert [paths.path_id(p) for p in range(3)] == ["lesco-DCU0001", "lesco-DCU0002", "lesco-DCU0003"]
    assert [paths.span(p) for p in range(3)] == [(0, 7), (7, 14), (14, 20)]
    topology = build_topology(g)
    assert topology is not None
    whole = MeterRange.whole(20)
    assert paths.of_range(whole).tolist() == topology.meter_transformer(whole).tolist()
    assert paths.index_of("lesco-DCU0002") == 1
    assert paths.locate("PK-000009") == ("meter", 8)  # a meter id is not a path id here
    named = build_paths(g, ConcentratorConfig(per="transformer", id_format="DCU-{transformer}"))
    assert named.path_id(2) == "DCU-lesco-SS01-F01-T003"


def test_blocks_of_n_meters_by_position_the_last_one_short():
    g = group(10, {})
    paths = build_paths(g, ConcentratorConfig(meters=4, id_format="{group}/{index}/{transformer}"))
    assert paths.count == 3
    assert paths.of_range(MeterRange.whole(10)).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert [paths.span(p) for p in range(3)] == [(0, 4), (4, 8), (8, 10)]
    # {transformer}: that of the block's first meter (meters 0, 4, 8 sit on transformers 0, 1, 2)
    assert [paths.path_id(p) for p in range(3)] == [
        "lesco/1/lesco-SS01-F01-T001",
        "lesco/2/lesco-SS01-F01-T002",
        "lesco/3/lesco-SS01-F01-T003",
    ]
    assert build_paths(group(10), ConcentratorConfig(meters=4)).path_id(2) == "lesco-DCU0003"


@pytest.mark.parametrize(
    "config", [None, ConcentratorConfig(per="transformer"), ConcentratorConfig(meters=1000)], ids=str
)
def test_a_range_gets_the_paths_its_meters_have_in_the_whole_group(config):
    g = group(3 * CHUNK + 10, {"transformers_per_feeder": 7})
    paths = build_paths(g, config)
    whole = paths.of_range(MeterRange.whole(g.count))
    shard = MeterRange(CHUNK, 2 * CHUNK)
    assert np.array_equal(paths.of_range(shard), whole[shard.start : shard.stop])
    lo, hi = paths.paths_of_range(shard)
    assert (lo, hi) == (int(whole[CHUNK]), int(whole[2 * CHUNK - 1]) + 1)
    for p in range(paths.count):  # spans are contiguous and agree with path_of
        a, b = paths.span(p)
        assert (whole[a:b] == p).all()
    assert sum(b - a for a, b in map(paths.span, range(paths.count))) == g.count


def test_configs_that_cannot_be_honoured_are_errors():
    with pytest.raises(ValueError, match="need the group's `grid`"):
        build_paths(group(10), ConcentratorConfig(per="transformer"))
    with pytest.raises(ValueError, match="need the group's `grid`"):
        build_paths(group(10), ConcentratorConfig(meters=5, id_format="{transformer}-{index}"))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['feeder'\]"):
        build_paths(group(10), ConcentratorConfig(meters=5, id_format="{feeder}-{index}"))
    same = build_paths(group(10), ConcentratorConfig(meters=5, id_format="DCU"))
    with pytest.raises(ValueError, match="not unique"):
        same.index_of("DCU")
