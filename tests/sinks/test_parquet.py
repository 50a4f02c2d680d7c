"""The Parquet output: partitions, schema, sums against the ledger, late readings, shards, a full disk.

The oracles are independent of the writer: DuckDB reads the partitions (its own Parquet reader), the
ledger is the truth CSV read with the csv module, the types are what pyarrow reads back from the files
against the table in docs/parquet.md (written out here again), and the expected dates come from
datetime arithmetic on the scenario's window.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from metersim.config import parse_scenario
from metersim.errors import ConfigError, MissingDependencyError, OutputNotWritableError
from metersim.scale.shards import Shard
from metersim.simulation import Simulation
from tests.conftest import ROOT, scenario_dict

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")

from metersim.sinks.parquet import ParquetSink  # noqa: E402 - needs pyarrow

DICT = pa.dictionary(pa.int32(), pa.string())
UTC_MS = pa.timestamp("ms", tz="UTC")  # Parquet has no unit of seconds: timestamp[s] comes back in ms
#: docs/parquet.md, column by column
DOCUMENTED = {
    "meter_id": DICT, "device": DICT, "group": DICT, "commodity": DICT, "unit": DICT,
    "ts": UTC_MS, "sent_at": UTC_MS, "interval_s": pa.int32(), "seq": pa.int64(),
    "consumption": pa.int64(), "export": pa.int64(), "register_import": pa.int64(),
    "register_export": pa.int64(), "register_converted": pa.int64(), "band": DICT, "quality": DICT,
    "voltage_l1_v": pa.float32(), "voltage_l2_v": pa.float32(), "voltage_l3_v": pa.float32(),
    "current_l1_a": pa.float32(), "current_l2_a": pa.float32(), "current_l3_a": pa.float32(),
    "current_neutral_a": pa.float32(), "power_factor": pa.float32(), "frequency_hz": pa.float32(),
    "battery_pct": pa.float32(), "power_failures": pa.int64(), "long_power_failures": pa.int64(),
    "serial": pa.int64(), "losses": pa.int64(), "unmetered": pa.int64(), "region": DICT,
    "substation": DICT, "feeder": DICT, "transformer": DICT, "concentrator": DICT,
}  # fmt: skip
CORE = ["meter_id", "device", "group", "commodity", "unit", "ts", "sent_at", "interval_s", "seq", "consumption",
        "register_import", "quality"]  # fmt: skip


def scenario(tmp_path: Path, outputs: list[dict[str, Any]] | None = None, **simulation: Any) -> Any:
    """The shared test fleet (electricity in Lahore, gas in Tashkent), 2 days, with a CSV ledger."""
    data = scenario_dict(duration="2d", **simulation)
    data["outputs"] = outputs if outputs is not None else [{"type": "parquet", "path": str(tmp_path / "pq")}]
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    return parse_scenario(data)


def ledger_sums(path: Path) -> dict[str, int]:
    """Per meter: the published import of the ledger [thousandths of the unit], from its CSV text."""
    sums: Counter[str] = Counter()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["device"] == "meter" and row["published"] == "true":
                sums[row["meter_id"]] += int(Decimal(row["import"]) * 1000)
    return dict(sums)


def duck(sql: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = duckdb.connect().execute(sql).fetchall()
    return rows


def dataset(path: Path) -> str:
    return f"read_parquet('{path}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def test_duckdb_sums_equal_the_ledger_over_two_utc_days(tmp_path: Path) -> None:
    s = scenario(tmp_path)
    report = Simulation(s).run()
    rows = duck(f"select meter_id, sum(consumption), count(*) from {dataset(tmp_path / 'pq')} group by 1")
    sums = {m: int(total) for m, total, _ in rows}
    assert sums == ledger_sums(tmp_path / "truth.csv")
    assert sum(n for _, _, n in rows) == report.readings_generated == 20 * 96 * 2 + 10 * 24 * 2  # 15 min, 1 h
    # partitions by the UTC date of the interval end: 2026-01-01T00:00+05:00 is 2025-12-31T19:00Z
    start = datetime(2025, 12, 31, 19, tzinfo=timezone.utc)
    ends = [start + timedelta(minutes=15 * k) for k in range(1, 2 * 96 + 1)]
    expected = {e.date().isoformat() for e in ends}
    folders = {p.parent.parent.name.removeprefix("date=") for p in (tmp_path / "pq").rglob("*.parquet")}
    assert folders == expected == {"2025-12-31", "2026-01-01", "2026-01-02"}
    by_date = dict(duck(f"select cast(date as varchar), count(*) from {dataset(tmp_path / 'pq')} group by 1"))
    hours = [start + timedelta(hours=k) for k in range(1, 49)]
    assert by_date["2025-12-31"] == 20 * sum(e.date() == start.date() for e in ends) + 10 * sum(
        h.date() == start.date() for h in hours
    )
    # every row's ts falls in its partition's date
    outside = duck(f"select count(*) from {dataset(tmp_path / 'pq')} where cast(ts at time zone 'UTC' as date) <> date")
    assert outside == [(0,)]
    assert not list((tmp_path / "pq").rglob("*.tmp"))  # every file finished and renamed


def test_types_are_the_documented_ones_and_units_follow_the_commodity(tmp_path: Path) -> None:
    Simulation(scenario(tmp_path)).run()
    files = sorted((tmp_path / "pq").rglob("*.parquet"))
    assert files
    for path in files:
        schema = pq.read_schema(path)
        assert set(CORE) <= set(schema.names)
        for field in schema:
            assert field.type == DOCUMENTED[field.name], field.name
        assert [n for n in DOCUMENTED if n in schema.names] == schema.names  # the documented order
        metadata = pq.ParquetFile(path).metadata
        column = metadata.schema.column(schema.names.index("ts"))
        logical = json.loads(column.logical_type.to_json())
        assert (logical["Type"], logical["isAdjustedToUTC"], logical["timeUnit"]) == ("Timestamp", True, "milliseconds")
        assert metadata.row_group(0).column(0).compression == "ZSTD"
    units = dict(duck(f"select distinct commodity, unit from {dataset(tmp_path / 'pq')}"))
    assert units == {"electricity": "Wh", "gas": "L"}
    gas = duck(f"select count(*), count(battery_pct), count(register_converted) from {dataset(tmp_path / 'pq')} "
               "where commodity = 'gas'")  # fmt: skip
    assert gas[0][0] == gas[0][1] == 10 * 48
    # a column no meter of a file has is not in the file: no instantaneous values here, no grid
    assert not any("voltage_l1_v" in pq.read_schema(p).names or "feeder" in pq.read_schema(p).names for p in files)


def rich(tmp_path: Path) -> Any:
    """One group with everything on: tariff bands, PV export, instantaneous values, a grid, DCUs."""
    data = scenario_dict(duration="1d")
    group = data["fleet"][0]
    group.update(
        count=40,
        region="lahore",
        tariff="tou",
        pv={"fraction": 0.3, "kwp_mean": 5},
        instantaneous={"phases": 3},
        grid={"substations": 1, "feeders_per_substation": 2, "transformers_per_feeder": 2},
        concentrator={"per": "transformer"},
    )
    data["fleet"] = [group]
    data["tariffs"] = {
        "tou": {
            "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off-peak"}],
            "prices": {"peak": 49.35, "off-peak": 33.02},
        }
    }
    data["outputs"] = [{"type": "parquet", "path": str(tmp_path / "pq"), "row_group_rows": 1000}]
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    return parse_scenario(data)


def test_a_rich_group_fills_its_columns_and_still_sums(tmp_path: Path) -> None:
    Simulation(rich(tmp_path)).run()
    files = sorted((tmp_path / "pq").rglob("*.parquet"))
    for path in files:
        for field in pq.read_schema(path):
            assert field.type == DOCUMENTED[field.name], field.name
    table = dataset(tmp_path / "pq")
    devices = dict(duck(f"select device, count(*) from {table} group by 1"))
    assert devices == {"meter": 40 * 96, "transformer": 4 * 96, "feeder": 2 * 96}
    (bands,) = duck(f"select list(distinct band order by band) from {table} where device = 'meter'")
    assert bands[0] == ["off-peak", "peak"]
    counts = duck(f"select count(export), count(voltage_l3_v), count(concentrator), count(feeder), "
                  f"count(register_export) from {table} where device = 'meter'")  # fmt: skip
    assert counts == [(40 * 96,) * 5]
    assert pq.ParquetFile(files[-1]).metadata.num_row_groups >= 2  # row_group_rows: 1000
    sums = {m: int(t) for m, t in duck(f"select meter_id, sum(consumption) from {table} where device = 'meter' "
                                        "group by 1")}  # fmt: skip
    assert sums == ledger_sums(tmp_path / "truth.csv")


def test_two_shards_share_one_path_and_add_up_to_the_whole(tmp_path: Path) -> None:
    whole = scenario(tmp_path / "whole")
    Simulation(whole).run()
    for k in (0, 1):
        data = whole.model_dump(mode="json", exclude_none=True)
        data.update(outputs=[{"type": "discard"}], truth=None)
        sink = ParquetSink(tmp_path / "shared", shard=k)
        Simulation(parse_scenario(data), shard=Shard(k, 2), sinks=[sink]).run()
        assert sink.stats.accepted == sink.stats.acknowledged > 0
    shards = {p.parent.name for p in (tmp_path / "shared").rglob("*.parquet")}
    assert shards == {"shard=0", "shard=1"}
    per_shard = dict(duck(f"select shard, count(distinct meter_id) from {dataset(tmp_path / 'shared')} group by 1"))
    assert set(per_shard) == {0, 1} and sum(per_shard.values()) == 30
    sums = {m: int(t) for m, t in duck(f"select meter_id, sum(consumption) from {dataset(tmp_path / 'shared')} "
                                        "group by 1")}  # fmt: skip
    assert sums == ledger_sums(tmp_path / "whole" / "truth.csv")


def test_a_rerun_replaces_its_shard_and_a_resume_keeps_it(tmp_path: Path) -> None:
    folder = tmp_path / "pq" / "date=2020-01-01" / "shard=0"
    folder.mkdir(parents=True)
    (folder / "part-00007.parquet").write_bytes(b"old")
    (folder / ".part-00008.parquet.tmp").write_bytes(b"half")
    other = tmp_path / "pq" / "date=2020-01-01" / "shard=1"
    other.mkdir()
    (other / "part-00000.parquet").write_bytes(b"another shard's")
    with ParquetSink(tmp_path / "pq", append=True):
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["part-00007.parquet"]  # a killed run's half file goes
    with ParquetSink(tmp_path / "pq"):
        pass
    assert not list(folder.iterdir()) and (other / "part-00000.parquet").exists()


def test_late_readings_of_a_bad_day_land_in_their_date_and_still_sum(tmp_path: Path) -> None:
    """bad-day: a 6-hour DCU outage whose backlog comes late, delays, duplicates and drops."""
    import yaml

    data = yaml.safe_load((ROOT / "configs" / "bad-day.yaml").read_text())
    data["fleet"][0]["count"] = 200
    data["outputs"] = [{"type": "parquet", "path": str(tmp_path / "pq")}]
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    data.pop("report", None)
    Simulation(parse_scenario(data)).run()
    table = dataset(tmp_path / "pq")
    (late,) = duck(f"select count(*) from {table} where sent_at - ts > interval 1 hour and device = 'meter'")
    assert late[0] > 0  # the backlog came in late
    # duplicates are delivered twice, as a broker would see them: count each reading once
    sums = {m: int(t) for m, t in duck(
        f"select meter_id, sum(consumption) from (select distinct meter_id, ts, seq, consumption from {table} "
        "where device = 'meter') group by 1")}  # fmt: skip
    expected = ledger_sums(tmp_path / "truth.csv")
    assert sums == {m: v for m, v in expected.items() if m in sums}
    assert set(expected) - set(sums) == set()  # every meter published something
    outside = duck(f"select count(*) from {table} where cast(ts at time zone 'UTC' as date) <> date")
    assert outside == [(0,)]


def test_memory_stays_bounded_when_many_files_are_open(tmp_path: Path) -> None:
    """buffer_rows caps the rows waiting in all files: the fullest writes a smaller row group early."""
    s = scenario(tmp_path)
    data = s.model_dump(mode="json", exclude_none=True)
    data.update(outputs=[{"type": "discard"}], truth=None)
    sink = ParquetSink(tmp_path / "pq", row_group_rows=1000, buffer_rows=1500)
    waiting = []
    send = sink.send_batch

    def watched(batch: Any, rows: Any) -> None:
        send(batch, rows)
        waiting.append(max(sink._waiting, sink._held_rows))

    sink.send_batch = watched  # type: ignore[method-assign]
    Simulation(parse_scenario(data), sinks=[sink]).run()
    assert max(waiting) <= 1500  # (a batch of this fleet has at most 20 rows)
    assert sink.stats.acknowledged == sink.stats.accepted == 20 * 192 + 10 * 48


def test_events_and_payloads_never_reach_the_sink(tmp_path: Path) -> None:
    data = rich(tmp_path).model_dump(mode="json", exclude_none=True)
    data["fleet"][0]["supply"] = {"outages": {"per": "transformer", "per_year": 3000, "restore_minutes_median": 60}}
    data["outputs"].append({"type": "file", "path": str(tmp_path / "r.jsonl")})
    data["truth"] = None
    report = Simulation(parse_scenario(data)).run()
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    events = sum('"metersim/event/v1"' in line for line in lines)
    assert events > 0
    parquet, jsonl = report.outputs[0], report.outputs[1]
    assert parquet.accepted == parquet.acknowledged == len(lines) - events
    assert jsonl.accepted == len(lines)
    with pytest.raises(TypeError, match="send_batch"):
        ParquetSink(tmp_path / "x").send(None)  # type: ignore[arg-type]


def test_a_full_disk_is_one_line_exit_5_and_counted(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {made.stderr.decode().strip()}")
    try:
        s = scenario(tmp_path, outputs=[{"type": "parquet", "path": str(mount / "pq"), "row_group_rows": 1000}])
        data = s.model_dump(mode="json", exclude_none=True)
        data["fleet"][0]["count"] = 2000
        data["truth"] = None
        simulation = Simulation(parse_scenario(data))
        with pytest.raises(OutputNotWritableError, match="No space left on device") as caught:
            simulation.run()
        assert "\n" not in str(caught.value)
        stats = simulation.report.outputs[0]
        assert stats.errors > 0 and stats.accepted == stats.acknowledged + stats.errors
        assert not list(mount.rglob("*.tmp"))
        finished = list(mount.rglob("*.parquet"))
        assert sum(pq.ParquetFile(p).metadata.num_rows for p in finished) == stats.acknowledged
        cli = subprocess.run(
            [sys.executable, "-m", "metersim", "run", "--quiet", "-"], input=copy.deepcopy(_yaml(data)),
            capture_output=True, text=True,
            timeout=120, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        assert cli.returncode == 5, cli.stderr
        assert [line for line in cli.stderr.splitlines() if "No space" in line]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(data))


def test_without_pyarrow_the_error_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what `import pyarrow` meets where it is not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'metersim\[parquet\]'") as caught:
        ParquetSink(tmp_path / "pq")
    assert "\n" not in str(caught.value)


def test_config_bounds(tmp_path: Path) -> None:
    for bad, where in (({"row_group_rows": 10}, "row_group_rows"), ({"compression_level": 23}, "compression_level"),
                       ({"path": "a\x00b"}, "path"), ({"format": "json"}, "format")):  # fmt: skip
        output = {"type": "parquet", "path": str(tmp_path), **bad}
        with pytest.raises(ConfigError, match=rf"outputs\[0\]\.{where}"):
            scenario(tmp_path, outputs=[output])
