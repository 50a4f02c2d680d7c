"""The engine pipeline: a transform changes what is published, and only that."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from metersim.ledger.billing import BillObserver
from metersim.records import Label, ReadingBatch
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario, scenario_dict

TOU = {
    "commodity": "electricity",
    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off-peak"}],
    "prices": {"peak": 40.0, "off-peak": 30.0},
    "standing_charge_per_day": 10,
}
TARGET = "PK-LESCO-000003"
EXTRA_MILLI = 7_000  # the transform adds 7 kWh to every reading of one meter


class InflateOneMeter:
    """A test transform: one meter publishes 7 kWh more per interval (a "spike" fault, always on)."""

    def __init__(self) -> None:
        self.total: dict[str, int] = {}

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        if batch.meters.grid_side or batch.meters.group != "lahore":
            return batch, []
        row = batch.meters.ids.index(TARGET)
        imported = batch.import_milli.copy()
        imported[row] += EXTRA_MILLI
        added = self.total[TARGET] = self.total.get(TARGET, 0) + EXTRA_MILLI
        registers = batch.registers
        total = registers.total.copy()
        total[row] += added
        bands = registers.bands.copy() if registers.bands is not None else None
        if bands is not None:
            bands[int(batch.band[row]), row] += EXTRA_MILLI
        changed = batch.replace(
            import_milli=imported, registers=type(registers)(total=total, bands=bands), quality=batch.quality
        )
        end = int(batch.end_s[row])
        return changed, [Label(TARGET, end, end, "test_inflate", 7.0, "import +7 kWh")]


def _scenario(tmp: Path, name: str):
    data = scenario_dict(duration="1d")
    data["tariffs"] = {"tou": TOU}
    data["fleet"][0].update(tariff="tou", region="lahore")
    data["truth"] = {"path": str(tmp / f"{name}.csv")}
    return make_scenario(data)


def _ledger(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _bills(scenario, transforms) -> list:
    observer = BillObserver(scenario)
    Simulation(scenario.without_outputs(), observers=[observer], transforms=transforms).run()
    return observer.bills()


def test_a_transform_changes_the_stream_and_the_published_columns_but_not_the_truth_or_the_bills(tmp_path):
    plain, changed = MemorySink(), MemorySink()
    Simulation(_scenario(tmp_path, "plain"), sinks=[plain]).run()
    report = Simulation(_scenario(tmp_path, "changed"), sinks=[changed], transforms=[InflateOneMeter()]).run()
    assert report.labels == 96  # one per interval of the target meter

    def by_key(sink: MemorySink) -> dict[tuple[str, int], dict]:
        return {(r["meter_id"], r["seq"]): r for r in sink.readings()}

    before, after = by_key(plain), by_key(changed)
    assert before.keys() == after.keys()
    for key, reading in before.items():
        if key[0] != TARGET:
            assert after[key] == reading
            continue
        seq = key[1]
        assert round(after[key]["interval"]["value"] - reading["interval"]["value"], 3) == 7.0
        assert round(after[key]["registers"]["1-0:1.8.0"] - reading["registers"]["1-0:1.8.0"], 3) == 7.0 * (seq + 1)

    ledger_before, ledger_after = _ledger(tmp_path / "plain.csv"), _ledger(tmp_path / "changed.csv")
    assert len(ledger_before) == len(ledger_after)
    published = {"import", "register_import"}
    for row_before, row_after in zip(ledger_before, ledger_after):
        for column, value in row_before.items():
            if row_before["meter_id"] == TARGET and column in published:
                assert float(row_after[column]) > float(value)
            else:  # the true columns, and every other meter, are untouched
                assert row_after[column] == value, column

    assert _bills(_scenario(tmp_path, "b1"), ()) == _bills(_scenario(tmp_path, "b2"), [InflateOneMeter()])


def test_a_transform_that_withholds_readings_marks_them_unpublished(tmp_path):
    def drop_first_meter(batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        published = batch.published.copy()
        published[0] = False
        return batch.replace(published=published), []

    sink = MemorySink()
    scenario = _scenario(tmp_path, "dropped")
    report = Simulation(scenario, sinks=[sink], transforms=[drop_first_meter]).run()
    ids = {r["meter_id"] for r in sink.readings()}
    assert "PK-LESCO-000001" not in ids and "UZ-GAS-000001" not in ids
    assert report.readings_published == report.readings_generated - 96 - 24
    rows = _ledger(tmp_path / "dropped.csv")
    unpublished = {row["meter_id"] for row in rows if row["published"] == "false"}
    assert unpublished == {"PK-LESCO-000001", "UZ-GAS-000001"}
    assert np.sum([row["published"] == "false" for row in rows]) == 96 + 24
