"""Electricity demand, rooftop PV and solar water heaters, vectorised over a cohort's meters.

For meter i in the interval that starts at local time t::

    load_i = mean_interval · f(day) · s_i · [(1 − w) · shape(t − shift_i) + w · hot_water(t − shift_i) · (1 − φ_i(day))]
             · exp(e_i − σ²/2) + spikes_i

* ``f(day)`` = monthly factor × day-type weight, normalised so that it averages 1 over each calendar year;
* ``s_i`` lognormal annual scale (mean 1), ``shift_i`` a fixed phase shift, ``e_i`` AR(1) noise;
* ``w`` the hot-water share, ``φ_i`` the solar fraction of a solar water heater (0 without one);
* spikes are Poisson appliance events (kettle, pump) whose expected energy is taken out of the base,
  so the annual total still tracks ``annual_kwh × s_i``.

PV meters net load and generation at sub-interval resolution, so import and export can both grow
within one interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.calendar import day_type as calendar_day_type
from metersim.calendar import day_types
from metersim.model import solar
from metersim.model.noise import LognormalAR1
from metersim.model.shapes import DAY_WEIGHTS, HOT_WATER, electricity_shape, fixed_shape
from metersim.model.weather import Weather
from metersim.streams import MeterRange, Stream, draw
from metersim.timebase import SECONDS_PER_DAY, local_month, local_months, local_year, year_days

DAYS_PER_YEAR = 365.2425
SPIKE_HOURS = 0.1  # mean duration of an appliance spike [h]
PV_STEP_S = 300  # netting resolution of PV meters [s]


@dataclass(frozen=True)
class ElectricityParams:
    """What an electricity model needs of its group: plain numbers, no scenario schema."""

    profile: str  # name of a curve in shapes.ELECTRICITY
    interval_s: int  # [s]
    annual_kwh: float  # mean annual consumption of a meter of scale 1 [kWh]
    monthly_factors: tuple[float, ...]  # seasonality Jan..Dec [-]
    country: str | None  # ISO 3166 code for public holidays
    hot_water_share: float = 0.15  # share of consumption that heats water [-]
    spikes_per_day: float = 1.0  # appliance spikes per meter per day
    spike_kw: float = 2.5  # mean power of a spike [kW]
    noise_sigma: float = 0.25  # lognormal sigma of the interval noise [-]
    noise_phi: float = 0.85  # interval-to-interval persistence of the noise [-]
    pv_performance_ratio: float | None = None  # None: no PV in the group [-]
    solar_water_heater: solar.SolarWaterHeater | None = None


@dataclass
class ElectricityStep:
    """One interval of one cohort, in thousandths of a kWh (Wh) per meter."""

    load_milli: Array  # true consumption
    import_milli: Array  # energy drawn from the grid
    export_milli: Array | None  # energy fed to the grid (None without PV in the group)


@lru_cache(maxsize=256)
def _year_norm(
    monthly: tuple[float, ...], weights: tuple[float, float, float], country: str | None, year: int
) -> float:
    """1 / mean over the year's local days of monthly factor × day-type weight."""
    days = year_days(year)
    months = local_months(days) - 1
    factors = np.asarray(monthly)[months] * np.asarray(weights)[day_types(days, country)]
    return float(1.0 / factors.mean())


class ElectricityModel:
    """Stateful (AR noise) electricity model for a range of one group's meters.

    Parameters
    ----------
    params
        The group's model parameters.
    seed, key, meters
        Address of the random streams: scenario seed, group key, and the meters' range in the group.
    scale, shift_slots, has_swh
        Per meter: annual scale [-], daily-curve shift [intervals], and whether it has a solar water
        heater.
    pv
        The PV systems of these meters (None: none).
    weather
        The group's region (needed for PV and solar water heaters).
    first_interval
        Index (interval end // interval_s) of the first interval, where the noise starts.
    """

    def __init__(
        self,
        params: ElectricityParams,
        *,
        seed: int,
        key: int,
        meters: MeterRange,
        scale: Array,
        shift_slots: Array,
        pv: solar.PvSystems | None,
        has_swh: Array,
        weather: Weather | None,
        first_interval: int,
    ) -> None:
        self.params, self.seed, self.key, self.meters, self.weather = params, seed, key, meters, weather
        self.country = params.country
        self.scale, self.shift_slots = scale, shift_slots
        self.monthly = params.monthly_factors
        self.weights = tuple(DAY_WEIGHTS[params.profile][d] for d in range(3))
        self.slots = SECONDS_PER_DAY // params.interval_s
        spike_kwh_per_year = params.spikes_per_day * params.spike_kw * SPIKE_HOURS * DAYS_PER_YEAR
        # Spikes are part of the annual total: the smooth base carries the rest (at least half).
        self.base_kwh = max(params.annual_kwh - spike_kwh_per_year, 0.5 * params.annual_kwh)
        self.spike_rate = params.spikes_per_day * params.interval_s / SECONDS_PER_DAY
        self.pv = pv
        self.pv_index = pv.rows if pv is not None else np.zeros(0, dtype=np.int64)
        self.swh_index = np.flatnonzero(has_swh)
        self.noise = LognormalAR1(seed, key, meters, params.noise_sigma, params.noise_phi, first_interval)

    def _swh_fraction_on(self, local_day: int) -> float:
        assert self.weather is not None and self.params.solar_water_heater is not None
        return solar.solar_water_heater_fraction_on(self.weather, local_day, self.params.solar_water_heater)

    def step(self, start_s: int, local_start_s: int, interval_index: int) -> ElectricityStep:
        """Advance one interval that starts at ``start_s`` (UTC) = ``local_start_s`` (local) [s]."""
        params, n = self.params, self.meters.count
        interval_s = params.interval_s
        local_day = local_start_s // SECONDS_PER_DAY
        day_type = calendar_day_type(local_day, self.country)
        year, month = local_year(local_day), local_month(local_day)
        level = (
            self.base_kwh
            * interval_s
            / (SECONDS_PER_DAY * DAYS_PER_YEAR)
            * self.monthly[month - 1]
            * self.weights[day_type]
            * _year_norm(self.monthly, self.weights, self.country, year)
        )
        slot = (local_start_s % SECONDS_PER_DAY) // interval_s
        positions = (slot - self.shift_slots) % self.slots
        shape = electricity_shape(params.profile, day_type, interval_s)[positions]
        w = params.hot_water_share
        if w > 0:
            hot_water = fixed_shape(HOT_WATER, interval_s)[positions]
            if len(self.swh_index):
                hot_water = hot_water.copy()
                hot_water[self.swh_index] *= 1.0 - self._swh_fraction_on(local_day)
            shape = (1.0 - w) * shape + w * hot_water

        load = level * self.scale * shape * self.noise.step(interval_index)
        if self.spike_rate > 0:
            spikes = draw(self.seed, Stream.SPIKES, self.key, self.meters, interval_index, self._spikes)
            load = load + spikes
        load_milli = np.rint(load * 1000).astype(np.int64)
        if params.pv_performance_ratio is None:
            return ElectricityStep(load_milli, load_milli, None)
        import_milli = load_milli.copy()
        export_milli = np.zeros(n, dtype=np.int64)
        if len(self.pv_index):
            imported, exported = self._net_pv(load[self.pv_index], start_s, interval_s)
            import_milli[self.pv_index] = np.rint(imported * 1000).astype(np.int64)
            export_milli[self.pv_index] = np.rint(exported * 1000).astype(np.int64)
        return ElectricityStep(load_milli, import_milli, export_milli)

    def _spikes(self, rng: np.random.Generator, k: int) -> Array:
        counts = rng.poisson(self.spike_rate, k)
        energy = counts * (self.params.spike_kw * SPIKE_HOURS)
        return energy * rng.uniform(0.6, 1.4, k)

    def _net_pv(self, load_kwh: Array, start_s: int, interval_s: int) -> tuple[Array, Array]:
        """Import and export [kWh] of PV meters, netting load and generation every few minutes."""
        assert self.pv is not None
        steps = max(1, min(interval_s // PV_STEP_S, 96))
        step_s = interval_s / steps
        instants = start_s + (np.arange(steps) + 0.5) * step_s
        generation = self.pv.generation_kwh(instants, step_s)  # kWh per sub-step: meters x steps
        per_step_load = (load_kwh / steps)[:, None]
        net = per_step_load - generation
        return np.clip(net, 0, None).sum(axis=1), np.clip(-net, 0, None).sum(axis=1)
