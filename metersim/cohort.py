"""One group of meters through time: models, registers, tariff bands and grid-side meters.

Pure numpy; the engine decides *when* :meth:`CohortSimulator.step` runs. Registers are integer
thousandths (Wh, litres) that never wrap internally; the published values roll over at the group's
``register_digits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from metersim._array import Array
from metersim.config import Climate, Tariff
from metersim.encoders.json import ReadingBlock
from metersim.fleet import UNIT, Cohort
from metersim.grid import GridMeters
from metersim.model.electricity import ElectricityModel
from metersim.model.gas import GasModel, battery_percent
from metersim.model.weather import Weather
from metersim.streams import Stream, draw, group_key
from metersim.tariffs import BandSchedule
from metersim.timebase import iso_local, utc_offset_s

IMPORT_OBIS, EXPORT_OBIS = "1-0:1.8.0", "1-0:2.8.0"
GAS_OBIS, GAS_CONVERTED_OBIS = "7-0:3.0.0", "7-0:3.2.0"
PHASE_OBIS = (("1-0:32.7.0", "1-0:31.7.0"), ("1-0:52.7.0", "1-0:51.7.0"), ("1-0:72.7.0", "1-0:71.7.0"))
POWER_FACTOR_OBIS, FREQUENCY_OBIS = "1-0:13.7.0", "1-0:14.7.0"


@dataclass(frozen=True)
class Environment:
    """What a cohort needs from the scenario around it."""

    seed: int
    start_s: int  # run start [epoch s]
    weather: Weather | None
    climate: Climate | None
    tariff: Tariff | None


@dataclass
class IntervalOutcome:
    """Everything one cohort produced for one interval."""

    cohort: Cohort
    seq: int
    start_s: int  # [epoch s]
    end_s: int  # [epoch s]
    band: int  # index of the tariff band in force (0 without a tariff)
    band_name: str
    meters: ReadingBlock
    grid: ReadingBlock | None
    load_milli: Array  # true consumption of each meter [Wh or litres]
    grid_losses_milli: Array | None
    grid_unmetered_milli: Array | None
    weather: Weather | None  # the group's region, sampled on demand below

    @cached_property
    def temperature_c(self) -> float | None:
        """Region air temperature at the interval middle [degC]."""
        if self.weather is None:
            return None
        return float(self.weather.temperature_c(np.array([(self.start_s + self.end_s) // 2]))[0])

    @cached_property
    def ghi_w_m2(self) -> float | None:
        """Region global horizontal irradiance at the interval middle [W/m2]."""
        if self.weather is None:
            return None
        return float(self.weather.ghi_w_m2(np.array([(self.start_s + self.end_s) // 2]))[0])

    @cached_property
    def truth(self) -> dict[str, Any]:
        """Ground-truth columns: meters first, then grid-side meters; energies in kWh or m3."""
        return truth_columns(self)


class CohortSimulator:
    """Steps one cohort interval by interval, keeping its registers and model state."""

    def __init__(self, cohort: Cohort, env: Environment) -> None:
        group = cohort.group
        self.cohort, self.group, self.env = cohort, group, env
        self.key = group_key(group.name)
        self.interval_s = group.interval_s
        self.wrap = 10**group.register_digits * 1000
        first_interval = env.start_s // group.interval_s + 1
        climate = env.climate
        country = group.country or (climate.country if climate else None)
        self.schedule = BandSchedule.compile(env.tariff, group.timezone, country) if env.tariff else None
        self.band_names = self.schedule.band_names if self.schedule else ("",)
        n, bands = group.count, len(self.band_names)
        self.model: ElectricityModel | GasModel
        if group.commodity == "electricity":
            self.model = ElectricityModel(
                group,
                seed=env.seed,
                key=self.key,
                scale=cohort.scale,
                shift_slots=cohort.shift_slots,
                pv_kwp=cohort.pv_kwp,
                has_swh=cohort.has_swh,
                weather=env.weather,
                monthly_factors=group.monthly_factors or (climate.monthly_load_factors if climate else None),
                country=country,
                first_interval=first_interval,
            )
        else:
            assert env.weather is not None
            self.model = GasModel(
                group,
                seed=env.seed,
                key=self.key,
                scale=cohort.scale,
                shift_slots=cohort.shift_slots,
                has_swh=cohort.has_swh,
                has_converter=cohort.has_converter,
                weather=env.weather,
                first_interval=first_interval,
            )
        self.import_total = cohort.initial_milli.copy()
        # Band registers start from an even split of the initial total, so they sum to it exactly.
        self.import_bands = _split_evenly(cohort.initial_milli, bands) if self.schedule else None
        self.has_export = group.pv is not None
        self.export_total = np.zeros(n, dtype=np.int64) if self.has_export else None
        self.export_bands = np.zeros((bands, n), dtype=np.int64) if self.has_export and self.schedule else None
        self.converted = cohort.initial_milli.copy() if group.commodity == "gas" else None
        self.grid = GridMeters(cohort.topology, group) if cohort.topology is not None else None
        if self.grid is not None:
            m = len(self.grid_ids)
            self.grid_import = np.zeros(m, dtype=np.int64)
            self.grid_export = np.zeros(m, dtype=np.int64)
        self.meter_places = cohort.topology.meter_fields if cohort.topology is not None else None

    @property
    def grid_ids(self) -> list[str]:
        return self.cohort.topology.grid_meter_ids if self.cohort.topology is not None else []

    @property
    def grid_places(self) -> list[dict[str, str]]:
        return self.cohort.topology.grid_fields if self.cohort.topology is not None else []

    def step(self, seq: int, end_s: int) -> IntervalOutcome:
        """Simulate the interval ending at ``end_s`` [epoch s]; ``seq`` counts intervals from 0."""
        group, interval_s = self.group, self.interval_s
        start_s = end_s - interval_s
        local_start_s = start_s + utc_offset_s(group.timezone, start_s)
        band = self.schedule.band_at(start_s) if self.schedule else 0
        interval_index = end_s // interval_s
        ts = iso_local(end_s, group.timezone)
        extras: list[tuple[str, Any]] = []
        partial: tuple[tuple[str, Array, Array], ...] = ()
        export_milli: Array | None = None
        grid_step = None
        if isinstance(self.model, ElectricityModel):
            step = self.model.step(start_s, local_start_s, interval_index)
            load_milli, import_milli, export_milli = step.load_milli, step.import_milli, step.export_milli
            self.import_total += import_milli
            registers = [(IMPORT_OBIS, self.import_total)]
            if self.import_bands is not None:
                self.import_bands[band] += import_milli
                registers += [(f"1-0:1.8.{k + 1}", row) for k, row in enumerate(self.import_bands)]
            if self.export_total is not None and export_milli is not None:
                self.export_total += export_milli
                registers.append((EXPORT_OBIS, self.export_total))
                if self.export_bands is not None:
                    self.export_bands[band] += export_milli
                    registers += [(f"1-0:2.8.{k + 1}", row) for k, row in enumerate(self.export_bands)]
            if group.instantaneous is not None:
                extras.append(("instantaneous", self._instantaneous(import_milli, interval_index)))
            if self.grid is not None:
                grid_step = self.grid.step(load_milli, import_milli, export_milli)
        else:
            gas = self.model.step(start_s, local_start_s, interval_index)
            load_milli = import_milli = gas.volume_milli
            self.import_total += import_milli
            registers = [(GAS_OBIS, self.import_total)]
            assert self.converted is not None
            self.converted += gas.converted_milli
            partial = ((GAS_CONVERTED_OBIS, self.converted % self.wrap, self.cohort.has_converter),)
            battery = np.round(battery_percent(self.cohort.battery_pct, end_s - self.env.start_s), 1)
            extras.append(("battery_pct", lambda positions, b=battery: b[positions].tolist()))
        if self.schedule is not None:
            band_name = self.band_names[band]
            extras.append(("band", lambda positions, name=band_name: [name] * len(positions)))
        if self.meter_places is not None:
            places = self.meter_places
            extras.append(("topology", lambda positions: [places[p] for p in positions.tolist()]))
        meters = ReadingBlock(
            ids=self.cohort.ids,
            commodity=group.commodity,
            unit=UNIT[group.commodity],
            interval_s=interval_s,
            seq=seq,
            ts=ts,
            interval_milli=import_milli,
            registers=tuple((obis, values % self.wrap) for obis, values in registers),
            export_milli=export_milli,
            power=group.commodity == "electricity",
            partial_registers=partial,
            extras=tuple(extras),
        )
        return IntervalOutcome(
            cohort=self.cohort,
            seq=seq,
            start_s=start_s,
            end_s=end_s,
            band=band,
            band_name=self.band_names[band],
            meters=meters,
            grid=self._grid_block(grid_step.delivered_milli, seq, ts) if grid_step is not None else None,
            load_milli=load_milli,
            grid_losses_milli=grid_step.losses_milli if grid_step is not None else None,
            grid_unmetered_milli=grid_step.unmetered_milli if grid_step is not None else None,
            weather=self.env.weather,
        )

    def _grid_block(self, delivered_milli: Array, seq: int, ts: str) -> ReadingBlock:
        imported = np.maximum(delivered_milli, 0)
        exported = np.maximum(-delivered_milli, 0)
        self.grid_import += imported
        self.grid_export += exported
        assert self.cohort.topology is not None
        devices, places = self.cohort.topology.grid_devices, self.grid_places
        return ReadingBlock(
            ids=self.grid_ids,
            commodity="electricity",
            unit="kWh",
            interval_s=self.interval_s,
            seq=seq,
            ts=ts,
            interval_milli=imported,
            registers=((IMPORT_OBIS, self.grid_import % self.wrap), (EXPORT_OBIS, self.grid_export % self.wrap)),
            export_milli=exported,
            power=True,
            extras=(
                ("device", lambda positions: [devices[p] for p in positions.tolist()]),
                ("topology", lambda positions: [places[p] for p in positions.tolist()]),
            ),
        )

    def _instantaneous(self, import_milli: Array, interval_index: int) -> Any:
        """Per-phase voltage and current, power factor and frequency around nominal, at the interval end."""
        cfg = self.group.instantaneous
        assert cfg is not None
        n, phases = self.group.count, cfg.phases
        noise = draw(
            self.env.seed,
            Stream.INSTANTANEOUS,
            self.key,
            n,
            interval_index,
            lambda r, k: r.standard_normal((k, phases + 2)),
        )
        volts = np.round(cfg.nominal_v * (1 + 0.01 * noise[:, :phases]), 1)
        power_factor = np.round(np.clip(0.94 + 0.03 * noise[:, phases], 0.7, 1.0), 3)
        frequency = np.round(cfg.frequency_hz * (1 + 0.0004 * noise[:, phases + 1]), 2)
        watts = import_milli * (3600 / self.interval_s)  # Wh per interval -> W
        amps = np.round(watts[:, None] / (phases * volts * power_factor[:, None]), 2)

        def values(positions: Array) -> list[dict[str, float]]:
            out = []
            for p in positions.tolist():
                reading = {}
                for k in range(phases):
                    volt_obis, amp_obis = PHASE_OBIS[k]
                    reading[volt_obis] = float(volts[p, k])
                    reading[amp_obis] = float(amps[p, k])
                reading[POWER_FACTOR_OBIS] = float(power_factor[p])
                reading[FREQUENCY_OBIS] = float(frequency[p])
                out.append(reading)
            return out

        return values


def _split_evenly(total: Array, parts: int) -> Array:
    """``parts`` rows of non-negative integers that sum exactly to ``total``."""
    rows = np.tile(total // parts, (parts, 1))
    rows[-1] += total - rows.sum(axis=0)
    return rows


def truth_columns(outcome: IntervalOutcome) -> dict[str, Any]:
    """The ground-truth ledger rows of one interval: meters, then grid-side meters (see metersim.truth)."""
    topology, meters, grid = outcome.cohort.topology, outcome.meters, outcome.grid
    converted = next((v for code, v, _ in meters.partial_registers if code == GAS_CONVERTED_OBIS), None)
    columns = _block_truth(
        outcome,
        meters,
        true_milli=outcome.load_milli,
        devices=["meter"] * len(meters.ids),
        places=topology.meter_fields if topology is not None else None,
        converted_milli=np.where(outcome.cohort.has_converter, converted, 0) if converted is not None else None,
    )
    if grid is None or topology is None:
        return columns
    assert grid.export_milli is not None
    grid_columns = _block_truth(
        outcome,
        grid,
        true_milli=grid.interval_milli - grid.export_milli,
        devices=topology.grid_devices,
        places=topology.grid_fields,
        losses_milli=outcome.grid_losses_milli,
        unmetered_milli=outcome.grid_unmetered_milli,
    )
    return {name: _concat(values, grid_columns[name]) for name, values in columns.items()}


def _block_truth(
    outcome: IntervalOutcome,
    block: ReadingBlock,
    *,
    true_milli: Array,
    devices: list[str],
    places: list[dict[str, str]] | None,
    converted_milli: Array | None = None,
    losses_milli: Array | None = None,
    unmetered_milli: Array | None = None,
) -> dict[str, Any]:
    rows = len(block.ids)
    zeros = np.zeros(rows, dtype=np.int64)
    registers = dict(block.registers)
    import_obis = GAS_OBIS if block.commodity == "gas" else IMPORT_OBIS
    group = outcome.cohort.group
    places = places or [{"region": group.region or ""}] * rows

    def kilo(milli: Array | None) -> Array:
        """Thousandths to the unit (kWh or m3)."""
        return (zeros if milli is None else milli) / 1000

    return {
        "interval_end": [block.ts] * rows,
        "interval_end_s": np.full(rows, outcome.end_s, dtype=np.int64),
        "meter_id": block.ids,
        "device": devices,
        "group": [group.name] * rows,
        "commodity": [block.commodity] * rows,
        "unit": [block.unit] * rows,
        "seq": np.full(rows, block.seq, dtype=np.int64),
        "true_consumption": kilo(true_milli),
        "import": kilo(block.interval_milli),
        "export": kilo(block.export_milli),
        "register_import": kilo(registers.get(import_obis)),
        "register_export": kilo(registers.get(EXPORT_OBIS)),
        "register_converted": kilo(converted_milli),
        "band": [outcome.band_name] * rows,
        "temperature_c": np.full(rows, np.nan if outcome.temperature_c is None else round(outcome.temperature_c, 2)),
        "ghi_w_m2": np.full(rows, np.nan if outcome.ghi_w_m2 is None else round(outcome.ghi_w_m2, 1)),
        "region": [p.get("region", "") for p in places],
        "substation": [p.get("substation", "") for p in places],
        "feeder": [p.get("feeder", "") for p in places],
        "transformer": [p.get("transformer", "") for p in places],
        "losses": kilo(losses_milli),
        "unmetered": kilo(unmetered_milli),
        "published": np.ones(rows, dtype=bool),
    }


def _concat(first: Any, second: Any) -> Any:
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    return list(first) + list(second)
