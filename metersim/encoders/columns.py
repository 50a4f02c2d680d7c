"""Reading batches as Arrow columns, for the Parquet output: numbers stay numbers, no text is made.

:func:`pick` takes the rows of one emission out of a :class:`~metersim.records.ReadingBatch` as numpy
arrays (one fancy index per field, no per-row Python); :func:`table` joins the picks of one part file
into an Arrow table of :data:`SCHEMA`, the schema ``docs/parquet.md`` documents column by column.

Energies stay the integers the model made: thousandths of the unit, so Wh for electricity and litres for
gas (the ``unit`` column says which). Times are ``timestamp[s, tz=UTC]`` (Parquet stores them in ms,
UTC-adjusted). Text that repeats (ids, names, bands) is a dictionary column: the dictionary is built
once per meter set and each row stores an int32 index, so a million rows of one meter set share one
dictionary and the writer keeps its dictionary encoding.
A column that no row of a table has (the voltages of meters without instantaneous values, the grid
of a fleet without one) is left out of it, and so out of the file: an all-null column costs the writer
~5-10 ns a row, and there are twenty of them. Every file has :data:`CORE`; the rest come in the order and
with the types of :data:`SCHEMA` (read a dataset with DuckDB's ``union_by_name=true``).
Needs pyarrow: import this module only where Parquet is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from metersim._array import Array
from metersim.records import QUALITY_NAMES, MeterSet, ReadingBatch

#: the unit of every energy column, by commodity: thousandths of a kWh or of a m3
MILLI_UNIT = {"electricity": "Wh", "gas": "L"}
_TIME = pa.timestamp("s", tz="UTC")
_DICT = pa.dictionary(pa.int32(), pa.string())
_F32 = pa.float32()
_I64 = pa.int64()

#: (column, Arrow type, nullable); the order of the file
COLUMNS: tuple[tuple[str, pa.DataType, bool], ...] = (
    ("meter_id", _DICT, False),
    ("device", _DICT, False),
    ("group", _DICT, False),
    ("commodity", _DICT, False),
    ("unit", _DICT, False),
    ("ts", _TIME, False),
    ("sent_at", _TIME, False),
    ("interval_s", pa.int32(), False),
    ("seq", _I64, False),
    ("consumption", _I64, False),
    ("export", _I64, True),
    ("register_import", _I64, False),
    ("register_export", _I64, True),
    ("register_converted", _I64, True),
    ("band", _DICT, True),
    ("quality", _DICT, False),
    ("voltage_l1_v", _F32, True),
    ("voltage_l2_v", _F32, True),
    ("voltage_l3_v", _F32, True),
    ("current_l1_a", _F32, True),
    ("current_l2_a", _F32, True),
    ("current_l3_a", _F32, True),
    ("current_neutral_a", _F32, True),
    ("power_factor", _F32, True),
    ("frequency_hz", _F32, True),
    ("battery_pct", _F32, True),
    ("power_failures", _I64, True),
    ("long_power_failures", _I64, True),
    ("serial", _I64, True),
    ("losses", _I64, True),
    ("unmetered", _I64, True),
    ("region", _DICT, True),
    ("substation", _DICT, True),
    ("feeder", _DICT, True),
    ("transformer", _DICT, True),
    ("concentrator", _DICT, True),
)
SCHEMA = pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in COLUMNS])
#: the columns of every file (the rest are in a file when its meters have them)
CORE = ("meter_id", "device", "group", "commodity", "unit", "ts", "sent_at", "interval_s", "seq", "consumption",
        "register_import", "quality")  # fmt: skip
#: columns stored byte-stream-split (then zstd): large integers that differ from row to row, which
#: dictionary encoding only slows down (measured: 30 ns a row instead of 130, and 17% smaller)
BYTE_STREAM_SPLIT = ("register_import", "register_export", "register_converted")
#: columns whose values repeat: Parquet dictionary encoding pays (measured: it halves the cost of
#: ``sent_at`` and ``consumption``); the registers are all different, and cost twice as much with it
DICTIONARY_ENCODED = (*(n for n, t, _ in COLUMNS if t == _DICT), "sent_at", "consumption", "seq", "interval_s")
#: columns with min/max statistics (row-group pruning on time); statistics of ``meter_id`` cost
#: ~130 ns a row, more than the rest of the row
WITH_STATISTICS = ("ts", "sent_at", "seq")

_NUMERIC = (
    # column: field of the batch (registers.* and instantaneous.* reached below)
    "meters_at", "end_s", "sent_s", "seq", "import_milli", "export_milli", "band", "quality", "battery_pct",
    "serial", "losses_milli", "unmetered_milli",
)  # fmt: skip


@dataclass(eq=False)
class Dictionaries:
    """The dictionary columns of one meter set: each a dictionary and the index of every meter into it."""

    meter_id: pa.Array
    #: device, places, concentrator: (dictionary, index per meter, which meters have none [bool] or None)
    per_meter: dict[str, tuple[pa.Array, Array, Array | None]] = field(default_factory=dict)
    constant: dict[str, pa.Array] = field(default_factory=dict)  # group, commodity, unit: one value
    band: pa.Array | None = None
    quality: pa.Array = field(default_factory=lambda: pa.array(QUALITY_NAMES, pa.string()))

    @staticmethod
    def of(meters: MeterSet) -> Dictionaries:
        """Build the dictionaries of ``meters`` (its ids are made here: ~80 MB per million meters)."""
        out = Dictionaries(meter_id=pa.array(meters.ids, pa.string()))
        out.constant = {
            "group": pa.array([meters.group], pa.string()),
            "commodity": pa.array([meters.commodity], pa.string()),
            "unit": pa.array([MILLI_UNIT[meters.commodity]], pa.string()),
        }
        if meters.devices is not None:
            out.per_meter["device"] = _codes(meters.devices)
        else:
            out.constant["device"] = pa.array(["meter"], pa.string())
        if meters.places is not None:
            for name in ("region", "substation", "feeder", "transformer"):
                out.per_meter[name] = _codes([p.get(name, "") for p in meters.places])
        elif meters.region:
            out.constant["region"] = pa.array([meters.region], pa.string())
        if meters.concentrators is not None:
            out.per_meter["concentrator"] = _codes(meters.concentrators)
        if meters.band_names:
            out.band = pa.array(meters.band_names, pa.string())
        return out


def _codes(values: list[str]) -> tuple[pa.Array, Array, Array | None]:
    """Distinct values (the dictionary), each value's index into them, and where the value is "" (null)."""
    uniques, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    labels = uniques.tolist()
    empty = (codes == labels.index("")) if "" in labels else None
    return pa.array(labels, pa.string()), codes.astype(np.int32), empty


def pick(batch: ReadingBatch, rows: Array | slice) -> dict[str, Array]:
    """The numeric fields of rows ``rows`` of ``batch`` (``slice(None)``: all, in order, not copied):
    one array per field that the batch has."""
    out: dict[str, Array] = {}
    for name in _NUMERIC:
        values = getattr(batch, name)
        if values is not None:
            out[name] = values[rows]
    registers = batch.registers
    out["total"] = registers.total[rows]
    for name in ("export_total", "failures", "long_failures"):
        values = getattr(registers, name)
        if values is not None:
            out[name] = values[rows]
    if registers.converted is not None and registers.converted_mask is not None:
        out["converted"] = registers.converted[rows]
        out["converted_mask"] = registers.converted_mask[rows]
    instant = batch.instantaneous
    if instant is not None:
        out["volts"] = instant.volts[rows]
        out["amps"] = instant.amps[rows]
        out["power_factor"] = instant.power_factor[rows]
        out["frequency_hz"] = instant.frequency_hz[rows]
        if instant.neutral_amps is not None:
            out["neutral_amps"] = instant.neutral_amps[rows]
    return out


def table(picks: list[dict[str, Array]], interval_s: list[int], dictionaries: Dictionaries) -> pa.Table:
    """The rows of ``picks`` (of one meter set; ``interval_s`` [s] per pick) as one table: the columns of
    :data:`SCHEMA` that some pick has, in its order. Each pick is one chunk of every column (its arrays
    are used as they are, not copied), and a pick without a column has nulls there."""
    pieces = [_piece(p, n, dictionaries) for p, n in zip(picks, interval_s)]
    names = set().union(*(piece.keys() for piece in pieces))
    schema = pa.schema([f for f in SCHEMA if f.name in names])  # a column no row has is left out
    tables = [pa.Table.from_arrays([_or_nulls(piece, f) for f in schema], schema=schema) for piece in pieces]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _or_nulls(piece: dict[str, pa.Array], f: pa.Field) -> pa.Array:
    return piece[f.name] if f.name in piece else pa.nulls(len(piece["meter_id"]), f.type)


def widen(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` with every column of ``schema`` (a superset of its columns, in SCHEMA order): nulls where absent."""
    columns = [data[f.name] if f.name in data.column_names else pa.nulls(data.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _piece(picked: dict[str, Array], interval_s: int, dictionaries: Dictionaries) -> dict[str, pa.Array]:
    """The Arrow columns of one pick, by name: only those it has."""
    at = picked["meters_at"].astype(np.int32)
    rows = len(at)
    arrays: dict[str, pa.Array] = {
        "meter_id": pa.DictionaryArray.from_arrays(at, dictionaries.meter_id),
        "ts": pa.array(picked["end_s"], _TIME),
        "sent_at": pa.array(picked["sent_s"], _TIME),
        "interval_s": pa.array(np.full(rows, interval_s, np.int32), pa.int32()),
        "seq": pa.array(picked["seq"], _I64),
        "consumption": pa.array(picked["import_milli"], _I64),
        "register_import": pa.array(picked["total"], _I64),
        "quality": _dictionary(picked["quality"], dictionaries.quality),
    }
    zeros = np.zeros(rows, np.int32)
    for name, values in dictionaries.constant.items():
        arrays[name] = pa.DictionaryArray.from_arrays(zeros, values)
    for name, (values, codes, empty) in dictionaries.per_meter.items():
        mask = None if empty is None else empty[at]
        arrays[name] = pa.DictionaryArray.from_arrays(codes[at], values, mask=mask)
    if dictionaries.band is not None:
        arrays["band"] = _dictionary(picked["band"], dictionaries.band)
    for column, name in (
        ("export", "export_milli"), ("register_export", "export_total"), ("battery_pct", "battery_pct"),
        ("power_failures", "failures"), ("long_power_failures", "long_failures"), ("serial", "serial"),
        ("losses", "losses_milli"), ("unmetered", "unmetered_milli"), ("power_factor", "power_factor"),
        ("frequency_hz", "frequency_hz"), ("current_neutral_a", "neutral_amps"),
    ):  # fmt: skip
        if name in picked:
            kind = SCHEMA.field(column).type
            values = picked[name].astype(np.float32, copy=False) if kind == _F32 else picked[name]
            arrays[column] = pa.array(values, kind)
    if "converted" in picked:
        arrays["register_converted"] = pa.array(picked["converted"], _I64, mask=~picked["converted_mask"])
    for prefix, unit, name in (("voltage", "v", "volts"), ("current", "a", "amps")):
        if name in picked:
            phases = picked[name].reshape(rows, -1)
            for k in range(min(phases.shape[1], 3)):
                arrays[f"{prefix}_l{k + 1}_{unit}"] = pa.array(phases[:, k].astype(np.float32), _F32)
    return arrays


def _dictionary(indices: Array, values: pa.Array) -> pa.Array:
    return pa.DictionaryArray.from_arrays(indices.astype(np.int32, copy=False), values)
