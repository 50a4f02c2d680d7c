"""Solar geometry, clear-sky irradiance, PV output and solar water heating: pure numpy functions.

Accuracy target is "plausible meter data", not bankable yield: solar position follows the NOAA
(Spencer) series for declination and the equation of time (about 0.5 degrees and 1 minute), and
clear-sky global horizontal irradiance follows Haurwitz (1945), which needs no atmospheric inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from metersim._array import Array
from metersim.timebase import SECONDS_PER_DAY

#: thermal hot-water demand of a home that the solar fraction is computed against [kWh/day]
HOT_WATER_KWH_PER_DAY = 6.0

if TYPE_CHECKING:
    from metersim.model.weather import Weather


@dataclass(frozen=True)
class SolarWaterHeater:
    """A solar water heater's collector."""

    collector_m2: float  # collector area [m2]
    efficiency: float  # mean collector-and-tank efficiency [-]


HAURWITZ_A_W_M2 = 1098.0  # [W/m2]
HAURWITZ_B = 0.057  # [-] extinction term of the Haurwitz model

# Even on a sunny day the backup heater runs (tank losses, evening draws after the tank cools,
# stratification), so a solar water heater never covers all of the demand.
MAX_SOLAR_FRACTION = 0.95


def _year_fraction(epoch_s: Array) -> tuple[Array, Array]:
    """Fractional-year angle [rad] of the NOAA series and the UTC minutes of day [min]."""
    day = np.floor_divide(epoch_s, SECONDS_PER_DAY)
    minutes = (epoch_s - day * SECONDS_PER_DAY) / 60.0
    year_start = day.astype("datetime64[D]").astype("datetime64[Y]")
    jan1 = year_start.astype("datetime64[D]").astype(np.int64)
    year_len = (year_start + 1).astype("datetime64[D]").astype(np.int64) - jan1
    gamma = 2.0 * np.pi / year_len * ((day - jan1) + (minutes / 60.0 - 12.0) / 24.0)
    return gamma, minutes


def cos_zenith(latitude_deg: float, longitude_deg: float, epoch_s: Array | int) -> Array:
    """Cosine of the solar zenith angle [-] at UTC instants ``epoch_s`` [s]; negative at night.

    Parameters
    ----------
    latitude_deg, longitude_deg
        Site position [deg], north and east positive.
    epoch_s
        Seconds since the Unix epoch, UTC [s]; any shape.
    """
    t = np.asarray(epoch_s, dtype=np.int64)
    g, minutes = _year_fraction(t)
    declination = (
        0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g)
    )  # fmt: skip
    eot_min = 229.18 * (
        0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g) - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g)
    )
    true_solar_min = minutes + 4.0 * longitude_deg + eot_min
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    lat = np.radians(latitude_deg)
    cz = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)
    return np.asarray(cz)


def clear_sky_ghi(latitude_deg: float, longitude_deg: float, epoch_s: Array | int) -> Array:
    """Clear-sky global horizontal irradiance [W/m2] (Haurwitz) at UTC instants ``epoch_s`` [s].

    GHI = 1098 cos z exp(-0.057 / cos z) while the sun is up, else 0. Haurwitz slightly
    overestimates in hazy climates; the daily clearness factor of the weather model absorbs that.
    """
    cz = cos_zenith(latitude_deg, longitude_deg, epoch_s)
    up = cz > 0
    # Night entries get a dummy 1.0 so exp() never sees a division by zero or a negative cosine.
    safe = np.where(up, cz, 1.0)
    ghi = np.where(up, HAURWITZ_A_W_M2 * safe * np.exp(-HAURWITZ_B / safe), 0.0)
    return np.asarray(ghi)


def pv_power_kw(kwp: Array, ghi_w_m2: Array | float, performance_ratio: float) -> Array:
    """AC output of PV systems [kW] = kWp x GHI / (1000 W/m2) x PR.

    Horizontal approximation: modules are treated as lying flat, so plane-of-array irradiance
    equals GHI. Tilted south-facing modules would gain some 10-15 % a year at these latitudes and
    flatten the seasonal swing; temperature and low-light losses are folded into ``performance_ratio``.

    Parameters
    ----------
    kwp
        Installed peak power per system [kWp]; broadcasts against ``ghi_w_m2``.
    ghi_w_m2
        Global horizontal irradiance [W/m2].
    performance_ratio
        AC output per kWp at 1000 W/m2 [-].
    """
    power = np.asarray(kwp, dtype=float) * (np.asarray(ghi_w_m2, dtype=float) * (performance_ratio / 1000.0))
    return np.asarray(power)


def solar_water_heater_fraction(
    daily_irradiation_kwh_m2: Array | float,
    collector_m2: float | Array,
    efficiency: float,
    hot_water_kwh_per_day: Array | float,
) -> Array:
    """Share [-] of a day's hot-water energy that the collector covers, in [0, 0.95].

    fraction = min(0.95, efficiency x collector_m2 x H / Q_dhw). H is the horizontal daily
    irradiation [kWh/m2] (collectors are tilted in practice, which this ignores, as
    :func:`pv_power_kw` does). The cap at 0.95 stands for losses that some backup always makes up.
    Where there is no demand (Q_dhw <= 0) the fraction is 0: there is nothing to cover.

    Parameters
    ----------
    daily_irradiation_kwh_m2
        Irradiation of the day [kWh/m2].
    collector_m2
        Collector area [m2].
    efficiency
        Mean collector-and-tank efficiency [-].
    hot_water_kwh_per_day
        Thermal hot-water demand of the day [kWh]; broadcasts (e.g. one per meter).
    """
    gain = efficiency * np.asarray(collector_m2, dtype=float) * np.asarray(daily_irradiation_kwh_m2, dtype=float)
    demand = np.asarray(hot_water_kwh_per_day, dtype=float)
    positive = demand > 0
    ratio = np.divide(gain, demand, out=np.zeros(np.broadcast(gain, demand).shape), where=positive)
    return np.asarray(np.clip(ratio, 0.0, MAX_SOLAR_FRACTION))


def solar_water_heater_fraction_on(
    weather: Weather,
    local_day: int,
    heater: SolarWaterHeater,
    hot_water_kwh_per_day: float = HOT_WATER_KWH_PER_DAY,
) -> float:
    """The solar fraction [-] of one local day's hot water, from that day's irradiation in ``weather``."""
    irradiation = weather.daily_irradiation_kwh_m2(np.array([local_day]))
    fraction = solar_water_heater_fraction(irradiation, heater.collector_m2, heater.efficiency, hot_water_kwh_per_day)
    return float(np.asarray(fraction).reshape(-1)[0])


class PvSystems:
    """The PV systems of some meters of a group: what they generate at given instants.

    Parameters
    ----------
    rows
        The meters (positions in their meter set) that have PV.
    kwp
        Their installed peak power [kWp].
    weather
        The group's region.
    performance_ratio
        AC output per kWp at 1000 W/m2 [-].
    """

    def __init__(self, rows: Array, kwp: Array, weather: Weather, performance_ratio: float) -> None:
        self.rows, self.kwp, self.weather, self.performance_ratio = rows, kwp, weather, performance_ratio

    def generation_kwh(self, instants_s: Array, step_s: float) -> Array:
        """Energy generated in ``step_s`` [s] around each instant [epoch s]: [kWh], systems x instants."""
        ghi = self.weather.ghi_w_m2(instants_s.astype(np.int64))
        return pv_power_kw(self.kwp[:, None], ghi[None, :], self.performance_ratio) * (step_s / 3600.0)
