"""The ground-truth ledger: what really happened, per meter per interval, beside the published stream.

One row per meter (and per grid-side meter) per interval, in simulation order. Columns:

==================  =====================================================================================
interval_end        interval end, ISO 8601 in the meter's local offset (the payload's ``ts``)
interval_end_s      the same instant in epoch seconds [s]
meter_id            meter id (grid-side meters: the transformer or feeder id)
device              ``meter``, ``transformer`` or ``feeder``
group               the fleet group
commodity, unit     ``electricity``/``kWh`` or ``gas``/``m3``
seq                 the reading's ``seq``
true_consumption    what the customer really used (grid-side meters: net energy delivered) [unit]
import              interval import as published (``interval.value``) [unit]
export              interval export as published (``export.value``), 0 without PV [unit]
register_import     published import register after the interval (1-0:1.8.0 or 7-0:3.0.0), rolled over
register_export     published export register (1-0:2.8.0), 0 without PV
register_converted  gas volume at base conditions (7-0:3.2.0), 0 without a converter
band                tariff band in force at the interval start ("" without a tariff)
temperature_c       region air temperature at the interval middle [degC] (empty without a region)
ghi_w_m2            region global horizontal irradiance at the interval middle [W/m2]
region, substation, feeder, transformer   the meter's place in the grid ("" without a grid)
losses              grid-side meters: technical losses included in the delivery [unit]
unmetered           grid-side meters: unmetered consumption included in the delivery [unit]
published           whether the reading was published (false only where a transform withheld it)
==================  =====================================================================================

The true columns (``true_consumption``, ``losses``, ``unmetered``) come from what the group step computed;
the published ones (``import``, ``export``, the registers, ``published``) from the batch after the
transforms. Energies are exact to the published three decimals: they come from the same integer thousandths.
CSV needs nothing beyond the standard library; Parquet needs pyarrow (``pip install 'metersim[parquet]'``).
"""

from __future__ import annotations

import csv
import os
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from metersim._array import Array
from metersim.encoders.json import iso_column
from metersim.engine import Observer
from metersim.errors import ConfigError, MissingDependencyError, not_writable
from metersim.records import Observation, ReadingBatch, Sent

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
_THREE_DECIMALS = {"true_consumption", "import", "export", "register_import", "register_export", "register_converted"}
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

    def __init__(self, path: str | os.PathLike[str], fmt: str = "csv", *, append: bool = False) -> None:
        """``append`` continues an existing CSV ledger (a resumed run) instead of starting a new one."""
        self.path, self.format, self.append = Path(path), fmt, append
        self.rows = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pending: list[dict[str, Any]] = []
        self._pending_rows = 0
        self._waiting: deque[Observation] = deque()  # stepped, readings not all sent yet

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
        with _writing("ground truth", self.path):
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
            if self.format == "parquet":
                self._write_parquet()
                if self._parquet is not None:
                    self._parquet.close()
                    self._parquet = None
            if self._file is not None:
                self._file.close()
                self._file = None

    def _write_parquet(self) -> None:
        if not self._pending:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        merged = {name: _concat([c[name] for c in self._pending]) for name in COLUMNS}
        table = pa.table(merged)
        if self._parquet is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table)
        self._pending, self._pending_rows = [], 0


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
