"""The ground-truth ledger against the published payloads, its CSV formatting, and Parquet = CSV."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pytest

from metersim.fleet import build_attributes
from metersim.model.weather import Weather
from metersim.parameters import climate_params
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from metersim.streams import group_key
from tests.conftest import make_scenario

SEED = 9
#: the columns and their order, as documented in metersim/ledger/truth.py
DOCUMENTED_COLUMNS = [
    "interval_end",
    "interval_end_s",
    "meter_id",
    "device",
    "group",
    "commodity",
    "unit",
    "seq",
    "true_consumption",
    "import",
    "export",
    "register_import",
    "register_export",
    "register_converted",
    "band",
    "temperature_c",
    "ghi_w_m2",
    "region",
    "substation",
    "feeder",
    "transformer",
    "losses",
    "unmetered",
    "published",
]
ENERGY = ("true_consumption", "import", "export", "register_import", "register_export", "register_converted")
THREE_DECIMALS = re.compile(r"^-?\d+\.\d{3}$")
WITHHELD = ("homes-000001", 3)  # a reading the test transform keeps from being published


def scenario(path):
    return make_scenario(
        {
            "simulation": {"start": "2026-06-20T00:00:00+05:00", "duration": "1d", "seed": SEED},
            "tariffs": {
                "tou": {
                    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "22:00"}]}, {"name": "offpeak"}],
                    "prices": {"peak": 40, "offpeak": 25},
                }
            },
            "fleet": [
                {
                    "name": "homes",
                    "commodity": "electricity",
                    "count": 24,
                    "timezone": "Asia/Karachi",
                    "region": "lahore",
                    "interval_s": 900,
                    "annual_kwh": 4000,
                    "tariff": "tou",
                    "pv": {"fraction": 0.5, "kwp_mean": 6},
                    "grid": {
                        "substations": 1,
                        "feeders_per_substation": 1,
                        "transformers_per_feeder": 3,
                        "unmetered_pct": 5,
                    },
                },
                {
                    "name": "plain",
                    "commodity": "electricity",
                    "count": 5,
                    "timezone": "UTC",  # no built-in region for UTC: no weather columns
                    "interval_s": 3600,
                    "annual_kwh": 2000,
                },
                {
                    "name": "flats",
                    "commodity": "gas",
                    "count": 12,
                    "timezone": "Asia/Tashkent",
                    "interval_s": 3600,
                    "annual_m3": 900,
                    "converter_fraction": 0.5,
                },
            ],
            "outputs": [{"type": "discard"}],
            "truth": {"path": str(path)},
        }
    )


def withhold(batch):
    """Keep one reading of one meter from being published."""
    meters = batch.meters
    if meters.grid_side or meters.group != "homes" or int(batch.seq[0]) != WITHHELD[1]:
        return batch, []
    published = np.array(batch.published, copy=True)
    published[meters.ids.index(WITHHELD[0])] = False
    return batch.replace(published=published), []


def run(path):
    sink = MemorySink()
    s = scenario(path)
    Simulation(s, sinks=[sink], transforms=[withhold]).run()
    return s, sink.readings()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("truth") / "truth.csv"
    s, readings = run(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, values)) for values in reader]
    return s, readings, header, rows


def by_key(rows):
    return {(row["meter_id"], int(row["seq"])): row for row in rows}


def milli(text) -> int:
    return round(float(text) * 1000)


def test_the_csv_has_the_documented_columns_in_order(ledger):
    _, _, header, _ = ledger
    assert header == DOCUMENTED_COLUMNS


def test_every_reading_has_exactly_one_ledger_row_and_only_the_withheld_one_is_unpublished(ledger):
    _, readings, _, rows = ledger
    keys = [(row["meter_id"], int(row["seq"])) for row in rows]
    assert len(keys) == len(set(keys))
    published = {k for k, row in zip(keys, rows) if row["published"] == "true"}
    assert published == {(r["meter_id"], r["seq"]) for r in readings}
    assert len(readings) == len(published)  # and no reading was published twice
    assert [k for k, row in zip(keys, rows) if row["published"] == "false"] == [WITHHELD]
    # 24 homes x 96 + 3 transformers and 1 feeder x 96 + 5 plain x 24 + 12 flats x 24
    assert len(rows) == 24 * 96 + 4 * 96 + 5 * 24 + 12 * 24


def test_published_columns_equal_the_payload(ledger):
    _, readings, _, rows = ledger
    rows = by_key(rows)
    for r in readings:
        row = rows[(r["meter_id"], r["seq"])]
        regs = r["registers"]
        main = "7-0:3.0.0" if r["commodity"] == "gas" else "1-0:1.8.0"
        assert row["import"] == f"{r['interval']['value']:.3f}"
        assert row["export"] == f"{r.get('export', {'value': 0})['value']:.3f}"
        assert row["register_import"] == f"{regs[main]:.3f}"
        assert row["register_export"] == f"{regs.get('1-0:2.8.0', 0):.3f}"
        assert row["register_converted"] == f"{regs.get('7-0:3.2.0', 0):.3f}"
        assert row["interval_end"] == r["ts"]
        assert int(row["interval_end_s"]) == datetime.fromisoformat(r["ts"]).timestamp()
        assert row["commodity"] == r["commodity"]
        assert row["unit"] == r["interval"]["unit"]
        assert row["device"] == r.get("device", "meter")
        if "band" in r:
            assert row["band"] == r["band"]
        if "topology" in r:
            assert {k: row[k] for k in ("region", "substation", "feeder", "transformer")} == r["topology"]


def test_register_converted_is_the_payloads_for_converter_meters_and_zero_for_the_others(ledger):
    s, readings, _, rows = ledger
    group = next(g for g in s.fleet if g.name == "flats")
    attributes = build_attributes(group, SEED)
    converter = {i for i, has in zip(attributes.meter_ids(), attributes.has_converter) if has}
    assert 0 < len(converter) < group.count
    rows = by_key(rows)
    gas = [r for r in readings if r["commodity"] == "gas"]
    for r in gas:
        row = rows[(r["meter_id"], r["seq"])]
        if r["meter_id"] in converter:
            assert milli(row["register_converted"]) == round(r["registers"]["7-0:3.2.0"] * 1000) > 0
        else:
            assert "7-0:3.2.0" not in r["registers"]
            assert row["register_converted"] == "0.000"


def test_true_consumption_is_the_import_without_pv_and_at_least_the_net_with_pv(ledger):
    s, _, _, rows = ledger
    homes = build_attributes(s.fleet[0], SEED)
    pv = {i for i, kwp in zip(homes.meter_ids(), homes.pv_kwp) if kwp > 0}
    assert 0 < len(pv) < 24
    exported = 0
    for row in rows:
        true, imported, export = milli(row["true_consumption"]), milli(row["import"]), milli(row["export"])
        if row["device"] != "meter":
            assert true == imported - export  # the net energy delivered
        elif row["meter_id"] in pv:
            # import - export = load - generation, rounded to Wh twice: never more than the load
            assert imported <= true + 1
            assert imported - export <= true + 1
            exported += export
        else:
            assert true == imported and export == 0
    assert exported > 0  # midsummer in Lahore: the PV meters do feed back


def test_grid_side_rows_carry_their_device_and_place_and_the_unmetered_share(ledger):
    _, _, _, rows = ledger
    grid = [row for row in rows if row["device"] != "meter"]
    assert {row["device"] for row in grid} == {"transformer", "feeder"}
    assert {row["meter_id"] for row in grid} == {
        "homes-SS01-F01-T001",
        "homes-SS01-F01-T002",
        "homes-SS01-F01-T003",
        "homes-SS01-F01",
    }
    for row in grid:
        assert row["region"] == "lahore" and row["substation"] == "homes-SS01" and row["group"] == "homes"
        if row["device"] == "transformer":
            assert row["transformer"] == row["meter_id"] and row["feeder"] == "homes-SS01-F01"
        else:
            assert row["feeder"] == row["meter_id"] and row["transformer"] == ""
        assert milli(row["losses"]) >= 0 and milli(row["unmetered"]) >= 0
    # unmetered = 5 % of the true consumption of the meters on each transformer, in whole Wh
    load = defaultdict(int)
    for row in rows:
        if row["device"] == "meter" and row["transformer"]:
            load[(row["transformer"], row["interval_end_s"])] += milli(row["true_consumption"])
    for row in grid:
        if row["device"] == "transformer":
            expected = 0.05 * load[(row["meter_id"], row["interval_end_s"])]
            assert abs(milli(row["unmetered"]) - expected) <= 0.5
    # customer meters have neither losses nor unmetered consumption
    assert {(milli(row["losses"]), milli(row["unmetered"])) for row in rows if row["device"] == "meter"} == {(0, 0)}


def test_csv_formatting(ledger):
    s, _, _, rows = ledger
    lahore = Weather(climate_params(s.all_regions["lahore"]), SEED, group_key("lahore"), "Asia/Karachi")
    for row in rows:
        for name in ENERGY:
            assert THREE_DECIMALS.match(row[name]), (name, row[name])
        assert row["published"] in ("true", "false")
        assert row["seq"].isdigit() and row["interval_end_s"].isdigit()
        if row["group"] == "plain":  # no region: empty weather and places
            assert row["temperature_c"] == "" and row["ghi_w_m2"] == ""
            assert (row["region"], row["substation"], row["feeder"], row["transformer"]) == ("", "", "", "")
            assert row["band"] == ""
        else:
            assert len(row["temperature_c"].partition(".")[2]) <= 2
            assert len(row["ghi_w_m2"].partition(".")[2]) <= 1
            assert float(row["ghi_w_m2"]) >= 0
        if row["group"] == "flats":
            assert row["region"] == "tashkent" and row["substation"] == ""
    # the temperature is the region's at the middle of the interval
    first = next(row for row in rows if row["group"] == "homes")
    middle = int(first["interval_end_s"]) - 450
    assert float(first["temperature_c"]) == round(float(lahore.temperature_c(middle)), 2)


def test_losses_and_unmetered_are_written_with_three_decimals_like_the_other_energies(ledger):
    # The docstring: "Energies are exact to the published three decimals"; losses and unmetered are energies
    # [unit] too (they used to be written as Python floats: "0.0", "0.033", "1.5").
    _, _, _, rows = ledger
    for row in rows:
        for name in ("losses", "unmetered"):
            assert THREE_DECIMALS.match(row[name]), (name, row[name])
    assert any(milli(row["losses"]) > 0 for row in rows) and any(milli(row["unmetered"]) > 0 for row in rows)


def test_a_parquet_ledger_holds_the_same_rows_as_the_csv_one(ledger, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    _, _, header, csv_rows = ledger
    path = tmp_path / "truth.parquet"
    run(path)
    table = pq.read_table(path)
    assert table.column_names == header
    parquet_rows = table.to_pylist()
    assert len(parquet_rows) == len(csv_rows)
    for p, c in zip(parquet_rows, csv_rows):
        for name in header:
            value = p[name]
            if name in (*ENERGY, "losses", "unmetered"):
                assert f"{value:.3f}" == c[name], name
            elif name == "interval_end":  # the same instant, in UTC
                assert value.utcoffset() == timedelta(0) and value == datetime.fromisoformat(c[name]), name
            elif name in ("temperature_c", "ghi_w_m2"):
                assert (c[name] == "") if value is None else (float(c[name]) == value), name
            elif name == "published":
                assert ("true" if value else "false") == c[name]
            else:
                assert str(value) == c[name], name
