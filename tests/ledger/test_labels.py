"""The labels file: every label of a run, once, in order, with local times checked against zoneinfo."""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from metersim.errors import ConfigError, MissingDependencyError, OutputNotWritableError
from metersim.ledger import labels as labels_module
from metersim.ledger.labels import COLUMNS, LabelWriter
from metersim.records import Label, ReadingBatch
from metersim.simulation import Simulation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario

#: the columns and their order, as documented in metersim/ledger/labels.py and docs/labels.md
DOCUMENTED_COLUMNS = ["meter_id", "group", "kind", "start", "end", "start_s", "end_s", "severity", "detail"]
ZONES = {"lahore": "Asia/Karachi", "amsterdam": "Europe/Amsterdam"}
DST_STARTS_UTC = 1_774_746_000  # 2026-03-29T01:00:00Z


def scenario():
    """Two groups over Amsterdam's switch to summer time; Lahore has grid-side meters too."""
    return make_scenario(
        {
            "simulation": {"start": "2026-03-29T04:00:00+05:00", "duration": "4h", "seed": 5},
            "fleet": [
                {
                    "name": "lahore",
                    "commodity": "electricity",
                    "count": 6,
                    "id_format": "PK-{index:04d}",
                    "timezone": "Asia/Karachi",
                    "interval_s": 900,
                    "annual_kwh": 2400,
                    "grid": {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 2},
                },
                {
                    "name": "amsterdam",
                    "commodity": "electricity",
                    "count": 3,
                    "id_format": "NL-{index:04d}",
                    "timezone": "Europe/Amsterdam",
                    "interval_s": 900,
                    "annual_kwh": 2800,
                },
            ],
            "outputs": [{"type": "discard"}],
        }
    )


class Labeller:
    """A transform that labels the first row of every third interval, and remembers what it labelled."""

    def __init__(self) -> None:
        self.made: list[tuple[str, Label]] = []  # (group, label)

    def __call__(self, batch: ReadingBatch) -> tuple[ReadingBatch, list[Label]]:
        found = []
        for row in np.flatnonzero(batch.seq % 3 == 0)[:1].tolist():
            meter_id = batch.meters.ids[int(batch.meters_at[row])]
            end_s = int(batch.end_s[row])
            seq = int(batch.seq[row])
            kind = "comms_drop" if seq % 2 else "comms_backlog"
            label = Label(meter_id, end_s - 1800, end_s, kind, severity=seq / 7, detail=f'seq {seq}, "quoted"')
            found.append(label)
            self.made.append((batch.meters.group, label))
        return batch, found


def run(path, transforms=(), **writer):
    with LabelWriter(path, **writer) as labels:
        Simulation(scenario(), sinks=[MemorySink()], observers=[labels], transforms=list(transforms)).run()
    return labels


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    labeller = Labeller()
    writer = run(path, [labeller])
    header, rows = read_csv(path)
    return labeller, writer, header, rows


def test_the_csv_has_the_documented_columns_in_order(labelled):
    _, _, header, _ = labelled
    assert header == DOCUMENTED_COLUMNS == list(COLUMNS)


def test_every_label_is_written_once_in_the_order_the_engine_reported_it(labelled):
    labeller, writer, _, rows = labelled
    assert len(rows) == writer.rows == len(labeller.made) > 0
    written = [(r["group"], r["meter_id"], r["kind"], int(r["start_s"]), int(r["end_s"])) for r in rows]
    assert written == [(g, lb.meter_id, lb.kind, lb.start_s, lb.end_s) for g, lb in labeller.made]
    assert {r["group"] for r in rows} == {"lahore", "amsterdam"}
    assert any(r["meter_id"].startswith("lahore-SS01-F01-T") for r in rows)  # a grid-side meter's label


def test_severity_and_detail_read_back_exactly(labelled):
    labeller, _, _, rows = labelled
    for row, (_, label) in zip(rows, labeller.made):
        assert float(row["severity"]) == label.severity  # the shortest text of the same double
        assert row["detail"] == label.detail  # commas and quotes survive CSV quoting


def test_start_and_end_are_local_iso_times_of_the_same_instants(labelled):
    _, _, _, rows = labelled
    offsets = set()
    for row in rows:
        zone = ZoneInfo(ZONES[row["group"]])
        for name in ("start", "end"):
            epoch_s = int(row[f"{name}_s"])
            assert row[name] == datetime.fromtimestamp(epoch_s, zone).isoformat()
            assert datetime.fromisoformat(row[name]).timestamp() == epoch_s
            offsets.add((row["group"], row[name][-6:]))
    assert offsets == {("lahore", "+05:00"), ("amsterdam", "+01:00"), ("amsterdam", "+02:00")}


def test_the_dst_switch_shows_in_the_offset(labelled):
    _, _, _, rows = labelled
    nl = [r for r in rows if r["group"] == "amsterdam"]
    before = [r for r in nl if int(r["end_s"]) < DST_STARTS_UTC]
    after = [r for r in nl if int(r["end_s"]) >= DST_STARTS_UTC]
    assert before and after
    assert all(r["end"].endswith("+01:00") for r in before)
    assert all(r["end"].endswith("+02:00") for r in after)


def test_a_run_without_labels_leaves_a_header_only_file(tmp_path):
    writer = run(tmp_path / "none.csv")
    assert writer.rows == 0
    assert (tmp_path / "none.csv").read_bytes() == ",".join(DOCUMENTED_COLUMNS).encode() + b"\r\n"


def test_append_continues_a_csv_file_without_a_second_header(tmp_path):
    path = tmp_path / "labels.csv"
    first, second = Labeller(), Labeller()
    run(path, [first])
    run(path, [second], append=True)
    header, rows = read_csv(path)
    assert header == DOCUMENTED_COLUMNS
    assert len(rows) == len(first.made) + len(second.made)
    assert path.read_text(encoding="utf-8").count("meter_id,") == 1


def test_append_to_a_missing_or_empty_file_writes_the_header(tmp_path):
    for path in (tmp_path / "missing.csv", tmp_path / "empty.csv"):
        if path.name == "empty.csv":
            path.write_text("")
        run(path, append=True)
        assert read_csv(path) == (DOCUMENTED_COLUMNS, [])


def test_close_twice_and_flush_are_safe(tmp_path):
    writer = LabelWriter(tmp_path / "l.csv")
    writer.open()
    writer.flush()
    writer.close()
    writer.close()
    writer.flush()
    assert read_csv(tmp_path / "l.csv") == (DOCUMENTED_COLUMNS, [])


def test_an_unwritable_path_is_one_line_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputNotWritableError, match=r"^cannot write labels .*file/labels.csv: "):
        LabelWriter(tmp_path / "file" / "labels.csv").open()


# --- Parquet ---------------------------------------------------------------------------------------


def test_a_parquet_labels_file_has_typed_columns_and_the_csv_rows(labelled, tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _, _, _, rows = labelled
    monkeypatch.setattr(labels_module, "_PARQUET_ROWS", 3)  # several row groups
    path = tmp_path / "labels.parquet"
    run(path, [Labeller()])
    table = pq.read_table(path)
    utc = pa.timestamp("ms", tz="UTC")  # Parquet has no unit of seconds: whole seconds, stored in ms
    assert dict(zip(table.schema.names, table.schema.types)) == {
        "meter_id": pa.string(),
        "group": pa.string(),
        "kind": pa.string(),
        "start": utc,
        "end": utc,
        "start_s": pa.int64(),
        "end_s": pa.int64(),
        "severity": pa.float64(),
        "detail": pa.string(),
    }
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    got = table.to_pylist()
    assert len(got) == len(rows)
    for parquet_row, csv_row in zip(got, rows):
        for name in ("meter_id", "group", "kind", "detail"):
            assert parquet_row[name] == csv_row[name]
        for name in ("start", "end"):
            assert parquet_row[f"{name}_s"] == int(csv_row[f"{name}_s"])
            assert parquet_row[name] == datetime.fromisoformat(csv_row[name]).astimezone(timezone.utc)
        assert repr(parquet_row["severity"]) == csv_row["severity"]


def test_a_parquet_file_without_labels_has_the_schema_and_no_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    run(tmp_path / "none.parquet")
    table = pq.read_table(tmp_path / "none.parquet")
    assert table.num_rows == 0
    assert table.schema.names == DOCUMENTED_COLUMNS


def test_parquet_is_chosen_by_the_suffix_or_by_fmt(tmp_path):
    assert LabelWriter(tmp_path / "a.parquet").format == "parquet"
    assert LabelWriter(tmp_path / "a.csv").format == "csv"
    assert LabelWriter(tmp_path / "a.dat", "parquet").format == "parquet"


def test_parquet_cannot_be_appended(tmp_path):
    with pytest.raises(ConfigError, match="CSV labels"):
        LabelWriter(tmp_path / "labels.parquet", append=True).open()


def test_parquet_labels_without_pyarrow_are_a_missing_dependency(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    message = r"^writing the labels as Parquet needs pyarrow: pip install 'metersim\[parquet\]'$"
    with pytest.raises(MissingDependencyError, match=message), LabelWriter(tmp_path / "labels.parquet"):
        pass
    assert not (tmp_path / "labels.parquet").exists()
