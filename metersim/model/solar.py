"""Solar geometry, clear-sky and plane-of-array irradiance, PV output and solar water heating: pure numpy.

Accuracy target is "data a grid planner believes", not bankable yield:

* solar position follows the Astronomical Almanac's low-precision formulas (Michalsky 1988), within
  0.05 degrees of NREL's SPA (tested against pvlib) from 1950 to 2050;
* clear-sky global horizontal irradiance (GHI) follows Haurwitz (1945), which needs no atmospheric
  inputs; each region's monthly clearness scales it to the region's measured GHI (see
  :mod:`metersim.model.regions`);
* GHI is split into beam and diffuse with Erbs, Klein & Duffie (1982, Solar Energy 28(4)), and
  transposed onto each module's plane with Hay & Davies (1980) plus an isotropic ground reflection,
  written as in pvlib 0.16 (``irradiance.erbs``, ``irradiance.haydavies``, ``get_ground_diffuse``);
* cell temperature follows Faiman (2008, Prog. Photovolt. 16) with pvlib's defaults (u0 25, u1 6.84,
  1 m/s wind), and DC power follows PVWatts (Dobos 2014, NREL/TP-6A20-62641) with -0.4 %/K.

pvlib itself is the test oracle, not a runtime dependency: its functions take pandas objects and
cost some 100 us per call, while here one call per interval covers every PV meter of a group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from metersim._array import Array
from metersim.streams import Stream
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
HAURWITZ_B = 0.059  # [-] extinction term (Haurwitz 1945, as in Reno et al. 2012, SAND2012-2389, and pvlib)
SOLAR_CONSTANT_W_M2 = 1366.1  # pvlib's get_extra_radiation default [W/m2]
# Erbs: the clearness index uses cos z >= 0.065; beam is zero beyond 87 degrees (pvlib's defaults).
ERBS_MIN_COS_ZENITH = 0.065
ERBS_MAX_ZENITH_COS = float(np.cos(np.radians(87.0)))
# Hay-Davies: Rb's denominator is at least cos(89 deg) (pvlib).
HAY_MIN_COS_ZENITH = 0.01745
# Faiman heat loss with pvlib's defaults: u0 + u1 x wind = 25 + 6.84 x 1 m/s [W/m2/K].
FAIMAN_U_W_M2_K = 25.0 + 6.84
TEMPERATURE_COEFFICIENT_PER_K = -0.004  # PVWatts' default for crystalline silicon [1/K]

# Even on a sunny day the backup heater runs (tank losses, evening draws after the tank cools,
# stratification), so a solar water heater never covers all of the demand.
MAX_SOLAR_FRACTION = 0.95


CLOUD_STEP_S = 60  # resolution of the cloud fields [s]
CLOUD_STEPS = SECONDS_PER_DAY // CLOUD_STEP_S
# Latent cloud field: two AR(1) components, time constants 8 and 45 min, weights 0.6 and 0.8 (unit
# variance): minute-scale ramps and hour-scale decks (the time scales of Lave & Kleissl 2013, Solar
# Energy 91). Each is a truncated exponential moving average, its kernel renormalised.
_CLOUD_KERNELS = [np.exp(-np.arange(math.ceil(tau * math.log(1e3))) / tau) for tau in (8.0, 45.0)]
_CLOUD_KERNELS = [w * k / np.sqrt(np.sum(k**2)) for w, k in zip((0.6, 0.8), _CLOUD_KERNELS)]
_CLOUD_NOISE = CLOUD_STEPS + max(len(k) for k in _CLOUD_KERNELS) - 1


def normal_cdf(x: Array) -> Array:
    """Standard normal CDF [-] (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), vectorised."""
    z = np.abs(np.asarray(x, dtype=float)) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(0.5 * (1.0 + np.sign(x) * (1.0 - poly * np.exp(-z * z))))


def latent_cloud_field(noise: Array) -> Array:
    """Stationary unit-variance latent cloud fields [-], rows x :data:`CLOUD_STEPS` minutes, from
    ``noise`` (rows x 2 x ``_CLOUD_NOISE`` standard normals, :func:`cloud_noise`), by FFT."""
    n = noise.shape[-1] + _CLOUD_NOISE
    out = np.zeros((noise.shape[0], CLOUD_STEPS))
    for j, kernel in enumerate(_CLOUD_KERNELS):
        out += np.fft.irfft(np.fft.rfft(noise[:, j], n) * np.fft.rfft(kernel, n), n)[
            :, _CLOUD_NOISE - CLOUD_STEPS : _CLOUD_NOISE
        ]
    return out


def cloud_noise(rngs: Sequence[np.random.Generator], rows: int = 1) -> Array:
    """The noise :func:`latent_cloud_field` needs: ``rows`` fields from each generator, stacked."""
    return np.concatenate([r.standard_normal((rows, 2, _CLOUD_NOISE)) for r in rngs])


def _year_fraction(epoch_s: Array) -> tuple[Array, Array]:
    """Fractional-year angle [rad] of Spencer's series and the UTC minutes of day [min]."""
    day = np.floor_divide(epoch_s, SECONDS_PER_DAY)
    minutes = (epoch_s - day * SECONDS_PER_DAY) / 60.0
    year_start = day.astype("datetime64[D]").astype("datetime64[Y]")
    jan1 = year_start.astype("datetime64[D]").astype(np.int64)
    year_len = (year_start + 1).astype("datetime64[D]").astype(np.int64) - jan1
    gamma = 2.0 * np.pi / year_len * ((day - jan1) + (minutes / 60.0 - 12.0) / 24.0)
    return gamma, minutes


_J2000_EPOCH_DAYS = 10957.5  # 2000-01-01 12:00 UTC, in days since the Unix epoch


def sun_vector(latitude_deg: float, longitude_deg: float, epoch_s: Array | int) -> tuple[Array, Array, Array]:
    """Unit vector to the sun (east, north, up) [-] at UTC instants ``epoch_s`` [s]; ``up`` is cos z.

    Parameters
    ----------
    latitude_deg, longitude_deg
        Site position [deg], north and east positive.
    epoch_s
        Seconds since the Unix epoch, UTC [s]; any shape.
    """
    # The Astronomical Almanac's low-precision sun (Michalsky 1988, Solar Energy 40(3)): 0.01 deg.
    n = np.asarray(epoch_s, dtype=np.int64) / SECONDS_PER_DAY - _J2000_EPOCH_DAYS  # days since J2000.0
    mean_longitude = np.radians((280.460 + 0.9856474 * n) % 360.0)
    anomaly = np.radians((357.528 + 0.9856003 * n) % 360.0)
    ecliptic = mean_longitude + np.radians(1.915 * np.sin(anomaly) + 0.020 * np.sin(2 * anomaly))
    obliquity = np.radians(23.439 - 4e-7 * n)
    right_ascension = np.arctan2(np.cos(obliquity) * np.sin(ecliptic), np.cos(ecliptic))
    declination = np.arcsin(np.sin(obliquity) * np.sin(ecliptic))
    sidereal_h = 6.697375 + 0.0657098242 * n + (n % 1.0 + 0.5) % 1.0 * 24.0  # Greenwich mean [h]
    hour_angle = np.radians(sidereal_h * 15.0 + longitude_deg) - right_ascension
    lat = np.radians(latitude_deg)
    sd, cd, ch = np.sin(declination), np.cos(declination), np.cos(hour_angle)
    up = np.sin(lat) * sd + np.cos(lat) * cd * ch
    east = -cd * np.sin(hour_angle)
    north = np.cos(lat) * sd - np.sin(lat) * cd * ch
    return np.asarray(east), np.asarray(north), np.asarray(up)


def cos_zenith(latitude_deg: float, longitude_deg: float, epoch_s: Array | int) -> Array:
    """Cosine of the solar zenith angle [-] at UTC instants ``epoch_s`` [s]; negative at night."""
    return sun_vector(latitude_deg, longitude_deg, epoch_s)[2]


def extraterrestrial_w_m2(epoch_s: Array | int) -> Array:
    """Extraterrestrial normal irradiance [W/m2] (Spencer 1971, as pvlib's ``get_extra_radiation``)."""
    g, _ = _year_fraction(np.asarray(epoch_s, dtype=np.int64))
    r2 = 1.00011 + 0.034221 * np.cos(g) + 0.00128 * np.sin(g) + 0.000719 * np.cos(2 * g) + 0.000077 * np.sin(2 * g)
    return np.asarray(SOLAR_CONSTANT_W_M2 * r2)


def clear_sky_ghi(latitude_deg: float, longitude_deg: float, epoch_s: Array | int) -> Array:
    """Clear-sky global horizontal irradiance [W/m2] (Haurwitz) at UTC instants ``epoch_s`` [s].

    GHI = 1098 cos z exp(-0.059 / cos z) while the sun is up, else 0. Haurwitz overestimates in
    hazy climates; each region's calibrated clearness absorbs that.
    """
    return haurwitz(cos_zenith(latitude_deg, longitude_deg, epoch_s))


def haurwitz(cos_z: Array) -> Array:
    """Haurwitz clear-sky GHI [W/m2] from the cosine of the zenith angle [-]."""
    up = cos_z > 0
    # Night entries get a dummy 1.0 so exp() never sees a division by zero or a negative cosine.
    safe = np.where(up, cos_z, 1.0)
    return np.asarray(np.where(up, HAURWITZ_A_W_M2 * safe * np.exp(-HAURWITZ_B / safe), 0.0))


def erbs(ghi_w_m2: Array, cos_z: Array, dni_extra_w_m2: Array) -> tuple[Array, Array]:
    """Beam normal and diffuse horizontal irradiance (DNI, DHI) [W/m2] from GHI [W/m2] (Erbs et al. 1982).

    Same formulas and limits as pvlib's ``irradiance.erbs``: the clearness index kt = GHI / (I0 max(cos z,
    0.065)) in [0, 1] sets the diffuse fraction; beyond 87 degrees zenith all of GHI is diffuse.
    """
    kt = np.clip(ghi_w_m2 / (dni_extra_w_m2 * np.maximum(cos_z, ERBS_MIN_COS_ZENITH)), 0.0, 1.0)
    mid = 0.9511 + kt * (-0.1604 + kt * (4.388 + kt * (-16.638 + kt * 12.336)))
    fraction = np.where(kt <= 0.22, 1.0 - 0.09 * kt, np.where(kt <= 0.8, mid, 0.165))
    dhi = fraction * ghi_w_m2
    beam = ghi_w_m2 - dhi
    ok = (cos_z >= ERBS_MAX_ZENITH_COS) & (beam >= 0)
    dni = np.where(ok, beam / np.where(ok, cos_z, 1.0), 0.0)
    return np.asarray(dni), np.asarray(np.where(ok, dhi, ghi_w_m2))


def hay_davies_poa(
    ghi_w_m2: Array,
    dni_w_m2: Array,
    dhi_w_m2: Array,
    cos_z: Array,
    cos_aoi: Array,
    cos_tilt: Array,
    dni_extra_w_m2: Array,
    albedo: float,
) -> Array:
    """Plane-of-array irradiance [W/m2]: beam + Hay-Davies sky diffuse + isotropic ground reflection.

    As pvlib's ``get_total_irradiance(model="haydavies")``: the anisotropy index DNI / I0 weights a
    circumsolar part (Rb = cos AOI / max(cos z, 0.01745)) against an isotropic sky ((1 + cos tilt) / 2).
    """
    projection = np.maximum(cos_aoi, 0.0)
    anisotropy = dni_w_m2 / dni_extra_w_m2
    rb = projection / np.maximum(cos_z, HAY_MIN_COS_ZENITH)
    sky = np.maximum(dhi_w_m2 * (1.0 - anisotropy) * 0.5 * (1.0 + cos_tilt), 0.0)
    sky = sky + np.maximum(dhi_w_m2 * anisotropy * rb, 0.0)
    ground = ghi_w_m2 * albedo * 0.5 * (1.0 - cos_tilt)
    return np.asarray(np.maximum(dni_w_m2 * projection, 0.0) + sky + ground)


def pv_power_kw(kwp: Array, poa_w_m2: Array | float, performance_ratio: float, air_c: Array | float = 25.0) -> Array:
    """AC output of PV systems [kW] = kWp x POA / (1000 W/m2) x (1 - 0.4 %/K (T_cell - 25)) x PR.

    Parameters
    ----------
    kwp
        Installed peak power per system [kWp]; broadcasts against ``poa_w_m2``.
    poa_w_m2
        Plane-of-array irradiance [W/m2].
    performance_ratio
        System losses other than temperature: inverter, wiring, soiling, reflection, mismatch [-].
    air_c
        Air temperature [degC]; cells run hotter by POA / 31.84 K (Faiman). 25 degC air and 0 W/m2
        of irradiance mean no temperature loss.
    """
    poa = np.asarray(poa_w_m2, dtype=float)
    cell_c = np.asarray(air_c, dtype=float) + poa / FAIMAN_U_W_M2_K
    derate = 1.0 + TEMPERATURE_COEFFICIENT_PER_K * (cell_c - 25.0)
    return np.asarray(np.asarray(kwp, dtype=float) * poa * derate * (performance_ratio / 1000.0))


def solar_water_heater_fraction(
    daily_irradiation_kwh_m2: Array | float,
    collector_m2: float | Array,
    efficiency: float,
    hot_water_kwh_per_day: Array | float,
) -> Array:
    """Share [-] of a day's hot-water energy that the collector covers, in [0, 0.95].

    fraction = min(0.95, efficiency x collector_m2 x H / Q_dhw). H is the horizontal daily
    irradiation [kWh/m2] (collectors are tilted in practice, which this ignores). The cap at 0.95
    stands for losses that some backup always makes up. Where there is no demand (Q_dhw <= 0) the
    fraction is 0: there is nothing to cover.

    Parameters
    ----------
    daily_irradiation_kwh_m2, collector_m2, efficiency
        Irradiation of the day [kWh/m2], collector area [m2], collector-and-tank efficiency [-].
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


_DAY_KEY_OFFSET = 1 << 31
_FIELD_CACHE_DAYS = 2
_LAST_MINUTE = SECONDS_PER_DAY // 60 - 1
_LAG_STEP_S = 5.0  # systems whose lags round to the same 5 s share their GHI
_LAG_STEPS = 2 * 3600 // 5 + 1  # lags up to +-1 h


class PvSystems:
    """The PV systems of some meters of a group: what they generate at given instants.

    Each system has a tilt and azimuth and a cloud cell (its feeder, or a block of meters) whose
    clear-sky index is :meth:`Weather.local_cloud_index`; it sees the cell's field ``cloud_lag_s``
    (to 5 s) late or early, as clouds drift over a neighbourhood. Systems of one cell and
    lag share GHI and its Erbs split, so per system an interval costs a few array operations.

    Parameters
    ----------
    rows, kwp
        The meters (positions in their meter set) that have PV, and their peak power [kWp].
    weather, performance_ratio
        The group's region, and system losses other than temperature [-].
    tilt_deg, azimuth_deg
        Module tilt from horizontal and azimuth clockwise from north [deg], per system.
    cloud_cell
        Cloud cell of each system (a feeder index, or a meter block, unique in the group) [-].
    cloud_lag_s
        Each system's lag behind its cell's cloud field [s].
    key, albedo
        The group's stream key, and the ground reflectance [-].
    """

    def __init__(
        self,
        rows: Array,
        kwp: Array,
        weather: Weather,
        performance_ratio: float,
        *,
        tilt_deg: Array,
        azimuth_deg: Array,
        cloud_cell: Array,
        cloud_lag_s: Array,
        key: int,
        albedo: float = 0.2,
    ) -> None:
        self.rows, self.kwp, self.weather, self.performance_ratio = rows, kwp, weather, performance_ratio
        self.key = int(key)
        tilt, azimuth = np.radians(tilt_deg), np.radians(azimuth_deg)
        # cos AOI = up cos(tilt) + east sin(tilt) sin(az) + north sin(tilt) cos(az): three terms per system.
        cos_tilt = np.cos(tilt)
        self._geometry = np.stack([cos_tilt, np.sin(tilt) * np.sin(azimuth), np.sin(tilt) * np.cos(azimuth)])
        self._sky_view = 0.5 * (1.0 + cos_tilt)  # isotropic sky diffuse seen by the plane [-]
        self._ground_view = albedo * 0.5 * (1.0 - cos_tilt)  # ground reflection [-]
        self.cells, cell_of = np.unique(np.asarray(cloud_cell, dtype=np.int64), return_inverse=True)
        lag = np.clip(np.rint(np.asarray(cloud_lag_s, dtype=float) / _LAG_STEP_S), -(_LAG_STEPS // 2), _LAG_STEPS // 2)
        # (cell, lag) sites: everything before the transposition is computed once per site.
        sites, self._site_of = np.unique(
            cell_of * _LAG_STEPS + lag.astype(np.int64) + _LAG_STEPS // 2, return_inverse=True
        )
        self._site_cell = sites // _LAG_STEPS
        self._site_lag_min = (sites % _LAG_STEPS - _LAG_STEPS // 2) * (_LAG_STEP_S / 60.0)
        self._fields: dict[int, Array] = {}

    def cloud_field(self, day: int) -> Array:
        """Clear-sky index [-] of each cloud cell over local ``day``, one value a minute: cells x minutes."""
        field = self._fields.get(day)
        if field is None:
            seed = self.weather.seed
            rngs = [
                np.random.default_rng([seed, int(Stream.LOCAL_CLOUDS), self.key, int(c), day + _DAY_KEY_OFFSET])
                for c in self.cells
            ]
            field = self.weather.local_cloud_index(day, rngs)
            if len(self._fields) >= _FIELD_CACHE_DAYS:
                self._fields.pop(next(iter(self._fields)))
            self._fields[day] = field
        return field

    def clear_sky_index(self, instants_s: Array) -> Array:
        """Clear-sky index [-] each system sees at ``instants_s`` [epoch s]: systems x instants."""
        return self._site_index(np.asarray(instants_s).astype(np.int64))[self._site_of]

    def _site_index(self, t: Array) -> Array:
        days, minutes = self.weather.day_and_minute(t)
        out = np.empty((len(self._site_cell), len(days)))
        for day in np.unique(days).tolist():
            cols = np.flatnonzero(days == day)
            # Linear between the field's minutes, so a few seconds of lag already differ.
            position = np.clip(minutes[cols][None, :] - self._site_lag_min[:, None], 0, _LAST_MINUTE)
            first = np.minimum(position.astype(np.int64), _LAST_MINUTE - 1)
            weight = position - first
            field, cell = self.cloud_field(day), self._site_cell[:, None]
            out[:, cols] = field[cell, first] * (1.0 - weight) + field[cell, first + 1] * weight
        return out

    def generation_kwh(self, instants_s: Array, step_s: float) -> Array:
        """Energy generated in ``step_s`` [s] around each instant [epoch s]: [kWh], systems x instants.

        Equals :func:`pv_power_kw` of :func:`hay_davies_poa` of :func:`erbs` of the sites' GHI,
        regrouped so that per system it is POA = max(cos AOI, 0) (DNI + circumsolar / cos z)
        + isotropic x sky view + GHI x ground view, and P = POA (c1 + c2 POA).
        """
        t = np.asarray(instants_s).astype(np.int64)
        out = np.zeros((len(self.kwp), len(t)))
        c = self.weather.climate
        east, north, up = sun_vector(c.latitude_deg, c.longitude_deg, t)
        lit = np.flatnonzero(up > 0)
        if not len(lit):
            return out  # night: no geometry, no clouds
        t, east, north, up = t[lit], east[lit], north[lit], up[lit]
        extra = extraterrestrial_w_m2(t)
        ghi = haurwitz(up) * self._site_index(t)  # sites x instants
        dni, dhi = erbs(ghi, up, extra)
        anisotropy = dni / extra
        direct = (dni + dhi * anisotropy / np.maximum(up, HAY_MIN_COS_ZENITH))[self._site_of]
        isotropic = (dhi * (1.0 - anisotropy))[self._site_of]
        g = self._geometry
        cos_aoi = g[0][:, None] * up + g[1][:, None] * east + g[2][:, None] * north
        poa = np.maximum(cos_aoi, 0.0) * direct
        poa += isotropic * self._sky_view[:, None]
        poa += ghi[self._site_of] * self._ground_view[:, None]
        # PVWatts with a Faiman cell temperature, expanded: P = POA (c1 + c2 POA).
        scale = self.kwp[:, None] * (self.performance_ratio / 1000.0 * step_s / 3600.0)
        air = self.weather.temperature_c(t)
        c1 = 1.0 + TEMPERATURE_COEFFICIENT_PER_K * (air - 25.0)
        poa *= c1 + (TEMPERATURE_COEFFICIENT_PER_K / FAIMAN_U_W_M2_K) * poa
        out[:, lit] = poa * scale
        return out
