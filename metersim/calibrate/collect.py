"""An engine observer that keeps, per group, the true interval series of its first meters.

Per interval it keeps each collected meter's true consumption (``Observation.true``, before any
transform: faults and theft change what is published, not what flowed) as float32 in kWh or m3, the
region's air temperature at the interval middle [degC], and per meter the running PV generation
[kWh]: generation = true consumption - import + export (the meter registers the net of the two).
Memory: 4 bytes per meter and interval (300 meters x a year of 15-minute intervals: 42 MB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metersim._array import Array
from metersim.calendar import day_types
from metersim.engine import Observer
from metersim.records import Observation
from metersim.timebase import utc_offsets_s


@dataclass
class GroupSeries:
    """What was collected of one group; ``load`` is (intervals, meters) [kWh or m3 per interval]."""

    name: str
    commodity: str
    profile: str
    interval_s: int
    timezone: str
    country: str | None
    group_count: int  # meters in the group (only the first ``meters`` are collected)
    kwp: Array  # PV peak power of the collected meters [kWp], 0 without PV
    start_s: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # interval starts [epoch s]
    load: Array = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    temperature_c: Array = field(default_factory=lambda: np.zeros(0))  # nan without a region
    generation_kwh: Array = field(default_factory=lambda: np.zeros(0))  # per meter, over the run

    @property
    def meters(self) -> int:
        return int(self.kwp.size)

    @property
    def slot_s(self) -> int:
        """The slot width of daily profiles [s]: the interval, or 15 minutes for finer intervals."""
        return 900 if self.interval_s < 900 and 900 % self.interval_s == 0 else self.interval_s

    def local(self) -> tuple[Array, Array, Array, Array, Array]:
        """(local day, slot, day type, month, day of month) of each interval's start."""
        local_s = self.start_s + utc_offsets_s(self.timezone, self.start_s)
        day = local_s // 86400
        slot = (local_s % 86400) // self.slot_s
        dates = day.astype("datetime64[D]")
        months = dates.astype("datetime64[M]")
        month = months.astype(np.int64) % 12 + 1
        day_of_month = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
        return day, slot, day_types(day, self.country).astype(np.int64), month, day_of_month


class _Record:
    def __init__(self, series: GroupSeries) -> None:
        self.series = series
        self.starts: list[int] = []
        self.rows: list[Array] = []
        self.temps: list[float] = []
        self.generation = np.zeros(series.meters)


class SeriesCollector(Observer):
    """Collects :class:`GroupSeries` for the groups in ``groups`` (name -> an empty series whose ``kwp``
    says how many meters to keep); other groups are ignored."""

    def __init__(self, groups: dict[str, GroupSeries]) -> None:
        self._records = {name: _Record(series) for name, series in groups.items()}

    def observe(self, observation: Observation) -> None:
        true = observation.true
        record = self._records.get(true.meters.meters.group)
        if record is None:
            return
        batch, n = true.meters, record.series.meters
        keep = batch.meters_at < n
        at = batch.meters_at[keep]
        row = np.zeros(n, dtype=np.float32)
        row[at] = batch.true_milli[keep] / 1000.0
        record.starts.append(true.start_s)
        record.rows.append(row)
        temperature, _ = observation.region_at_middle()
        record.temps.append(float("nan") if temperature is None else temperature)
        if batch.export_milli is not None:
            net = batch.import_milli[keep] - batch.export_milli[keep]
            np.add.at(record.generation, at, (batch.true_milli[keep] - net) / 1000.0)

    def series(self) -> list[GroupSeries]:
        """The collected series, in the order the groups were given."""
        out = []
        for record in self._records.values():
            s = record.series
            order = np.argsort(np.asarray(record.starts, dtype=np.int64), kind="stable")
            s.start_s = np.asarray(record.starts, dtype=np.int64)[order]
            s.load = np.stack(record.rows)[order] if record.rows else np.zeros((0, s.meters), np.float32)
            s.temperature_c = np.asarray(record.temps, dtype=float)[order]
            s.generation_kwh = record.generation.copy()
            out.append(s)
        return out
