"""Electricity demand, rooftop PV and solar water heaters, vectorised over a cohort's meters.

For meter i in the interval that starts at local time t on local day D::

    load_i = base · f(D) · s_i · m_i(t) · [(1 − w) · shape(season, day type)(t − shift_i)
             + w · hot_water(t − shift_i) · (1 − φ_i(D))] · exp(e_i − σ²/2)
             + events_i + cooling_i(T) + heating_i(T)

* ``f(D)`` = season × day-type energy (:func:`metersim.model.shapes.day_energy`) × monthly factor
  (× BDEW's dynamisation for ``bdew-h0``), normalised to mean 1 over each calendar year;
* ``s_i`` lognormal annual scale (mean 1), ``shift_i`` a fixed phase shift, ``e_i`` AR(1) noise;
* ``m_i`` the meter's occupancy archetype and personal rhythm (fleet mean 1 at every t,
  :mod:`metersim.model.appliances`); ``w`` the hot-water share, ``φ_i`` a solar water heater's fraction;
* ``events_i`` Poisson appliance events whose rate follows the meter's own shape;
* ``cooling_i``/``heating_i`` thermostat duty cycles on the region's temperature T
  (:mod:`metersim.model.thermal`).

Each meter's base is ``annual_kwh`` less its own expected annual energy of events (propensity),
cooling and heating (ownership, set-point, that year's weather), so every meter's annual energy
tracks ``annual_kwh x s_i`` and the fleet's mean shape the profile.

PV meters net load and generation at sub-interval resolution, so import and export can both grow
within one interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.calendar import day_types, days_of_year, seasons
from metersim.model import solar
from metersim.model.appliances import DiversityParams, Households
from metersim.model.noise import LognormalAR1, Reseeded
from metersim.model.shapes import HOT_WATER, day_energy, dynamisation, fixed_shape, shape_table
from metersim.model.thermal import ThermalLoad, ThermalParams
from metersim.model.weather import Weather
from metersim.streams import MeterRange, Stream
from metersim.timebase import SECONDS_PER_DAY, local_months, local_year, year_days

DAYS_PER_YEAR = 365.2425
EVENT_KW = 2.0  # `spike_kw` at which appliance events have their table powers [kW]
MAX_EVENT_SHARE = 0.4  # appliance events take at most this share of the annual energy [-]
MIN_BASE_SHARE = 0.3  # the smooth base keeps at least this share, however hot the year [-]
PV_STEP_S = 300  # netting resolution of PV meters [s]


@dataclass(frozen=True)
class ElectricityParams:
    """What an electricity model needs of its group: plain numbers, no scenario schema."""

    profile: str  # one of shapes.PROFILES
    interval_s: int  # [s]
    annual_kwh: float  # mean annual consumption of a meter of scale 1 [kWh]
    monthly_factors: tuple[float, ...]  # seasonality Jan..Dec [-]
    country: str | None  # ISO 3166 code for public holidays
    hot_water_share: float = 0.15  # share of consumption that heats water [-]
    spikes_per_day: float = 4.0  # appliance events per meter per day (kettle, hob, washing, pump)
    spike_kw: float = EVENT_KW  # scales the events' powers: EVENT_KW gives appliances.EVENTS as tabled [kW]
    noise_sigma: float = 0.25  # lognormal sigma of the interval noise [-]
    noise_phi: float = 0.85  # interval-to-interval persistence of the noise [-]
    pv_performance_ratio: float | None = None  # None: no PV in the group [-]
    solar_water_heater: solar.SolarWaterHeater | None = None
    cooling: ThermalParams = field(default_factory=ThermalParams)  # off (no owners) unless given
    heating: ThermalParams = field(default_factory=ThermalParams)  # off (no owners) unless given
    diversity: DiversityParams = field(default_factory=DiversityParams)


@dataclass
class ElectricityStep:
    """One interval of one cohort, in thousandths of a kWh (Wh) per meter."""

    load_milli: Array  # true consumption
    import_milli: Array  # energy drawn from the grid
    export_milli: Array | None  # energy fed to the grid (None without PV in the group)


@dataclass(frozen=True)
class _Day:
    """One local day of one model: its calendar cell and the per-meter factors that hold all day."""

    local_day: int
    year: int
    cell: int  # season x 3 + day type
    mixed2: Array  # the smooth shape with hot water, per position, written out twice [-]
    smooth: Array  # the season's and day type's shape without hot water, per position [-]
    swh_off: float  # 1 - a solar water heater's fraction on this day [-]
    level_scale: Array  # per meter: the base energy of one interval of this day [kWh]
    neg_rate_scale: Array  # per meter: minus the appliance events' rate per unit of shape [1/interval]


@lru_cache(maxsize=256)
def _year_table(
    profile: str, monthly: tuple[float, ...], country: str | None, year: int
) -> tuple[int, Array, Array, Array]:
    """(first local day, day factor f, season, day type) for each local day of ``year``; f has mean 1."""
    days = year_days(year)
    season = seasons(days)
    types = day_types(days, country)
    factor = day_energy(profile)[season, types] * np.asarray(monthly)[local_months(days) - 1]
    if profile == "bdew-h0":
        factor = factor * dynamisation(days_of_year(days))
    factor = factor / factor.mean()
    for a in (factor, season, types):
        a.setflags(write=False)
    return int(days[0]), factor, season, types


def day_levels(params: ElectricityParams, local_days: Array) -> tuple[Array, Array, Array]:
    """Day factor f [-], season and day type of each local day (any years), as the model uses them."""
    days = np.asarray(local_days, dtype=np.int64)
    factor, season, types = np.empty(days.shape), np.empty(days.shape, np.int64), np.empty(days.shape, np.int64)
    years = (np.datetime64("1970-01-01", "D") + days).astype("datetime64[Y]").astype(np.int64) + 1970
    for year in np.unique(years):
        mask = years == year
        first, f, s, t = _year_table(params.profile, params.monthly_factors, params.country, int(year))
        index = days[mask] - first
        factor[mask], season[mask], types[mask] = f[index], s[index], t[index]
    return factor, season, types


def smooth_shapes(params: ElectricityParams) -> Array:
    """Mean-1 daily shapes with the hot-water share mixed in, shape [season, day type, intervals]."""
    w = params.hot_water_share
    table: Array = (1.0 - w) * shape_table(params.profile, params.interval_s) + w * fixed_shape(
        HOT_WATER, params.interval_s
    )
    return table


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
        self.slots = SECONDS_PER_DAY // params.interval_s
        self.households = Households(params.diversity, seed, key, meters, params.interval_s, shift_slots)
        if params.diversity.enabled:
            self.households.normalise(smooth_shapes(params), shift_slots)
        self.event_kwh = self.households.mean_event_kwh * params.spike_kw / EVENT_KW  # [kWh per event]
        events_per_year = params.spikes_per_day * DAYS_PER_YEAR if params.diversity.enabled else 0.0
        # Events may not crowd out the smooth base: their rate is capped at MAX_EVENT_SHARE of the energy.
        if events_per_year * self.event_kwh > MAX_EVENT_SHARE * params.annual_kwh:
            events_per_year = MAX_EVENT_SHARE * params.annual_kwh / self.event_kwh
        self.events_kwh_per_year = events_per_year * self.event_kwh
        self.event_rate = events_per_year / DAYS_PER_YEAR * params.interval_s / SECONDS_PER_DAY  # [1/interval]
        # A home's events take at most MAX_EVENT_SHARE of its own energy too: cap its propensity.
        cap = MAX_EVENT_SHARE * params.annual_kwh / self.events_kwh_per_year if self.events_kwh_per_year else 1.0
        self._propensity = np.minimum(self.households.propensity, max(cap, 1.0))
        self.propensity_scale = self._propensity * scale
        self.thermal = [
            ThermalLoad(p, heating=h, seed=seed, key=key, meters=meters, interval_s=params.interval_s)
            for p, h in ((params.cooling, False), (params.heating, True))
            if weather is not None and p.ownership > 0
        ]
        self.pv = pv
        self.pv_index = pv.rows if pv is not None else np.zeros(0, dtype=np.int64)
        self.swh_index = np.flatnonzero(has_swh)
        self.noise = LognormalAR1(seed, key, meters, params.noise_sigma, params.noise_phi, first_interval)
        self._spikes = Reseeded(seed, Stream.SPIKES, key, meters)
        self._base_scales: dict[int, Array] = {}
        self._today: _Day | None = None
        self._positions2 = np.tile(np.arange(self.slots), 2)  # [slot:][base] = each meter's position

    def base_kwh(self, year: int) -> float:
        """Annual energy [kWh] of the smooth base of a scale-1 meter of mean propensity without cooling or
        heating: ``annual_kwh`` less its appliance events."""
        return max(self.params.annual_kwh - self.events_kwh_per_year, MIN_BASE_SHARE * self.params.annual_kwh)

    def _base_scale(self, year: int) -> Array:
        """Per meter: scale x its own base / :meth:`base_kwh`, where its own base is ``annual_kwh`` less its
        expected events (propensity) and its cooling and heating over the year (ownership, set-point),
        so that every meter keeps ``annual_kwh x scale`` (its base at least MIN_BASE_SHARE of it)."""
        cached = self._base_scales.get(year)
        if cached is None:
            own = self.params.annual_kwh - self.events_kwh_per_year * self._propensity
            budget = own.copy()  # cooling and heating each take their share of what events leave
            for thermal in self.thermal:
                assert self.weather is not None
                own[thermal.rows] -= thermal.prepare(self.weather, year, budget)
            own = np.maximum(own, MIN_BASE_SHARE * self.params.annual_kwh)
            cached = self._base_scales[year] = self.scale * own / self.base_kwh(year)
        return cached

    def _swh_fraction_on(self, local_day: int) -> float:
        assert self.weather is not None and self.params.solar_water_heater is not None
        return solar.solar_water_heater_fraction_on(self.weather, local_day, self.params.solar_water_heater)

    def _day(self, local_day: int) -> _Day:
        """What stays fixed over one local day (computed at its first interval; the engine steps in time order)."""
        day = self._today
        if day is not None and day.local_day == local_day:
            return day
        params = self.params
        year = local_year(local_day)
        first, factors, season_of, type_of = _year_table(params.profile, params.monthly_factors, self.country, year)
        f = float(factors[local_day - first])
        season, day_type = int(season_of[local_day - first]), int(type_of[local_day - first])
        level = self.base_kwh(year) * params.interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR) * f
        smooth = shape_table(params.profile, params.interval_s)[season, day_type]
        w = params.hot_water_share
        mixed = (1.0 - w) * smooth + w * fixed_shape(HOT_WATER, params.interval_s) if w > 0 else smooth
        swh_off = 1.0 - self._swh_fraction_on(local_day) if w > 0 and len(self.swh_index) else 1.0
        day = self._today = _Day(
            local_day=local_day,
            year=year,
            cell=season * 3 + day_type,
            mixed2=np.concatenate([mixed, mixed]),
            smooth=smooth,
            swh_off=swh_off,
            # = level x base_scale, (event_rate f) x propensity_scale, negated: each a pass saved per interval
            level_scale=level * self._base_scale(year),  # sizes the year's cooling and heating too
            neg_rate_scale=-((self.event_rate * f) * self.propensity_scale),
        )
        return day

    def step(self, start_s: int, local_start_s: int, interval_index: int) -> ElectricityStep:
        """Advance one interval that starts at ``start_s`` (UTC) = ``local_start_s`` (local) [s].

        Every product is taken in the order of the formula in the module docstring, and with the same
        dtypes, so that in-place operations and the tables of :meth:`_day` change no bit of the result.
        """
        params, n = self.params, self.meters.count
        interval_s = params.interval_s
        day = self._day(local_start_s // SECONDS_PER_DAY)
        slot = (local_start_s % SECONDS_PER_DAY) // interval_s
        base = self.households.base  # each meter's position at slot 0: (slot - shift) % slots = base + slot
        shape = np.take(day.mixed2[slot:], base)  # the smooth shape with hot water mixed in [-]
        w = params.hot_water_share
        if w > 0 and len(self.swh_index):  # solar water heaters take their part of the hot water
            positions = np.take(self._positions2[slot:], base[self.swh_index])
            hot_water = fixed_shape(HOT_WATER, interval_s)[positions] * day.swh_off
            shape[self.swh_index] = (1.0 - w) * day.smooth[positions] + w * hot_water
        if params.diversity.enabled:
            shape *= self.households.modulation_at(slot, day.cell)

        load = day.level_scale * shape
        load *= self.noise.step(interval_index)
        if self.event_rate > 0:
            self._add_events(load, day.neg_rate_scale * shape, interval_index)
        if self.thermal:
            assert self.weather is not None
            temperature = float(self.weather.temperature_c(np.array([start_s + interval_s // 2]))[0])
            running = [thermal for thermal in self.thermal if thermal.active(temperature)]  # else all zero
            positions = np.take(self._positions2[slot:], base) if running else base
            for thermal in running:
                load += thermal.step(temperature, positions, self.scale, interval_index, day.year)
        milli = load * 1000
        load_milli = np.rint(milli, out=milli).astype(np.int64)
        if params.pv_performance_ratio is None:
            return ElectricityStep(load_milli, load_milli, None)
        import_milli = load_milli.copy()
        export_milli = np.zeros(n, dtype=np.int64)
        if len(self.pv_index):
            imported, exported = self._net_pv(load[self.pv_index], start_s, interval_s)
            import_milli[self.pv_index] = np.rint(imported * 1000).astype(np.int64)
            export_milli[self.pv_index] = np.rint(exported * 1000).astype(np.int64)
        return ElectricityStep(load_milli, import_milli, export_milli)

    def _add_events(self, load: Array, neg_rate: Array, interval_index: int) -> None:
        """Add appliance-event energy [kWh] to ``load``, each chunk's uniforms from its own addressable stream;
        ``neg_rate`` is minus the events' rate per meter [1/interval]."""
        u = self._spikes.uniform(interval_index)
        hit, energy = self.households.events_from(u, neg_rate)
        load[hit] += energy * (self.params.spike_kw / EVENT_KW)

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
