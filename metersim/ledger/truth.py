"""The ground-truth ledger: what really happened, per meter per interval, beside the published stream.

One row per meter (and per grid-side meter) per interval, in simulation order. Columns, with their
Parquet types (CSV holds the same values as text):

==================  ======================  ==========================================================
column              Parquet type            meaning
==================  ======================  ==========================================================
interval_end        timestamp[ms, tz=UTC]   interval end; CSV: ISO 8601 in the meter's local offset (the
                                            payload's ``ts``), Parquet: the same instant in UTC (whole
                                            seconds, stored in ms: Parquet has no unit of seconds)
interval_end_s      int64                   the same instant in epoch seconds [s]
meter_id            string                  meter id (grid-side meters: the transformer or feeder id)
device              string                  ``meter``, ``transformer`` or ``feeder``
group               string                  the fleet group
commodity, unit     string                  ``electricity``/``kWh`` or ``gas``/``m3``: ``unit`` is the unit
                                            of every energy column of the row
seq                 int64                   the reading's ``seq``
true_consumption    float64 [unit]          what the customer really used (grid-side meters: net energy
                                            delivered)
import              float64 [unit]          interval import as published (``interval.value``)
export              float64 [unit]          interval export as published (``export.value``), 0 without PV
register_import     float64 [unit]          published import register after the interval (1-0:1.8.0 or
                                            7-0:3.0.0), rolled over
register_export     float64 [unit]          published export register (1-0:2.8.0), 0 without PV
register_converted  float64 [unit]          gas volume at base conditions (7-0:3.2.0), 0 without a
                                            converter
band                string                  tariff band in force at the interval start ("" without a
                                            tariff)
temperature_c       float64 [degC]          region air temperature at the interval middle (CSV: empty,
                                            Parquet: null without a region)
ghi_w_m2            float64 [W/m2]          region global horizontal irradiance at the interval middle
                                            (empty / null without a region)
region, substation, string                  the meter's place in the grid ("" without a grid)
feeder, transformer
losses              float64 [unit]          grid-side meters: technical losses included in the delivery
unmetered           float64 [unit]          grid-side meters: unmetered consumption included in the
                                            delivery
published           bool                    whether the reading was published (false only where a
                                            transform withheld it); CSV: ``true``/``false``
==================  ======================  ==========================================================

The true columns (``true_consumption``, ``losses``, ``unmetered``) come from what the group step computed;
the published ones (``import``, ``export``, the registers, ``published``) from the batch after the
transforms. Energies are exact to the published three decimals: they come from the same integer thousandths
(Wh or litres), the CSV writes every energy column with exactly three decimals, and a Parquet float64 is the
double nearest to that decimal (``f"{value:.3f}"`` gives back the CSV text). The temperature is rounded to
2 decimals, the irradiance to 1. CSV needs nothing beyond the standard library; Parquet needs pyarrow
(``pip install 'metersim[parquet]'``). Parquet goes out incrementally, in row groups of 250,000 rows (bounded
memory), into one file (a path ending in ``.parquet``) or, for a path without that suffix and format Parquet,
into Hive partitions laid out as the ``parquet`` output's (:func:`partitioned`, docs/parquet.md).
"""

from __future__ import annotations

import csv
import os
from collections import deque
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np

from metersim._array import Array
from metersim.encoders.json import iso_column
from metersim.engine import Observer
from metersim.errors import ConfigError, MissingDependencyError, not_writable
from metersim.records import Observation, ReadingBatch, Sent
from metersim.sinks.parquet import DAY_S, clear_shard, final_part, next_part, partition_folder, temp_part

COLUMNS = (
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
)
ENERGY_COLUMNS = (
    "true_consumption",
    "import",
    "export",
    "register_import",
    "register_export",
    "register_converted",
    "losses",
    "unmetered",
)
_THREE_DECIMALS = frozenset(ENERGY_COLUMNS)
_PARQUET_ROWS = 250_000  # rows buffered per Parquet row group


def truth_columns(observation: Observation) -> dict[str, Any]:
    """The ledger rows of one group interval, meters then grid-side meters, by column name.

    ``published`` is true for a reading the transforms let through and, where the engine reports
    what went out (``observation.sent``), that was really handed to the outputs.
    """
    true, published = observation.true, observation.published
    temperature_c, ghi_w_m2 = observation.region_at_middle()
    temperature = float("nan") if temperature_c is None else round(temperature_c, 2)
    ghi = float("nan") if ghi_w_m2 is None else round(ghi_w_m2, 1)
    sent = observation.sent
    masks: list[Array | None] = [None, None]
    if sent is not None and not sent.complete:
        masks = [Sent.mask(sent.meters, len(true.meters))]
        if true.grid is not None:
            masks.append(Sent.mask(sent.grid, len(true.grid)))
    parts = [_block(t, p, temperature, ghi, mask) for t, p, mask in zip(true.batches(), published.batches(), masks)]
    if len(parts) == 1:
        return parts[0]
    return {name: _concat([part[name] for part in parts]) for name in COLUMNS}


def _block(
    true: ReadingBatch, published: ReadingBatch, temperature_c: float, ghi_w_m2: float, sent: Array | None
) -> dict[str, Any]:
    meters, rows = true.meters, len(true)
    at = true.meters_at.tolist()
    registers = published.registers
    zeros = np.zeros(rows, dtype=np.int64)

    def kilo(milli: Array | None) -> Array:
        """Thousandths to the unit (kWh or m3)."""
        return (zeros if milli is None else milli) / 1000

    converted = None
    if registers.converted is not None and registers.converted_mask is not None:
        converted = np.where(registers.converted_mask, registers.converted, 0)
    every = meters.places
    places = [every[p] for p in at] if every is not None else [{"region": meters.region}] * rows
    band_names = meters.band_names or ("",)
    ids = meters.ids
    return {
        "interval_end": iso_column(true.end_s, meters.timezone),
        "interval_end_s": true.end_s,
        "meter_id": [ids[p] for p in at],
        "device": [meters.devices[p] for p in at] if meters.devices is not None else ["meter"] * rows,
        "group": [meters.group] * rows,
        "commodity": [meters.commodity] * rows,
        "unit": [meters.unit] * rows,
        "seq": true.seq,
        "true_consumption": kilo(true.true_milli),
        "import": kilo(published.import_milli),
        "export": kilo(published.export_milli),
        "register_import": kilo(registers.total),
        "register_export": kilo(registers.export_total),
        "register_converted": kilo(converted),
        "band": [band_names[b] for b in true.band.tolist()],
        "temperature_c": np.full(rows, temperature_c),
        "ghi_w_m2": np.full(rows, ghi_w_m2),
        "region": [p.get("region", "") for p in places],
        "substation": [p.get("substation", "") for p in places],
        "feeder": [p.get("feeder", "") for p in places],
        "transformer": [p.get("transformer", "") for p in places],
        "losses": kilo(true.losses_milli),
        "unmetered": kilo(true.unmetered_milli),
        "published": published.published if sent is None else published.published & sent,
    }


@contextmanager
def _writing(what: str, path: Path) -> Any:
    """Turn an OSError while writing into the one-line OutputNotWritableError."""
    try:
        yield
    except OSError as exc:
        raise not_writable(what, path, exc) from None


class TruthWriter(Observer):
    """An engine observer that writes the ledger as CSV or Parquet.

    An interval's rows are written once its readings have gone out, in the order the intervals were
    stepped, so that ``published`` tells what really left; on close (also after a stop mid-interval)
    the rest is written with the readings that never went out marked unpublished.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str = "csv", *, append: bool = False, shard: int = 0) -> None:
        """``append`` continues an existing CSV ledger (a resumed run) instead of starting a new one;
        ``shard``: the folder ``shard=K`` of a partitioned Parquet ledger (:func:`partitioned`)."""
        self.path, self.format, self.append, self.shard = Path(path), fmt, append, shard
        self._days: dict[int, tuple[Any, Path]] = {}  # partitioned: UTC day -> (writer, its temporary path)
        self.rows = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pending: list[dict[str, Any]] = []
        self._pending_rows = 0
        self._waiting: deque[Observation] = deque()  # stepped, readings not all sent yet
        self._open = False  # between open() and close()

    def __enter__(self) -> TruthWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self.format == "parquet":
            if self.append:
                raise ConfigError("a run resumed from a state file needs a CSV ledger (Parquet cannot be appended)")
            require_pyarrow("writing the ledger as Parquet")
        self._open = True
        with _writing("ground truth", self.path):
            if partitioned(self.path, self.format):
                clear_shard(self.path, self.shard, keep_parts=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "csv":
                header = not (self.append and self.path.exists() and self.path.stat().st_size > 0)
                mode = "a" if self.append else "w"
                self._file = open(self.path, mode, newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._csv = csv.writer(self._file)
                if header:
                    self._csv.writerow(COLUMNS)

    def observe(self, observation: Observation) -> None:
        if observation.sent is not None and not observation.sent.complete:
            self._waiting.append(observation)
        else:
            self._write(observation)

    def sent(self, observation: Observation) -> None:
        while self._waiting and self._waiting[0].sent is not None and self._waiting[0].sent.complete:
            self._write(self._waiting.popleft())

    def _write(self, observation: Observation) -> None:
        columns = truth_columns(observation)
        rows = len(columns["meter_id"])
        self.rows += rows
        with _writing("ground truth", self.path):
            if self.format == "csv":
                self._csv.writerows(zip(*(_csv_column(name, columns[name]) for name in COLUMNS)))
            else:
                self._pending.append(columns)
                self._pending_rows += rows
                if self._pending_rows >= _PARQUET_ROWS:
                    self._write_parquet()

    def close(self) -> None:
        while self._waiting:
            self._write(self._waiting.popleft())
        with _writing("ground truth", self.path):
            if self.format == "parquet" and self._open:
                try:
                    self._write_parquet()
                    for day in sorted(self._days):
                        self._finish_day(day)
                except OSError:
                    for writer, temp in self._days.values():  # a reader never sees half a file
                        with suppress(OSError):
                            writer.close()
                        temp.unlink(missing_ok=True)
                    self._days.clear()
                    raise
                if self._parquet is not None:
                    self._parquet.close()
                    self._parquet = None
            if self._file is not None:
                self._file.close()
                self._file = None
        self._open = False

    def _write_parquet(self) -> None:
        if not self._pending and (self._parquet is not None or partitioned(self.path, self.format)):
            return
        import pyarrow.parquet as pq

        if self._pending:
            merged = {name: _concat([c[name] for c in self._pending]) for name in COLUMNS}
        else:  # a run without a single row: an empty file with the schema, as the CSV gets its header
            merged = {name: [] for name in COLUMNS}
        table = parquet_table(merged)
        self._pending, self._pending_rows = [], 0
        if partitioned(self.path, self.format):
            self._write_days(table)
            return
        if self._parquet is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table)

    def _write_days(self, table: Any) -> None:
        """Rows into their UTC day's file; the days before the last row's are finished (rows come in interval
        order: a row of a finished day, if ever, starts a new part)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        days = table.column("interval_end_s").to_numpy() // DAY_S
        for day in np.unique(days).tolist():
            if day not in self._days:
                folder = partition_folder(self.path, day, self.shard)
                folder.mkdir(parents=True, exist_ok=True)
                temp = temp_part(folder, next_part(folder))
                self._days[day] = (pq.ParquetWriter(temp, table.schema), temp)
            self._days[day][0].write_table(table.filter(pa.array(days == day)))
        for day in [d for d in self._days if d < int(days[-1])]:
            self._finish_day(day)

    def _finish_day(self, day: int) -> None:
        writer, temp = self._days.pop(day)
        writer.close()
        os.replace(temp, final_part(temp))


def partitioned(path: str | os.PathLike[str], fmt: str) -> bool:
    """Whether a ledger is Parquet partitions ``PATH/date=YYYY-MM-DD/shard=K/part-NNNNN.parquet`` (``date``:
    the UTC date of ``interval_end``): format Parquet and a path that does not end in ``.parquet``."""
    return fmt == "parquet" and not str(path).endswith(".parquet")


def parquet_schema() -> Any:
    """The Arrow schema of a Parquet ledger: the types in the module docstring (needs pyarrow)."""
    import pyarrow as pa

    types: dict[str, Any] = {
        "interval_end": pa.timestamp("ms", tz="UTC"),
        "interval_end_s": pa.int64(),
        "seq": pa.int64(),
        "temperature_c": pa.float64(),
        "ghi_w_m2": pa.float64(),
        "published": pa.bool_(),
        **dict.fromkeys(ENERGY_COLUMNS, pa.float64()),
    }
    nullable = {"temperature_c", "ghi_w_m2"}  # null where the meter has no weather region
    return pa.schema([pa.field(name, types.get(name, pa.string()), nullable=name in nullable) for name in COLUMNS])


def utc_timestamps(epoch_s: Any) -> Any:
    """Epoch seconds as an Arrow ``timestamp[ms, tz=UTC]`` array (Parquet has no unit of seconds)."""
    import pyarrow as pa

    seconds = pa.array(np.asarray(epoch_s, dtype=np.int64), pa.int64())
    return seconds.cast(pa.timestamp("s", tz="UTC")).cast(pa.timestamp("ms", tz="UTC"))


def parquet_table(columns: dict[str, Any]) -> Any:
    """Ledger columns (as :func:`truth_columns` gives them) as an Arrow table of :func:`parquet_schema`.

    ``interval_end`` is taken from ``interval_end_s`` (the same instant), and a NaN temperature or
    irradiance (no region; empty in the CSV) becomes null.
    """
    import pyarrow as pa

    schema = parquet_schema()
    arrays = []
    for field in schema:
        name = field.name
        if name == "interval_end":
            arrays.append(utc_timestamps(columns["interval_end_s"]))
        elif name in ("temperature_c", "ghi_w_m2"):
            arrays.append(pa.array(np.asarray(columns[name], dtype=np.float64), field.type, from_pandas=True))
        else:
            arrays.append(pa.array(columns[name], field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _csv_column(name: str, values: Any) -> list[Any]:
    if name in _THREE_DECIMALS:
        return [f"{v:.3f}" for v in np.asarray(values).tolist()]
    if name in ("temperature_c", "ghi_w_m2"):
        return ["" if v != v else v for v in np.asarray(values).tolist()]  # NaN -> empty
    if name == "published":
        return ["true" if v else "false" for v in np.asarray(values).tolist()]
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [v for part in parts for v in part]


def require_pyarrow(purpose: str) -> None:
    """Raise MissingDependencyError (with the install command) if pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MissingDependencyError(purpose, "pyarrow", "parquet") from None
