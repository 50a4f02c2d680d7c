"""Hourly weather per region, written as CSV beside the ledger: the first process plug-in."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from metersim.errors import not_writable
from metersim.model.weather import Weather

HOUR_S = 3600


class WeatherLog:
    """Writes each region's weather at the top of every simulated hour of the run.

    A process plug-in (:mod:`metersim.engine.processes`): one per region, in scenario order.
    """

    def __init__(self, path: str | os.PathLike[str], regions: list[tuple[str, Weather]]) -> None:
        self.path, self.regions = Path(path), regions
        self._file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> WeatherLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise not_writable("weather", self.path, exc) from None
        self._csv = csv.writer(self._file)
        self._csv.writerow(("region", "time_s", "temperature_c", "ghi_w_m2", "clearness"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def processes(self) -> list[_RegionHours]:
        """One timeline per region."""
        return [_RegionHours(self, name, weather) for name, weather in self.regions]

    def record(self, region: str, hour_s: int, weather: Weather) -> None:
        hourly = weather.hourly(hour_s, hour_s + HOUR_S)
        try:
            self._csv.writerow(
                (
                    region,
                    hour_s,
                    f"{float(hourly['temperature_c'][0]):.2f}",
                    f"{float(hourly['ghi_w_m2'][0]):.1f}",
                    f"{float(hourly['clearness'][0]):.3f}",
                )
            )
        except OSError as exc:
            raise not_writable("weather", self.path, exc) from None


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
