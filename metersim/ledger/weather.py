"""Hourly weather per region, written beside the ledger: the first process plug-in.

One row per region at the top of every simulated hour, as CSV, or as Parquet if the path ends in
``.parquet`` (needs pyarrow: ``pip install 'metersim[parquet]'``). Columns, with their Parquet types
(CSV holds the same values as text):

=============  ======================  ================================================================
column         Parquet type            meaning
=============  ======================  ================================================================
region         string                  the weather region
time           timestamp[ms, tz=UTC]   the hour; CSV: ISO 8601 in the region's local offset, Parquet:
                                       the same instant in UTC (whole seconds, stored in ms)
time_s         int64                   the same instant in epoch seconds [s]
temperature_c  float64 [degC]          air temperature at that instant, rounded to 2 decimals
ghi_w_m2       float64 [W/m2]          mean global horizontal irradiance over the hour, rounded to 1
clearness      float64 [1]             the day's clearness index, rounded to 3 decimals
=============  ======================  ================================================================

A Parquet value is the double nearest to the CSV's decimal (``f"{value:.2f}"`` gives back the CSV text
of a temperature).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from metersim.errors import not_writable
from metersim.ledger.truth import require_pyarrow, utc_timestamps
from metersim.model.weather import Weather
from metersim.timebase import iso_local

HOUR_S = 3600
COLUMNS = ("region", "time", "time_s", "temperature_c", "ghi_w_m2", "clearness")
_DECIMALS = {"temperature_c": 2, "ghi_w_m2": 1, "clearness": 3}
_PARQUET_ROWS = 10_000  # rows buffered per Parquet row group


class WeatherLog:
    """Writes each region's weather at the top of every simulated hour of the run.

    A process plug-in (:mod:`metersim.engine.processes`): one per region, in scenario order.
    """

    def __init__(self, path: str | os.PathLike[str], regions: list[tuple[str, Weather]]) -> None:
        self.path, self.regions = Path(path), regions
        self.format = "parquet" if self.path.name.endswith(".parquet") else "csv"
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pending: list[tuple[str, int, float, float, float]] = []

    def __enter__(self) -> WeatherLog:
        if self.format == "parquet":
            require_pyarrow("writing the weather log as Parquet")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetWriter(self.path, parquet_schema())
                return self
            self._file = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise not_writable("weather", self.path, exc) from None
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._parquet is not None:
            try:
                self._flush()
                self._parquet.close()
            except OSError as exc:
                raise not_writable("weather", self.path, exc) from None
            finally:
                self._parquet = None
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise not_writable("weather", self.path, exc) from None

    def processes(self) -> list[_RegionHours]:
        """One timeline per region."""
        return [_RegionHours(self, name, weather) for name, weather in self.regions]

    def record(self, region: str, hour_s: int, weather: Weather) -> None:
        hourly = weather.hourly(hour_s, hour_s + HOUR_S)
        values = {name: round(float(hourly[name][0]), places) for name, places in _DECIMALS.items()}
        try:
            if self._parquet is not None:
                self._pending.append((region, hour_s, values["temperature_c"], values["ghi_w_m2"], values["clearness"]))
                if len(self._pending) >= _PARQUET_ROWS:
                    self._flush()
                return
            self._csv.writerow(
                (
                    region,
                    iso_local(hour_s, weather.timezone),
                    hour_s,
                    *(f"{values[name]:.{places}f}" for name, places in _DECIMALS.items()),
                )
            )
        except OSError as exc:
            raise not_writable("weather", self.path, exc) from None

    def _flush(self) -> None:
        """Write the buffered rows as one Parquet row group."""
        if not self._pending:
            return
        import pyarrow as pa

        schema = parquet_schema()
        region, time_s, temperature, ghi, clearness = (list(column) for column in zip(*self._pending))
        seconds = pa.array(time_s, pa.int64())
        arrays = [
            pa.array(region, pa.string()),
            utc_timestamps(time_s),
            seconds,
            pa.array(temperature, pa.float64()),
            pa.array(ghi, pa.float64()),
            pa.array(clearness, pa.float64()),
        ]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=schema))
        self._pending = []


def parquet_schema() -> Any:
    """The Arrow schema of a Parquet weather log: the types in the module docstring (needs pyarrow)."""
    import pyarrow as pa

    types = {"region": pa.string(), "time": pa.timestamp("ms", tz="UTC"), "time_s": pa.int64()}
    return pa.schema([pa.field(name, types.get(name, pa.float64()), nullable=False) for name in COLUMNS])


class _RegionHours:
    def __init__(self, log: WeatherLog, region: str, weather: Weather) -> None:
        self.log, self.region, self.weather = log, region, weather

    def run(self, start_s: int, end_s: int) -> Iterator[int]:
        hour = start_s - start_s % HOUR_S
        while hour < end_s:
            yield hour
            if hour >= start_s:
                self.log.record(self.region, hour, self.weather)
            hour += HOUR_S
