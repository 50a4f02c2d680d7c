"""The Parquet ledger as Hive partitions: a directory path, the rows of the CSV ledger, by UTC day.

Oracles: the CSV ledger of the same run (same seed, read with the csv module), the ledger types as
tests/ledger/test_parquet_types.py writes them out, and DuckDB reading the partitions.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from metersim.config import parse_scenario
from metersim.simulation import Simulation
from tests.conftest import scenario_dict
from tests.ledger.test_parquet_types import LEDGER_TYPES

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")


def run(tmp_path: Path, truth: dict[str, Any]) -> None:
    data = scenario_dict(duration="2d")
    data["truth"] = truth
    Simulation(parse_scenario(data)).run()


def csv_rows(path: Path) -> tuple[int, dict[str, int], Counter[str]]:
    """Rows, per-meter import [thousandths], and rows per UTC date (from ``interval_end_s``)."""
    sums: Counter[str] = Counter()
    dates: Counter[str] = Counter()
    rows = 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows += 1
            sums[row["meter_id"]] += int(Decimal(row["import"]) * 1000)
            dates[str(date(1970, 1, 1) + timedelta(days=int(row["interval_end_s"]) // 86400))] += 1
    return rows, dict(sums), dates


def test_a_directory_ledger_is_partitioned_by_utc_day_and_holds_the_csv_rows(tmp_path: Path) -> None:
    run(tmp_path, {"path": str(tmp_path / "csv" / "truth.csv")})
    run(tmp_path, {"path": str(tmp_path / "ledger"), "format": "parquet"})
    rows, sums, dates = csv_rows(tmp_path / "csv" / "truth.csv")
    files = sorted((tmp_path / "ledger").rglob("*.parquet"))
    assert {(p.parent.parent.name, p.parent.name) for p in files} == {(f"date={d}", "shard=0") for d in dates}
    assert not list((tmp_path / "ledger").rglob("*.tmp"))
    for path in files:
        assert {f.name: f.type for f in pq.read_schema(path)} == LEDGER_TYPES
    source = f"read_parquet('{tmp_path / 'ledger'}/**/*.parquet', hive_partitioning = true)"
    db = duckdb.connect()
    assert db.execute(f"select count(*) from {source}").fetchall() == [(rows,)]
    got = dict(
        db.execute(f"select meter_id, cast(round(sum(import) * 1000) as bigint) from {source} group by 1").fetchall()
    )
    assert got == sums
    by_date = dict(db.execute(f"select cast(date as varchar), count(*) from {source} group by 1").fetchall())
    assert by_date == dict(dates)
    outside = db.execute(f"select count(*) from {source} where cast(interval_end at time zone 'UTC' as date) <> date")
    assert outside.fetchall() == [(0,)]


def test_a_rerun_replaces_the_partitions_and_a_single_file_ledger_stays_one_file(tmp_path: Path) -> None:
    for _ in range(2):
        run(tmp_path, {"path": str(tmp_path / "ledger"), "format": "parquet"})
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (tmp_path / "ledger").rglob("*.parquet"))
    assert rows == 20 * 96 * 2 + 10 * 24 * 2  # once, not twice
    run(tmp_path, {"path": str(tmp_path / "one.parquet")})
    assert (tmp_path / "one.parquet").is_file() and pq.ParquetFile(tmp_path / "one.parquet").metadata.num_rows == rows
