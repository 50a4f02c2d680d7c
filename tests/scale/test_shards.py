"""Shards: N shards' readings, ledgers, labels and bills are, together, exactly the single run's."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from metersim.config import parse_scenario
from metersim.config.scenario import Scenario
from metersim.errors import ConfigError
from metersim.fleet.grid import build_topology
from metersim.ledger.bill_files import write_bills
from metersim.ledger.billing import BillObserver
from metersim.scale.shards import Shard, cuts, plan, shard_scenario
from metersim.simulation import Simulation
from metersim.streams import CHUNK
from tests.conftest import ROOT

CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def _scaled(name: str, folder: Path) -> Scenario:
    """The shipped config, its groups grown past one chunk (each a different partial last chunk), two of
    its longest intervals from a fixed start, writing JSON Lines and the ledger into ``folder``."""
    data = yaml.safe_load((ROOT / "configs" / name).read_text())
    for i, group in enumerate(data["fleet"]):
        group["count"] = CHUNK + 613 * (i + 1)
    homes = {g["gas_group"]: g["count"] for g in data["fleet"] if g.get("gas_group")}
    for group in data["fleet"]:
        if group["name"] in homes:  # a gas meter in some of the homes
            group["count"] = homes[group["name"]] - 1000
    longest = max(g.get("interval_s", 900) for g in data["fleet"])
    data["simulation"] |= {"duration": f"{2 * longest}s", "speed": "max"}
    if data["simulation"]["start"] == "now":
        data["simulation"]["start"] = "2026-06-01T00:00:00+05:00"
    data["simulation"].pop("backfill", None)
    data["simulation"].pop("state_path", None)
    data["outputs"] = [{"type": "file", "path": str(folder / "readings.jsonl")}]
    data["truth"] = {"path": str(folder / "ledger.csv")}
    return parse_scenario(data)


def _run(scenario: Scenario, shard: Shard | None) -> None:
    bills = BillObserver(scenario)
    Simulation(scenario, shard=shard, observers=[bills]).run()
    if any(g.tariff for g in scenario.fleet):
        target = scenario.truth.path if shard is None else shard.path(scenario.truth.path)  # type: ignore[union-attr]
        write_bills(bills.bills(), Path(target).with_name(Path(target).name.replace("ledger", "bills")))


def _lines(folder: Path, stem: str, shards: int | None) -> tuple[Counter[str], int]:
    """Every line of ``stem``'s files of the single run or of its ``shards`` (a CSV row as its non-empty
    columns), and how many files there were."""
    suffix = Path(stem).suffix
    name = Path(stem).stem
    files = (
        [folder / stem]
        if shards is None
        else [folder / f"{name}.{Shard(k, shards).tag}{suffix}" for k in range(shards)]
    )
    seen: Counter[str] = Counter()
    present = [f for f in files if f.exists()]
    for f in present:
        if suffix == ".csv":  # columns can depend on what a file holds (bills: the tariffs' bands)
            with f.open(newline="") as rows:
                seen.update(json.dumps({k: v for k, v in row.items() if v}) for row in csv.DictReader(rows))
        else:
            seen.update(f.read_text().splitlines())
    return seen, len(present)


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_the_union_of_3_and_7_shards_is_the_single_run_byte_for_byte(name, tmp_path):
    scenario = _scaled(name, tmp_path)
    _run(scenario, None)
    for n in (1, 3, 7):
        for k in range(n):
            _run(scenario, Shard(k, n))
        for stem in ("readings.jsonl", "ledger.csv", "labels.csv", "bills.csv"):
            single, present = _lines(tmp_path, stem, None)
            union, _ = _lines(tmp_path, stem, n)
            if not present:
                continue
            assert union == single, f"{name}: {stem} of {n} shards"
            if stem == "readings.jsonl":
                assert len(single) > 0


def test_every_meter_is_in_exactly_one_shard_and_the_shards_are_balanced():
    data = yaml.safe_load((ROOT / "configs" / "lahore-feeder.yaml").read_text())
    data["fleet"][0]["count"] = 20 * CHUNK + 5
    data["fleet"][1]["count"] = 3 * CHUNK
    scenario = parse_scenario(data)
    for n in (1, 2, 3, 7, 40):
        owned = [plan(scenario, Shard(k, n)) for k in range(n)]
        for group in scenario.fleet:
            ranges = sorted((p[group.name].start, p[group.name].stop) for p in owned if group.name in p)
            assert ranges[0][0] == 0 and ranges[-1][1] == group.count
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # no gap, no overlap
        sizes = [sum(r.count for r in p.values()) for p in owned]
        piece = max(b - a for g in scenario.fleet for a, b in zip(cuts(g), [*cuts(g)[1:], g.count]))
        assert max(sizes) - min(sizes) <= 2 * piece  # balanced to within a piece or two


def test_a_grid_group_is_cut_only_where_a_feeder_begins():
    data = yaml.safe_load((ROOT / "configs" / "lahore-feeder.yaml").read_text())
    data["fleet"][0]["count"] = 9 * CHUNK + 17
    data["fleet"][0]["grid"] = {"substations": 1, "feeders_per_substation": 4, "transformers_per_feeder": 5}
    scenario = parse_scenario(data)
    group = scenario.fleet[0]
    feeders = set(build_topology(group).feeder_start.tolist())  # type: ignore[union-attr]
    assert cuts(group)[1:] and all(c % CHUNK == 0 and c in feeders for c in cuts(group))
    for k in range(5):
        owned = plan(scenario, Shard(k, 5)).get(group.name)
        if owned is not None:
            assert owned.start in feeders and (owned.stop in feeders or owned.stop == group.count)


def test_file_names_and_client_ids_carry_the_shard(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    data["outputs"] = [
        {"type": "file", "path": "out/q.jsonl"},
        {"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "client_id": "fleet-a"},
    ]
    data["truth"] = {"path": "out/ledger.csv", "weather_path": "out/weather"}
    shard = Shard(3, 7)
    sharded = shard_scenario(parse_scenario(data), shard)
    assert sharded.outputs[0].path == "out/q.shard-3-of-7.jsonl"  # type: ignore[union-attr]
    assert sharded.outputs[1].client_id == "fleet-a-shard3"  # type: ignore[union-attr]
    truth = sharded.truth
    assert truth is not None
    assert (truth.path, truth.resolved_labels_path) == ("out/ledger.shard-3-of-7.csv", "out/labels.shard-3-of-7.csv")
    assert truth.weather_path == "out/weather.shard-3-of-7"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [("2/5", None, Shard(2, 5)), (None, {"JOB_COMPLETION_INDEX": "4"}, Shard(4, 5))],
)
def test_a_shard_comes_from_the_option_or_from_the_job_index(text, environ, expected):
    got = Shard.parse(text) if text is not None else Shard.from_environment(5, environ)
    assert got == expected


@pytest.mark.parametrize(
    ("text", "environ"),
    [("5/5", None), ("1-3", None), ("-1/3", None), (None, {}), (None, {"JOB_COMPLETION_INDEX": "x"})],
)
def test_a_bad_shard_is_a_config_error(text, environ):
    with pytest.raises(ConfigError):
        Shard.parse(text) if text is not None else Shard.from_environment(5, environ)


def test_an_empty_shard_runs_and_reports_no_meters(tmp_path):
    data = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    data["outputs"] = [{"type": "file", "path": str(tmp_path / "q.jsonl")}]
    scenario = parse_scenario(data)
    empty = next(k for k in range(7) if not plan(scenario, Shard(k, 7)))
    report = Simulation(scenario, shard=Shard(empty, 7)).run()
    assert report.status == "completed" and report.meters == 0 and report.readings_generated == 0
    assert (tmp_path / f"q.{Shard(empty, 7).tag}.jsonl").read_text() == ""
    assert json.loads(report.to_json())["meters"] == 0


def test_shards_share_one_parquet_folder_and_its_rows_are_the_single_runs(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    data = yaml.safe_load((ROOT / "configs" / "lahore-feeder.yaml").read_text())
    data["fleet"][0]["count"], data["fleet"][1]["count"] = 2 * CHUNK + 900, CHUNK + 700
    data["simulation"] |= {"duration": "2h", "speed": "max"}
    data["truth"] = None

    def rows(folder: Path) -> list[tuple]:
        files = f"read_parquet('{folder}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
        query = f"SELECT * EXCLUDE (shard) FROM {files}"
        return sorted(duckdb.sql(query).fetchall(), key=repr)

    for name, shards in (("single", None), ("sharded", 3)):
        data["outputs"] = [{"type": "parquet", "path": str(tmp_path / name)}]
        scenario = parse_scenario(data)
        for k in range(shards or 1):
            Simulation(scenario, shard=Shard(k, shards) if shards else None).run()
    assert sorted(p.name for p in (tmp_path / "sharded").glob("date=*/shard=*")) == ["shard=0", "shard=1", "shard=2"]
    single = rows(tmp_path / "single")
    assert len(single) > 0 and rows(tmp_path / "sharded") == single
