"""One group of meters through time: its models, registers and tariff bands, and its grid-side meters.

:meth:`GroupSimulator.step` computes one interval for a range of the group's meters and returns
numbers only (:class:`~metersim.records.GroupInterval`); the engine decides *when* it runs, the
encoders what the numbers look like on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache, partial

import numpy as np

from metersim._array import Array
from metersim.commands.controls import Gated, MeterControls
from metersim.config import Climate, Tariff
from metersim.errors import ConfigError
from metersim.fleet import MeterAttributes
from metersim.fleet.concentrators import build_paths, concentrator_ids
from metersim.interruptions import GroupSupply
from metersim.model.electricity import ElectricityModel, ElectricityParams, day_levels, smooth_shapes
from metersim.model.gas import GasModel, battery_percent
from metersim.model.grid import GridBalance
from metersim.model.noise import Reseeded
from metersim.model.registers import Registers
from metersim.model.weather import Weather
from metersim.parameters import country_of, electricity_params, gas_params, grid_losses, mean_interval_milli
from metersim.photovoltaics import pv_systems
from metersim.records import (
    VALID,
    EventBatch,
    GroupInterval,
    Instantaneous,
    Label,
    MeterSet,
    ReadingBatch,
    RegisterValues,
)
from metersim.streams import Stream, group_key
from metersim.tariffs import BandSchedule
from metersim.timebase import SECONDS_PER_DAY, utc_offset_s, utc_offsets_s

BAND_SHARE_DAYS = 365  # the band registers' start reflects a year of consumption before the run [d]


class GroupSimulator:
    """Steps a range of one group's meters interval by interval, keeping their registers and model state.

    Parameters
    ----------
    attributes
        The meters' static attributes (a whole group, or a range of its chunks).
    seed
        Scenario seed.
    start_s
        Run start [epoch s]; the models' noise starts at the first interval after it.
    weather, climate, tariff
        The group's region (its weather and climate) and tariff, if any.
    """

    def __init__(
        self,
        attributes: MeterAttributes,
        *,
        seed: int,
        start_s: int,
        weather: Weather | None,
        climate: Climate | None,
        tariff: Tariff | None,
    ) -> None:
        group, meters = attributes.group, attributes.meters
        self.attributes, self.group, self.seed, self.start_s = attributes, group, seed, start_s
        self.key = group_key(group.name)
        self.interval_s = group.interval_s
        self.weather = weather
        first_interval = start_s // group.interval_s + 1
        self.schedule = BandSchedule.compile(tariff, group.timezone, country_of(group, climate)) if tariff else None
        band_names = self.schedule.band_names if self.schedule else None
        topology = attributes.topology
        self.meter_set = MeterSet(
            group=group.name,
            commodity=group.commodity,
            timezone=group.timezone,
            region=group.region or "",
            count=meters.count,
            make_ids=attributes.meter_ids,
            places=topology.meter_fields(meters) if topology is not None else None,
            band_names=band_names,
            hardware=tuple(group.hardware.model_dump().items()) if group.hardware is not None else (),
            make_concentrators=_concentrators(attributes),
        )
        self.model: ElectricityModel | GasModel
        band_shares = None
        if group.commodity == "electricity":
            params = electricity_params(group, climate)
            if self.schedule is not None:
                band_shares = band_consumption_shares(self.schedule, params, group.timezone, start_s)
            self.model = ElectricityModel(
                params,
                seed=seed,
                key=self.key,
                meters=meters,
                scale=attributes.scale,
                shift_slots=attributes.shift_slots,
                pv=pv_systems(group, attributes, weather),
                has_swh=attributes.has_swh,
                weather=weather,
                first_interval=first_interval,
            )
        else:
            assert weather is not None
            self.model = GasModel(
                gas_params(group),
                seed=seed,
                key=self.key,
                meters=meters,
                scale=attributes.scale,
                shift_slots=attributes.shift_slots,
                has_swh=attributes.has_swh,
                has_converter=attributes.has_converter,
                weather=weather,
                first_interval=first_interval,
            )
        electricity = group.commodity == "electricity"
        self.registers = Registers(
            attributes.initial_milli,
            bands=len(band_names) if band_names and electricity else 0,  # gas meters have one volume register
            band_shares=band_shares,
            export=group.pv is not None,
            converted_mask=None if electricity else attributes.has_converter,
            digits=group.register_digits,
        )
        self.grid: GridBalance | None = None
        self.grid_set: MeterSet | None = None
        if topology is not None:
            publish_t, publish_f, ids, devices, places = topology.grid_meters(meters)
            self.grid = GridBalance(
                topology.meter_transformer(meters),
                topology.transformer_feeder,
                topology.meters_per_transformer,
                mean_interval_milli(group),
                grid_losses(group),
                publish_t,
                publish_f,
            )
            self.grid_set = MeterSet(
                group=group.name,
                commodity="electricity",
                timezone=group.timezone,
                region=group.region or "",
                count=len(ids),
                make_ids=lambda: ids,
                places=places,
                devices=devices,
                band_names=band_names,
            )
            self.grid_registers = Registers(
                np.zeros(len(ids), dtype=np.int64), export=True, digits=group.register_digits
            )

        self.supply = GroupSupply(attributes, seed=seed, climate=climate, key=self.key) if group.supply else None
        self._offsets_s = attributes.offset_s.astype(np.int64)
        #: what head-end commands set on these meters (relay, load limit, calendar); None without commands
        self.controls: MeterControls | None = None
        self.first_seq = 0  # the first interval the engine steps (later after a resume)
        self._instantaneous_draws: Reseeded | None = None

    def state(self, next_seq: int) -> dict[str, Array]:
        """What a resumed run needs to continue exactly: registers, model noise and the next ``seq``.

        The registers include the sub-litre carry of the converted gas volume (``registers.converted_carry``).
        """
        arrays = {f"registers.{k}": v for k, v in self.registers.state().items()}
        if self.grid is not None:
            arrays |= {f"grid.{k}": v for k, v in self.grid_registers.state().items()}
        if self.supply is not None:
            arrays |= {f"supply.{k}": v for k, v in self.supply.state().items()}
        if self.controls is not None:
            arrays |= {f"controls.{k}": v for k, v in self.controls.state().items()}
        arrays["noise"] = self.model.noise.state.copy()
        arrays["next_seq"] = np.array([next_seq], dtype=np.int64)
        return arrays

    def restore(self, arrays: dict[str, Array]) -> None:
        """Continue from :meth:`state`: the next step is interval ``next_seq``."""
        self.registers.restore({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("registers.")})
        if self.grid is not None:
            self.grid_registers.restore({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("grid.")})
        if self.supply is not None:
            self.supply.restore({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("supply.")})
        if self.controls is not None:
            self.controls.restore({k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("controls.")})
        if arrays["noise"].shape != self.model.noise.state.shape:
            raise ValueError("the state's noise does not fit these meters")
        self.model.noise.state = arrays["noise"].copy()
        self.first_seq = int(arrays["next_seq"][0])

    @property
    def report_offsets_s(self) -> Array:
        """Each meter's delay between an interval's end and its report [s]."""
        return self.attributes.offset_s

    def step(self, seq: int, end_s: int) -> GroupInterval:
        """Simulate the interval ending at ``end_s`` [epoch s]; ``seq`` counts intervals from 0."""
        group, interval_s = self.group, self.interval_s
        start_s = end_s - interval_s
        local_start_s = start_s + utc_offset_s(group.timezone, start_s)
        band = self.schedule.band_at(start_s) if self.schedule else 0
        interval_index = end_s // interval_s
        instantaneous = battery = export_milli = None
        supply = self.supply.step(start_s, end_s) if self.supply is not None else None
        gated: Gated | None = None
        if isinstance(self.model, ElectricityModel):
            flows = self.model.step(start_s, local_start_s, interval_index)
            true_milli, import_milli, export_milli = flows.load_milli, flows.import_milli, flows.export_milli
            if supply is not None and self.supply is not None:
                true_milli = self.supply.scale(supply, true_milli, pickup=True)
                import_milli = self.supply.scale(supply, import_milli, pickup=True)
                if export_milli is not None:  # an inverter stops when the grid does (anti-islanding)
                    export_milli = self.supply.scale(supply, export_milli, pickup=False)
            if self.controls is not None:
                gated = self.controls.gate(start_s, band, true_milli, import_milli, export_milli)
                true_milli, import_milli, export_milli = gated.true_milli, gated.import_milli, gated.export_milli
            self.registers.add(import_milli, band=band if gated is None else gated.band, export_milli=export_milli)
            if group.instantaneous is not None:
                instantaneous = self._instantaneous(import_milli, interval_index)
        else:
            gas = self.model.step(start_s, local_start_s, interval_index)
            true_milli = import_milli = gas.volume_milli
            converted = gas.converted_milli
            if supply is not None and self.supply is not None:
                true_milli = import_milli = self.supply.scale(supply, true_milli, pickup=False)
                converted = converted * supply.on_fraction
            if self.controls is not None:  # a closed valve
                gated = self.controls.gate(start_s, band, true_milli, import_milli, None)
                true_milli, import_milli = gated.true_milli, gated.import_milli
                converted = converted if gated.on is None else converted * gated.on
            self.registers.add(import_milli, converted_milli=converted)
            battery = np.round(battery_percent(self.attributes.battery_pct, end_s - self.start_s), 1)
        interval = (seq, end_s, interval_s)
        registers = self.registers.read()
        events: EventBatch | None = None
        labels: tuple[Label, ...] = ()
        if supply is not None and self.supply is not None:
            if self.supply.electricity:
                failures, long_failures = self.supply.failures.copy(), self.supply.long_failures.copy()
                registers = replace(registers, failures=failures, long_failures=long_failures)
            events, labels = self.supply.events_and_labels(supply, self.meter_set)
        if gated is not None and gated.events:
            events = _with_events(events, self.meter_set, gated.events)
        meters = _batch(
            self.meter_set,
            interval,
            end_s + self._offsets_s,
            band if gated is None else gated.band,
            (true_milli, import_milli, export_milli),
            registers,
            instantaneous=instantaneous,
            battery_pct=battery,
        )
        grid = None
        if self.grid is not None and self.grid_set is not None:
            flow = self.grid.step(true_milli, import_milli, export_milli)
            imported, exported = np.maximum(flow.delivered_milli, 0), np.maximum(-flow.delivered_milli, 0)
            self.grid_registers.add(imported, export_milli=exported)
            grid = _batch(
                self.grid_set,
                interval,
                np.full(self.grid_set.count, end_s, dtype=np.int64),
                band,
                (flow.delivered_milli, imported, exported),
                self.grid_registers.read(),
                losses_milli=flow.losses_milli,
                unmetered_milli=flow.unmetered_milli,
            )
        disconnected = self.controls.disconnected if self.controls is not None else None
        return GroupInterval(start_s, end_s, seq, meters, grid, events, labels, disconnected)

    def _instantaneous(self, import_milli: Array, interval_index: int) -> Instantaneous:
        """Per-phase voltage and current, power factor and frequency around nominal, at the interval end."""
        cfg = self.group.instantaneous
        assert cfg is not None
        phases = cfg.phases
        if self._instantaneous_draws is None:  # streams.draw's numbers, reseeded cheaply (one per interval)
            self._instantaneous_draws = Reseeded(self.seed, Stream.INSTANTANEOUS, self.key, self.attributes.meters)
        noise = self._instantaneous_draws.draw(interval_index, lambda r, k: r.standard_normal((k, phases + 2)))
        volts = np.round(cfg.nominal_v * (1 + 0.01 * noise[:, :phases]), 1)
        power_factor = np.round(np.clip(0.94 + 0.03 * noise[:, phases], 0.7, 1.0), 3)
        frequency = np.round(cfg.frequency_hz * (1 + 0.0004 * noise[:, phases + 1]), 2)
        watts = import_milli * (3600 / self.interval_s)  # Wh per interval -> W
        amps = np.round(watts[:, None] / (phases * volts * power_factor[:, None]), 2)
        neutral = amps[:, 0].copy() if phases == 1 else None
        return Instantaneous(volts, amps, power_factor, frequency, neutral_amps=neutral)


def _with_events(events: EventBatch | None, meters: MeterSet, more: list[tuple[Array, Array, Array]]) -> EventBatch:
    """``events`` and ``more`` ``(rows, time_s, code)`` in one batch, in time order (stable)."""
    parts = [] if events is None else [(events.meters_at, events.time_s, events.code)]
    rows, times, codes = (np.concatenate(c) for c in zip(*parts, *more))
    order = np.argsort(times, kind="stable")
    return EventBatch(meters, rows[order], times[order], codes[order].astype(np.int16), times[order])


def _concentrators(attributes: MeterAttributes) -> Callable[[], list[str]] | None:
    """What makes the concentrator id of each meter (None without concentrators)."""
    group = attributes.group
    if group.concentrator is None:
        return None
    try:
        paths = build_paths(group, group.concentrator, attributes.topology)
    except ValueError as exc:
        raise ConfigError(f"fleet group {group.name!r}: {exc}") from None
    return partial(concentrator_ids, paths, attributes.meters)


def band_consumption_shares(
    schedule: BandSchedule, params: ElectricityParams, timezone: str, start_s: int
) -> tuple[float, ...]:
    """Each band's share [-] of a scale-1 meter's expected consumption over the year before ``start_s``.

    Every interval of the :data:`BAND_SHARE_DAYS` days before the run counts with the model's smooth
    load: day factor (season x day type x monthly factor, BDEW dynamisation for H0) x the season's
    daily shape (with hot water), in the meters' local time, in the band the schedule puts it in.
    Noise, appliance events, cooling and heating, the meters' phase shifts and personal rhythms and PV
    are left out: they barely move a year's shares. ``timezone`` is the meters' zone [IANA];
    ``start_s`` [epoch s].
    """
    interval_s = params.interval_s
    span_s = BAND_SHARE_DAYS * SECONDS_PER_DAY
    instants = start_s - span_s + np.arange(0, span_s, interval_s, dtype=np.int64)
    local = instants + utc_offsets_s(timezone, instants)
    days, day_of = np.unique(local // SECONDS_PER_DAY, return_inverse=True)
    slot = (local % SECONDS_PER_DAY) // interval_s
    factor, season, types = day_levels(params, days)
    shapes = smooth_shapes(params)  # [season, day type, slot]
    load = factor[day_of] * shapes[season[day_of], types[day_of], slot]
    bands = schedule.bands_at(instants).astype(np.int64)
    shares = np.bincount(bands, weights=load, minlength=len(schedule.band_names)) / load.sum()
    return tuple(float(x) for x in shares)


@lru_cache(maxsize=64)
def _rows(n: int) -> Array:
    """``0 .. n-1``, read-only and shared: the rows of a whole meter set."""
    rows = np.arange(n, dtype=np.int64)
    rows.setflags(write=False)
    return rows


def _batch(
    meters: MeterSet,
    interval: tuple[int, int, int],
    sent_s: Array,
    band: int | Array,
    flows: tuple[Array, Array, Array | None],
    registers: RegisterValues,
    *,
    instantaneous: Instantaneous | None = None,
    battery_pct: Array | None = None,
    losses_milli: Array | None = None,
    unmetered_milli: Array | None = None,
) -> ReadingBatch:
    """A batch over every meter of ``meters``, all valid and published.

    ``interval`` is ``(seq, end_s, interval_s)``; ``flows`` is ``(true, import, export)`` [thousandths].
    Columns that hold one value for every meter are read-only broadcasts, not copies (batches are
    never changed in place).
    """
    n = meters.count
    seq, end_s, interval_s = interval
    true_milli, import_milli, export_milli = flows
    return ReadingBatch(
        meters=meters,
        meters_at=_rows(n),
        interval_s=interval_s,
        seq=np.broadcast_to(np.int64(seq), (n,)),
        end_s=np.broadcast_to(np.int64(end_s), (n,)),
        sent_s=sent_s,
        band=np.broadcast_to(np.int8(band), (n,)) if isinstance(band, int) else band.astype(np.int8),
        true_milli=true_milli,
        import_milli=import_milli,
        export_milli=export_milli,
        registers=registers,
        quality=np.broadcast_to(np.int8(VALID), (n,)),
        published=np.broadcast_to(np.True_, (n,)),
        instantaneous=instantaneous,
        battery_pct=battery_pct,
        losses_milli=losses_milli,
        unmetered_milli=unmetered_milli,
    )
