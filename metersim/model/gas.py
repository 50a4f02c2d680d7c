"""Gas demand by SigLinDe (heating, hot water, cooking), vectorised over meters.

A day's volume of meter i follows the SigLinDe profile of its building class
(:mod:`metersim.model.siglinde`, BDEW/VKU/GEODE 2016, e.g. HEF33), split into heating and a base::

    day_i(d) = KW · s_i · F_weekday(d) · [ g_i · heating(T) + base(T) ]      (g_i = 1: heats with gas)

* ``T`` is SigLinDe's weighted four-day mean temperature of day ``d``; ``heating + base = h(T)``
  (:meth:`SigLinDe.split`); the base is SigLinDe's own warm-water line ``D + mW·T + bW``, so hot water
  and cooking follow the season (about 1.6x more on a -5 degC day than on a 25 degC one);
* ``g_i``: the meter's home heats with gas (share ``heating_fraction``; the others, e.g. district-heated
  flats, have the base only). The heating *runs* while ``T`` is below the home's heating limit
  (uniform within ``heating_limit_c ± heating_limit_spread_c``) and its volume then follows the
  heating curve; above the limit the heating is off and SigLinDe's warm-weather tail (the sigmoid at
  summer temperatures, a few per cent of h) is used as hot water and cooking instead, so the day
  total still follows h(T) while nights go dry;
* the base (and that tail) is split ``w' = w / (w + c)`` hot water, ``c' = c / (w + c)`` cooking by the
  group's ``hot_water_share`` and ``cooking_share`` (both 0: heating only, always on its curve); a
  solar water heater takes its day's solar fraction off the hot water;
* ``KW`` is fixed per calendar year so that the fleet's mean meter of scale 1 uses ``annual_m3`` in that
  year's weather (solar water heaters then lower the fleet mean a little).

Within the day, heating follows a set-back curve (flow all night), hot water the morning and evening
draws, and cooking the meal times; hot water and cooking are zero from 23:00 to 05:00, so summer nights,
with the heating off, read zero. Multiplicative lognormal AR(1) noise keeps each meter's mean.

Meters with a volume converter also report the volume at base conditions (``7-0:3.2.0``), and every
meter's battery discharges slowly. The model hands out each interval's converted volume unrounded:
an hour's few litres times a factor near 1 would round straight back to the metered litres, so the
register (:class:`~metersim.model.registers.Registers`) keeps the sub-litre carry and publishes the
rounded cumulative instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.model import solar
from metersim.model.noise import LognormalAR1
from metersim.model.shapes import HEATING, fixed_shape
from metersim.model.siglinde import HEF33, SigLinDe, weekday_of
from metersim.model.weather import Weather
from metersim.streams import STATIC, MeterRange, Stream
from metersim.timebase import SECONDS_PER_DAY, local_year, year_days

DAYS_PER_YEAR = 365.2425
# Volume conversion to base conditions (EN 12405): 21 mbar gauge, 15 degC base.
BASE_PRESSURE_BAR, METER_PRESSURE_BAR = 1.01325, 1.01325 + 0.021
BASE_TEMPERATURE_K = 288.15
BATTERY_LIFE_S = 12 * 365 * SECONDS_PER_DAY  # a full battery lasts about twelve years [s]

# Hourly knots (00:00, 01:00, ... local time), relative. Zero from 23:00 to 05:00: nobody showers or
# cooks then, so with the heating off a night reads zero. Hot water: morning wash (and the dawn
# ablutions of a Muslim household) and the evening; cooking: breakfast, lunch (the main hot meal in
# Uzbek homes), dinner. Assumed shapes, not published ones.
GAS_HOT_WATER = [0.00, 0.00, 0.00, 0.00, 0.00, 0.60, 2.00, 2.60, 1.90, 1.10, 0.80, 0.70,
                 0.80, 0.70, 0.60, 0.60, 0.80, 1.10, 1.50, 1.90, 2.00, 1.70, 1.00, 0.00]  # fmt: skip
GAS_COOKING = [0.00, 0.00, 0.00, 0.00, 0.00, 0.30, 1.60, 2.20, 1.20, 0.50, 0.70, 1.80,
               2.60, 1.60, 0.50, 0.40, 0.70, 1.60, 2.60, 2.40, 1.20, 0.40, 0.00, 0.00]  # fmt: skip


def conversion_factor(air_temperature_c: float) -> float:
    """EN 12405 volume conversion factor Vb/Vm [-] on a day of mean air temperature [degC].

    The gas is near ground temperature, halfway between the air and 10 degC; it is metered at
    21 mbar gauge and converted to 1.01325 bar and 15 degC (compressibility ratio taken as 1).
    """
    gas_k = 273.15 + 0.5 * (air_temperature_c + 10.0)
    return (METER_PRESSURE_BAR / BASE_PRESSURE_BAR) * (BASE_TEMPERATURE_K / gas_k)


@dataclass(frozen=True)
class GasParams:
    """What a gas model needs of its group: plain numbers, no scenario schema."""

    interval_s: int  # [s]
    annual_m3: float  # fleet-mean annual volume of a meter of scale 1 [m3]
    hot_water_share: float = 0.15  # [-], with cooking_share: the split of the base (see module doc)
    cooking_share: float = 0.15  # [-]
    noise_sigma: float = 0.25  # lognormal sigma of the interval noise [-]
    noise_phi: float = 0.85  # interval-to-interval persistence of the noise [-]
    solar_water_heater: solar.SolarWaterHeater | None = None
    profile: SigLinDe = field(default=HEF33)  # SigLinDe coefficients of the building class
    heating_fraction: float = 1.0  # share of meters whose home heats with gas [-]
    heating_limit_c: float = 15.0  # mean heating limit of the four-day mean temperature [degC]
    heating_limit_spread_c: float = 2.0  # half-width of the uniform spread of the limits [degC]

    @property
    def base_split(self) -> tuple[float, float]:
        """``(w', c')``: the shares of the base that heat water and cook [-] (both 0: no base)."""
        total = self.hot_water_share + self.cooking_share
        if total <= 0:
            return 0.0, 0.0
        return self.hot_water_share / total, self.cooking_share / total


@dataclass
class GasStep:
    """One interval of one cohort, in thousandths of a m3 (litres) per meter."""

    volume_milli: Array  # at metering conditions (true = metered), int64
    # At base conditions for converter meters (0 elsewhere), float64 and *not* rounded: the register
    # accumulates it exactly and rounds only the cumulative.
    converted_milli: Array
    temperature_c: float  # mean air temperature of the day [degC]


@dataclass
class _Day:
    """Per-meter daily volumes [l] of one local day by use, and the day's mean air temperature."""

    day: int
    heating: Array | None  # None when no meter heats that day
    hot_water: Array
    cooking: Array
    temperature_c: float


class GasModel:
    """Stateful (AR noise) gas model for a range of one group's meters (see :class:`ElectricityModel`)."""

    def __init__(
        self,
        params: GasParams,
        *,
        seed: int,
        key: int,
        meters: MeterRange,
        scale: Array,
        shift_slots: Array,
        has_swh: Array,
        has_converter: Array,
        weather: Weather,
        first_interval: int,
    ) -> None:
        self.params, self.meters, self.weather = params, meters, weather
        self.scale, self.shift_slots = scale, shift_slots
        self.has_swh = np.asarray(has_swh, dtype=bool)
        self.converter_index = np.flatnonzero(has_converter)
        self.slots = SECONDS_PER_DAY // params.interval_s
        self.noise = LognormalAR1(seed, key, meters, params.noise_sigma, params.noise_phi, first_interval)
        u = _heating_draws(seed, key, meters)
        self.heats = u[:, 0] < params.heating_fraction
        spread = params.heating_limit_spread_c
        self.heating_limit_c = params.heating_limit_c + spread * (2.0 * u[:, 1] - 1.0)
        self.shapes = tuple(fixed_shape(c, params.interval_s) for c in (HEATING, GAS_HOT_WATER, GAS_COOKING))
        self._day: _Day | None = None

    def _swh_fraction_on(self, local_day: int) -> float:
        assert self.params.solar_water_heater is not None
        return solar.solar_water_heater_fraction_on(self.weather, local_day, self.params.solar_water_heater)

    def _daily(self, day: int) -> _Day:
        """Each meter's volumes of local ``day`` [l] by use (cached: one day at a time)."""
        cached = self._day
        if cached is not None and cached.day == day:
            return cached
        p = self.params
        t_geo = self.weather.siglinde_mean_c(np.array([day]))
        heating, base = (float(x[0]) for x in p.profile.split(t_geo))
        level = p.profile.weekday_factors[int(weekday_of(day))] * kw_per_unit_h(self.weather, local_year(day), p)
        per_meter = 1000.0 * level * self.scale  # [l per unit of h]
        w, c = p.base_split
        heats_now = self.heats & (float(t_geo[0]) < self.heating_limit_c) if w + c > 0 else self.heats
        heat = per_meter * (heating * heats_now) if heating > 0 and heats_now.any() else None
        # A home whose heating is off keeps SigLinDe's day total: the sigmoid's warm-weather tail is
        # hot water and cooking (nobody heats at 25 degC), so it moves onto their curves.
        base_i = per_meter * (base + heating * (self.heats & ~heats_now))
        hot_water = base_i * w
        if p.solar_water_heater is not None and self.has_swh.any():
            hot_water = np.where(self.has_swh, hot_water * (1.0 - self._swh_fraction_on(day)), hot_water)
        temperature = float(self.weather.daily_mean_c(np.array([day]))[0])
        self._day = _Day(day, heat, hot_water, base_i * c, temperature)
        return self._day

    def step(self, start_s: int, local_start_s: int, interval_index: int) -> GasStep:
        n, interval_s = self.meters.count, self.params.interval_s
        today = self._daily(local_start_s // SECONDS_PER_DAY)
        slot = (local_start_s % SECONDS_PER_DAY) // interval_s
        positions = (slot - self.shift_slots) % self.slots
        heating_shape, hot_water_shape, cooking_shape = self.shapes
        # The shapes have mean 1 over the day's slots, so a slot's share of the day is shape / slots.
        litres = today.hot_water * hot_water_shape[positions] + today.cooking * cooking_shape[positions]
        if today.heating is not None:
            litres += today.heating * heating_shape[positions]
        volume = litres * (self.noise.step(interval_index) / self.slots)
        volume_milli = np.rint(volume).astype(np.int64)
        converted = np.zeros(n, dtype=np.float64)
        if len(self.converter_index):
            # The converter measures the metered volume, so it converts the metered (whole) litres.
            factor = conversion_factor(today.temperature_c)
            converted[self.converter_index] = volume_milli[self.converter_index] * factor
        return GasStep(volume_milli, converted, today.temperature_c)


def _heating_draws(seed: int, key: int, meters: MeterRange) -> Array:
    """Two uniforms per meter (heats with gas; heating limit), keyed like :func:`metersim.streams.draw`."""
    parts = [
        np.random.default_rng([seed, int(Stream.HEATING), key, chunk, STATIC + 1]).random((size, 2))
        for chunk, size in meters.chunks()
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def kw_per_unit_h(weather: Weather, year: int, params: GasParams) -> float:
    """SigLinDe's customer value KW [m3 per day per unit of h] for ``year`` in ``weather``.

    The fleet's expected daily factor (the heating part for the share of homes that heat, plus the
    base) averages to ``annual_m3 / 365.2425`` over the year's local days.
    """
    w, c = params.base_split
    mean = _mean_factor(weather, year, params.profile, params.heating_fraction, w + c)
    return params.annual_m3 / DAYS_PER_YEAR / mean


@lru_cache(maxsize=64)
def _mean_factor(weather: Weather, year: int, profile: SigLinDe, fraction: float, base: float) -> float:
    """Mean over the local days of ``year`` of the fleet's expected daily factor [-]."""
    days = year_days(year)
    heating, base_h = profile.split(weather.siglinde_mean_c(days))
    weekday = np.asarray(profile.weekday_factors)[weekday_of(days)]
    return float(np.mean(weekday * (fraction * heating + base * base_h)))


def battery_percent(initial_pct: Array, elapsed_s: float) -> Array:
    """Remaining battery charge [%] after ``elapsed_s`` [s] of a linear discharge."""
    out: Array = np.clip(initial_pct - 100.0 * elapsed_s / BATTERY_LIFE_S, 0.0, 100.0)
    return out
