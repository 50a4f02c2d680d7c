"""Gas demand driven by temperature (SigLinDe), plus hot water and cooking, vectorised over meters.

For meter i in the interval that starts at local time t on day d::

    volume_i = mean_interval · s_i · [ heat · h(T_geo(d)) / mean_year(h) · heating(t)
                                       + w · hot_water(t) · (1 − φ_i(d)) + c · cooking(t) ] · exp(e_i − σ²/2)

* ``h`` is the SigLinDe sigmoid over the geometric-mean temperature of the last four days, and
  ``mean_year(h)`` its mean over the calendar year's simulated weather, so ``annual_m3`` is the
  consumption of a meter of scale 1 in that year's weather;
* ``heat = 1 − w − c``, with ``w`` the hot-water share and ``c`` the cooking share;
* ``φ_i`` is the solar fraction of a solar water heater (0 without one).

Meters with a volume converter also report the volume at base conditions (``7-0:3.2.0``), and every
meter's battery discharges slowly. The model hands out each interval's converted volume unrounded:
an hour's few litres times a factor near 1 would round straight back to the metered litres, so the
register (:class:`~metersim.model.registers.Registers`) keeps the sub-litre carry and publishes the
rounded cumulative instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.model import solar
from metersim.model.noise import LognormalAR1
from metersim.model.shapes import COOKING, HEATING, HOT_WATER, fixed_shape
from metersim.model.weather import Weather
from metersim.streams import MeterRange
from metersim.timebase import SECONDS_PER_DAY, local_year, year_days

DAYS_PER_YEAR = 365.2425
# SigLinDe sigmoid for a detached house (EFH), building class 3, wind class 0 (BDEW).
SIGLINDE_A, SIGLINDE_B, SIGLINDE_C, SIGLINDE_D = 3.0554, -37.1836, 5.6811, 0.1145
# Volume conversion to base conditions (EN 12405): 21 mbar gauge, 15 degC base.
BASE_PRESSURE_BAR, METER_PRESSURE_BAR = 1.01325, 1.01325 + 0.021
BASE_TEMPERATURE_K = 288.15
BATTERY_LIFE_S = 12 * 365 * SECONDS_PER_DAY  # a full battery lasts about twelve years [s]


def siglinde(temperature_c: Array) -> Array:
    """SigLinDe heating demand factor h(T) [-] of the geometric-mean temperature [degC]."""
    ratio = SIGLINDE_B / (np.asarray(temperature_c, dtype=float) - 40.0)
    out: Array = SIGLINDE_A / (1.0 + ratio**SIGLINDE_C) + SIGLINDE_D
    return out


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
    annual_m3: float  # mean annual volume of a meter of scale 1 [m3]
    hot_water_share: float = 0.15  # [-]
    cooking_share: float = 0.15  # [-]
    noise_sigma: float = 0.25  # lognormal sigma of the interval noise [-]
    noise_phi: float = 0.85  # interval-to-interval persistence of the noise [-]
    solar_water_heater: solar.SolarWaterHeater | None = None


@dataclass
class GasStep:
    """One interval of one cohort, in thousandths of a m3 (litres) per meter."""

    volume_milli: Array  # at metering conditions (true = metered), int64
    # At base conditions for converter meters (0 elsewhere), float64 and *not* rounded: the register
    # accumulates it exactly and rounds only the cumulative.
    converted_milli: Array
    temperature_c: float  # mean air temperature of the day [degC]


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
        self.swh_index = np.flatnonzero(has_swh)
        self.converter_index = np.flatnonzero(has_converter)
        self.slots = SECONDS_PER_DAY // params.interval_s
        self.noise = LognormalAR1(seed, key, meters, params.noise_sigma, params.noise_phi, first_interval)

    def _swh_fraction_on(self, local_day: int) -> float:
        assert self.params.solar_water_heater is not None
        return solar.solar_water_heater_fraction_on(self.weather, local_day, self.params.solar_water_heater)

    def step(self, start_s: int, local_start_s: int, interval_index: int) -> GasStep:
        params, n = self.params, self.meters.count
        interval_s = params.interval_s
        day = local_start_s // SECONDS_PER_DAY
        year = local_year(day)
        heating_level = float(siglinde(self.weather.siglinde_mean_c(np.array([day])))[0]) / self._mean_h(year)
        slot = (local_start_s % SECONDS_PER_DAY) // interval_s
        positions = (slot - self.shift_slots) % self.slots
        w, c = params.hot_water_share, params.cooking_share
        hot_water = w * fixed_shape(HOT_WATER, interval_s)[positions]
        if len(self.swh_index):
            hot_water[self.swh_index] *= 1.0 - self._swh_fraction_on(day)
        demand = (
            (1.0 - w - c) * heating_level * fixed_shape(HEATING, interval_s)[positions]
            + hot_water
            + c * fixed_shape(COOKING, interval_s)[positions]
        )
        mean_interval = params.annual_m3 * interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR)
        volume = mean_interval * self.scale * demand * self.noise.step(interval_index)
        volume_milli = np.rint(volume * 1000).astype(np.int64)
        temperature = float(self.weather.daily_mean_c(np.array([day]))[0])
        converted = np.zeros(n, dtype=np.float64)
        if len(self.converter_index):
            # The converter measures the metered volume, so it converts the metered (whole) litres.
            converted[self.converter_index] = volume_milli[self.converter_index] * conversion_factor(temperature)
        return GasStep(volume_milli, converted, temperature)

    def _mean_h(self, year: int) -> float:
        return _mean_siglinde(self.weather, year)


@lru_cache(maxsize=64)
def _mean_siglinde(weather: Weather, year: int) -> float:
    """Mean of h over the local days of ``year`` in this weather [-]."""
    return float(siglinde(weather.siglinde_mean_c(year_days(year))).mean())


def battery_percent(initial_pct: Array, elapsed_s: float) -> Array:
    """Remaining battery charge [%] after ``elapsed_s`` [s] of a linear discharge."""
    out: Array = np.clip(initial_pct - 100.0 * elapsed_s / BATTERY_LIFE_S, 0.0, 100.0)
    return out
