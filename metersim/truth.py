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
published           whether the reading was published (always true until faults are injected)
==================  =====================================================================================

Energies are exact to the published three decimals: they come from the same integer thousandths.
CSV needs nothing beyond the standard library; Parquet needs pyarrow (``pip install 'metersim[parquet]'``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from metersim.cohort import IntervalOutcome
from metersim.errors import ConfigError, OutputNotWritableError
from metersim.model.weather import Weather

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


class TruthWriter:
    """An engine observer that writes the ledger as CSV or Parquet."""

    def __init__(self, path: str | os.PathLike[str], fmt: str = "csv") -> None:
        self.path, self.format = Path(path), fmt
        self.rows = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pending: list[dict[str, Any]] = []
        self._pending_rows = 0

    def __enter__(self) -> TruthWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self.format == "parquet":
            _require_pyarrow()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "csv":
                self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._csv = csv.writer(self._file)
                self._csv.writerow(COLUMNS)
        except OSError as exc:
            raise OutputNotWritableError(f"cannot write ground truth {self.path}: {exc.strerror or exc}") from None

    def observe(self, outcome: IntervalOutcome) -> None:
        columns = outcome.truth
        rows = len(columns["meter_id"])
        self.rows += rows
        try:
            if self.format == "csv":
                self._csv.writerows(zip(*(_csv_column(name, columns[name]) for name in COLUMNS)))
            else:
                self._pending.append(columns)
                self._pending_rows += rows
                if self._pending_rows >= _PARQUET_ROWS:
                    self._write_parquet()
        except OSError as exc:
            raise OutputNotWritableError(f"cannot write ground truth {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            if self.format == "parquet":
                self._write_parquet()
                if self._parquet is not None:
                    self._parquet.close()
                    self._parquet = None
            if self._file is not None:
                self._file.close()
                self._file = None
        except OSError as exc:
            raise OutputNotWritableError(f"cannot write ground truth {self.path}: {exc.strerror or exc}") from None

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


class WeatherLog:
    """Hourly weather per region, written as CSV beside the ledger."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> WeatherLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise OutputNotWritableError(f"cannot write weather {self.path}: {exc.strerror or exc}") from None
        self._csv = csv.writer(self._file)
        self._csv.writerow(("region", "time_s", "temperature_c", "ghi_w_m2", "clearness"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(self, region: str, hour_s: int, weather: Weather) -> None:
        hourly = weather.hourly(hour_s, hour_s + 3600)
        self._csv.writerow(
            (
                region,
                hour_s,
                f"{float(hourly['temperature_c'][0]):.2f}",
                f"{float(hourly['ghi_w_m2'][0]):.1f}",
                f"{float(hourly['clearness'][0]):.3f}",
            )
        )


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


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("writing Parquet needs pyarrow: pip install 'metersim[parquet]'") from None
