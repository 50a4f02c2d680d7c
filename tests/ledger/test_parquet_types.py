"""Parquet outputs have proper types (ledger, weather log, bills), and hold what the CSV of the same run holds.

The oracle is pyarrow reading the files back: the Arrow schema, the Parquet logical types that other
readers see, and the values against the CSV files written by the same simulation.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from metersim.errors import MissingDependencyError
from metersim.ledger.bill_files import write_bills
from metersim.ledger.billing import BillObserver
from metersim.ledger.bills import compute_bill
from metersim.ledger.truth import TruthWriter
from metersim.ledger.weather import WeatherLog
from metersim.simulation import Simulation, build_groups, regions_of
from metersim.windows import resolve_window
from tests.conftest import make_scenario, scenario_dict
from tests.ledger.test_bills import UZ_GAS, sample_bills
from tests.ledger.test_truth import scenario as truth_scenario
from tests.ledger.test_truth import withhold

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

UTC_MS = pa.timestamp("ms", tz="UTC")
MONEY = pa.decimal128(38, 2)
LEDGER_TYPES = {
    "interval_end": UTC_MS,
    "interval_end_s": pa.int64(),
    "meter_id": pa.string(),
    "device": pa.string(),
    "group": pa.string(),
    "commodity": pa.string(),
    "unit": pa.string(),
    "seq": pa.int64(),
    "true_consumption": pa.float64(),
    "import": pa.float64(),
    "export": pa.float64(),
    "register_import": pa.float64(),
    "register_export": pa.float64(),
    "register_converted": pa.float64(),
    "band": pa.string(),
    "temperature_c": pa.float64(),
    "ghi_w_m2": pa.float64(),
    "region": pa.string(),
    "substation": pa.string(),
    "feeder": pa.string(),
    "transformer": pa.string(),
    "losses": pa.float64(),
    "unmetered": pa.float64(),
    "published": pa.bool_(),
}
LEDGER_ENERGY = [
    "true_consumption", "import", "export", "register_import", "register_export", "register_converted",
    "losses", "unmetered",
]  # fmt: skip
WEATHER_TYPES = {
    "region": pa.string(),
    "time": UTC_MS,
    "time_s": pa.int64(),
    "temperature_c": pa.float64(),
    "ghi_w_m2": pa.float64(),
    "clearness": pa.float64(),
}
WEATHER_DECIMALS = {"temperature_c": 2, "ghi_w_m2": 1, "clearness": 3}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def types(path: Path) -> dict[str, pa.DataType]:
    schema = pq.read_schema(path)
    return {field.name: field.type for field in schema}


def assert_no_decimal_but_money(path: Path) -> None:
    for name, kind in types(path).items():
        if pa.types.is_decimal(kind):
            assert kind == MONEY, (path.name, name, kind)


def assert_utc_in_the_file(path: Path, column: str) -> None:
    """What any Parquet reader sees: an INT64 timestamp adjusted to UTC, not a string."""
    parquet = pq.ParquetFile(path).schema
    index = parquet.names.index(column)
    logical = parquet.column(index).logical_type.to_json()
    assert '"Type":"Timestamp"' in logical and '"isAdjustedToUTC":true' in logical, logical
    assert parquet.column(index).physical_type == "INT64"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run writing the ledger and the weather log both as CSV (the scenario's) and as Parquet, and its bills."""
    folder = tmp_path_factory.mktemp("typed")
    data = truth_scenario(folder / "truth.csv").model_dump(mode="json", exclude_none=True)
    data["truth"]["weather_path"] = str(folder / "weather.csv")
    s = make_scenario(data)
    window, _ = resolve_window(s)
    bills = BillObserver(s)
    with (
        TruthWriter(folder / "truth.parquet", "parquet") as ledger,
        WeatherLog(folder / "weather.parquet", regions_of(build_groups(s, window))) as weather,
    ):
        report = Simulation(s, transforms=[withhold], observers=[ledger, bills], processes=weather.processes()).run()
    assert report.status == "completed"
    before = (folder / "truth.parquet").read_bytes()
    ledger.close()  # closing again leaves the file as it is
    assert (folder / "truth.parquet").read_bytes() == before
    billed = bills.bills()
    write_bills(billed, folder / "bills.csv")
    write_bills(billed, folder / "bills.parquet")
    return folder


# --- the ledger ----------------------------------------------------------------------------------------


def test_the_ledger_schema(run):
    assert types(run / "truth.parquet") == LEDGER_TYPES
    assert_utc_in_the_file(run / "truth.parquet", "interval_end")
    assert_no_decimal_but_money(run / "truth.parquet")
    schema = pq.read_schema(run / "truth.parquet")
    assert [f.name for f in schema if f.nullable] == ["temperature_c", "ghi_w_m2"]


def test_the_ledger_parquet_holds_the_csv_of_the_same_run(run):
    header, rows = read_csv(run / "truth.csv")
    table = pq.read_table(run / "truth.parquet")
    assert table.column_names == header
    assert table.num_rows == len(rows) > 0
    for p, c in zip(table.to_pylist(), rows):
        assert p["interval_end"] == datetime.fromisoformat(c["interval_end"])  # the same instant
        assert p["interval_end"].utcoffset() == timedelta(0)
        assert p["interval_end"].timestamp() == p["interval_end_s"] == int(c["interval_end_s"])
        assert p["seq"] == int(c["seq"])
        for name in LEDGER_ENERGY:
            assert f"{p[name]:.3f}" == c[name], name  # the CSV has exactly three decimals
        assert p["unit"] == c["unit"] == {"electricity": "kWh", "gas": "m3"}[c["commodity"]]
        for name in ("temperature_c", "ghi_w_m2"):
            assert (p[name] is None) if c[name] == "" else (p[name] == float(c[name])), name
        assert p["published"] is (c["published"] == "true")
        for name in ("meter_id", "device", "group", "commodity", "band", "region", "substation", "feeder"):
            assert p[name] == c[name], name
    assert {r["group"] for r in rows if r["temperature_c"] == ""} == {"plain"}  # null where there is no region


def test_an_empty_parquet_ledger_still_has_its_schema(tmp_path):
    path = tmp_path / "empty.parquet"
    writer = TruthWriter(path, "parquet")
    writer.open()
    writer.close()
    writer.close()
    table = pq.read_table(path)
    assert table.num_rows == 0 and types(path) == LEDGER_TYPES


# --- the weather log -----------------------------------------------------------------------------------


def test_the_weather_schema(run):
    assert types(run / "weather.parquet") == WEATHER_TYPES
    assert_utc_in_the_file(run / "weather.parquet", "time")
    assert not any(f.nullable for f in pq.read_schema(run / "weather.parquet"))


def test_the_weather_parquet_holds_the_csv_of_the_same_run(run):
    header, rows = read_csv(run / "weather.csv")
    assert header == list(WEATHER_TYPES)
    parquet = pq.read_table(run / "weather.parquet").to_pylist()
    assert len(parquet) == len(rows) == 2 * 24  # lahore and tashkent, every hour of the day
    for p, c in zip(parquet, rows):
        assert p["region"] == c["region"]
        local = datetime.fromisoformat(c["time"])
        assert local.utcoffset() == timedelta(hours=5)  # both regions' local offset
        assert p["time"] == local and p["time"].utcoffset() == timedelta(0)
        assert p["time"].timestamp() == p["time_s"] == int(c["time_s"])
        for name, places in WEATHER_DECIMALS.items():
            assert f"{p[name]:.{places}f}" == c[name], name


def test_a_weather_path_ending_in_parquet_writes_parquet(tmp_path):
    data = scenario_dict(start="2026-01-01T00:00:00+05:00", duration="3h")
    data["truth"] = {"path": str(tmp_path / "truth.csv"), "weather_path": str(tmp_path / "w" / "weather.parquet")}
    Simulation(make_scenario(data)).run()
    table = pq.read_table(tmp_path / "w" / "weather.parquet")
    assert types(tmp_path / "w" / "weather.parquet") == WEATHER_TYPES
    assert table.num_rows == 2 * 3 and set(table.column("region").to_pylist()) == {"lahore", "tashkent"}


def test_a_weather_log_without_regions_is_an_empty_typed_file(tmp_path):
    with WeatherLog(tmp_path / "weather.parquet", []):
        pass
    assert pq.read_table(tmp_path / "weather.parquet").num_rows == 0
    assert types(tmp_path / "weather.parquet") == WEATHER_TYPES


def test_a_parquet_weather_log_without_pyarrow_is_a_missing_dependency(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    message = r"^writing the weather log as Parquet needs pyarrow: pip install 'metersim\[parquet\]'$"
    with pytest.raises(MissingDependencyError, match=message), WeatherLog(tmp_path / "weather.parquet", []):
        pass
    assert not (tmp_path / "weather.parquet").exists()


# --- bills ---------------------------------------------------------------------------------------------


def bill_types(header: list[str]) -> dict[str, pa.DataType]:
    expected: dict[str, pa.DataType] = {}
    for name in header:
        if name in ("meter_id", "period", "currency", "unit", "basis"):
            expected[name] = pa.string()
        elif name == "days" or name.startswith("units_"):
            expected[name] = pa.float64()
        elif name == "seconds":
            expected[name] = pa.int64()
        else:
            expected[name] = MONEY
    return expected


def assert_bills_equal(csv_path: Path, parquet_path: Path) -> None:
    header, rows = read_csv(csv_path)
    assert types(parquet_path) == bill_types(header)
    assert_no_decimal_but_money(parquet_path)
    parquet = pq.read_table(parquet_path).to_pylist()
    assert len(parquet) == len(rows)
    for p, c in zip(parquet, rows):
        assert list(p) == header
        for name in header:
            value, text = p[name], c[name]
            if text == "":
                assert value is None, name
            elif name in ("meter_id", "period", "currency", "unit", "basis"):
                assert value == text, name
            elif name == "seconds":
                assert value == int(text) == Decimal(c["days"]) * 86400, name
            elif name == "days":
                assert value == float(Decimal(text)), name
            elif name.startswith("units_"):
                assert f"{value:.3f}" == text, name  # three decimals in the CSV
            else:
                assert isinstance(value, Decimal) and value == Decimal(text) and -value.as_tuple().exponent == 2, name


def test_the_bills_of_a_run(run):
    header, rows = read_csv(run / "bills.csv")
    assert header[:6] == ["meter_id", "period", "currency", "days", "seconds", "unit"]
    assert rows and {r["unit"] for r in rows} == {"kWh"}
    assert {r["seconds"] for r in rows} == {"86400"}  # one day of June
    assert_bills_equal(run / "bills.csv", run / "bills.parquet")


def test_bills_of_mixed_tariffs_are_null_where_the_csv_is_empty(tmp_path):
    bills = [*sample_bills(), compute_bill(UZ_GAS, "UZ-G-1", "2026-03", 3, Decimal(31), [12_345], "m3")]
    write_bills(bills, tmp_path / "bills.csv")
    write_bills(bills, tmp_path / "bills.parquet")
    assert_bills_equal(tmp_path / "bills.csv", tmp_path / "bills.parquet")
    rows = pq.read_table(tmp_path / "bills.parquet").to_pylist()
    assert rows[1]["days"] == 1 / 24 and rows[1]["seconds"] == 3600
    assert rows[-1]["unit"] == "m3" and rows[-1]["units_night"] is None
    nullable = {f.name for f in pq.read_schema(tmp_path / "bills.parquet") if f.nullable}
    assert nullable == {n for n in types(tmp_path / "bills.parquet") if n.startswith(("units_", "tax_"))}


def test_no_bills_is_an_empty_typed_file(tmp_path):
    write_bills([], tmp_path / "bills.parquet")
    write_bills([], tmp_path / "bills.csv")
    header, _ = read_csv(tmp_path / "bills.csv")
    assert pq.read_table(tmp_path / "bills.parquet").num_rows == 0
    assert types(tmp_path / "bills.parquet") == bill_types(header)
