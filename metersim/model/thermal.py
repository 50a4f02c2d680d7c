"""Weather-driven electricity: air conditioning above a set-point, electric heating below one.

Per meter, drawn once (stream 24, see :mod:`metersim.model.appliances`): whether it owns the appliance
(probability ``ownership``) and its set-point (normal, ``setpoint_c`` ± ``setpoint_sd_c``). At outdoor
temperature T [°C] a thermostat runs the appliance for the duty

    cooling: d = clip((T − set-point) / span_k, 0, 1)        heating: d = clip((set-point − T) / span_k, 0, 1)

times a time-of-day use factor (people at home, asleep with the AC on), and the compressor's on-fraction
inside one interval scatters around d (stream 25), so a single home cycles while a fleet is smooth.
Energy per interval = kW x scale x on-fraction x interval. The model is a degree-hour (duty-cycle)
approximation of a thermostat, as in ASHRAE's variable-base degree-day method (ASHRAE Handbook
Fundamentals, 2017, ch. 19); the defaults (1.5 kW, set-point 24 ± 2 °C, 20 K span) are [know]: a
1.5-ton inverter split unit, Pakistan's common size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from metersim._array import Array
from metersim.model.shapes import HEATING, resample
from metersim.model.weather import Weather
from metersim.streams import CHUNK, STATIC, MeterRange, Stream, draw
from metersim.timebase import SECONDS_PER_DAY, utc_offsets_s

# Air-conditioner use by local hour: asleep with the AC on, out in the morning, most in the evening.
AC_USE = [0.85, 0.85, 0.8, 0.75, 0.7, 0.6, 0.45, 0.4, 0.4, 0.45, 0.5, 0.55,
          0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0, 1.0, 1.0, 0.95, 0.9, 0.85]  # fmt: skip
CYCLING_SD = 0.3  # on-fraction scatter around the duty d, times sqrt(d (1 - d)) [-]


@dataclass(frozen=True)
class ThermalParams:
    """One appliance kind (cooling or heating); ``ownership`` 0 switches it off."""

    ownership: float = 0.0  # share of meters with the appliance [-]
    energy_share: float = 0.5  # share of an owner's annual energy the appliance uses in a year [-]
    max_kw: float = 3.0  # electric power at full duty for a meter of scale 1, at most [kW]
    setpoint_c: float = 24.0  # mean set-point [degC]
    setpoint_sd_c: float = 2.0  # [K]
    span_k: float = 20.0  # temperature beyond the set-point where the duty reaches 1 [K]


def _use(heating: bool, interval_s: int) -> Array:
    curve = resample(tuple(HEATING if heating else AC_USE), interval_s)
    # keep the curve's relative shape but its peak at 1 (a use factor, not a mean-1 shape)
    out: Array = curve / curve.max()
    return out


def duty(temperature_c: float | Array, setpoint_c: Array, span_k: float, heating: bool) -> Array:
    """Thermostat duty [-] in [0, 1] at outdoor temperature ``temperature_c``."""
    gap = (setpoint_c - temperature_c) if heating else (temperature_c - setpoint_c)
    out: Array = np.clip(gap / span_k, 0.0, 1.0)
    return out


class ThermalLoad:
    """Cooling or heating of a range of meters; :meth:`step` gives kWh per meter and interval."""

    def __init__(
        self, params: ThermalParams, *, heating: bool, seed: int, key: int, meters: MeterRange, interval_s: int
    ) -> None:
        self.params, self.heating, self.seed, self.key, self.meters = params, heating, seed, key, meters
        self.interval_s = interval_s
        self.use = _use(heating, interval_s)
        offset = 2 if heating else 0  # two columns per appliance kind, one static draw for both kinds

        def sample(rng: np.random.Generator, n: int) -> Array:
            return rng.random((n, 4))

        u = draw(seed, Stream.THERMAL, key, meters, STATIC, sample)
        owner = u[:, offset] < params.ownership
        self.rows = np.flatnonzero(owner)
        z = np.array([NormalDist().inv_cdf(float(x)) for x in np.clip(u[self.rows, offset + 1], 1e-9, 1 - 1e-9)])
        self.setpoint = params.setpoint_c + params.setpoint_sd_c * z
        self.threshold = float(self.setpoint.min()) if len(self.rows) else np.inf
        bounds = [lo - meters.start for lo in range(meters.start, meters.stop, CHUNK)] + [meters.count]
        counts = np.diff(np.searchsorted(self.rows, bounds))
        self._sized: dict[int, tuple[Array, Array]] = {}  # year -> (kW per unit scale, kWh per unit scale)
        self._full_kwh: dict[int, Array] = {}  # year -> energy at full duty per interval [kWh] per owner
        self.owners_per_chunk = [(c, int(k)) for (c, _), k in zip(meters.chunks(), counts, strict=True) if k]

    def _cycling(self, interval_index: int) -> Array:
        """Unit-variance uniform scatter [-] per owner, drawn per chunk for the chunk's owners only."""
        parts = []
        for chunk, count in self.owners_per_chunk:
            rng = np.random.default_rng([self.seed, int(Stream.CYCLING), self.key, chunk, interval_index + 1])
            parts.append(rng.random(count, dtype=np.float32))
        u = np.concatenate(parts) if len(parts) != 1 else parts[0]
        out: Array = (u - np.float32(0.5)) * np.float32(np.sqrt(12.0))
        return out

    def active(self, temperature_c: float) -> bool:
        """Whether any owner runs at this temperature."""
        if not len(self.rows):
            return False
        far = self.threshold if not self.heating else float(self.setpoint.max())
        return temperature_c < far if self.heating else temperature_c > far

    def prepare(self, weather: Weather, year: int, budget_kwh: Array) -> Array:
        """Size each owner's power for ``year`` so that it uses ``energy_share`` of its ``budget_kwh`` (per
        meter, per unit scale; the owners' entries are used), and return that energy [kWh per unit scale]."""
        cached = self._sized.get(year)
        if cached is None:
            hours = full_duty_hours(self.params, self.heating, weather, year, self.setpoint)
            target = self.params.energy_share * budget_kwh[self.rows]
            kw = np.minimum(target / np.maximum(hours, 1e-9), self.params.max_kw)
            cached = self._sized[year] = (kw, kw * hours)
        return cached[1]

    def step(self, temperature_c: float, positions: Array, scale: Array, interval_index: int, year: int) -> Array:
        """Energy [kWh] per meter (all meters; zero for non-owners) for one interval of ``year``
        (:meth:`prepare` first)."""
        out = np.zeros(self.meters.count)
        if not self.active(temperature_c):
            return out
        rows = self.rows
        full = self._full_kwh.get(year)
        if full is None:
            full = self._full_kwh[year] = self._sized[year][0] * scale[rows] * (self.interval_s / 3600)
        d = duty(temperature_c, self.setpoint, self.params.span_k, self.heating) * self.use[positions[rows]]
        z = self._cycling(interval_index)
        on = np.clip(d + CYCLING_SD * z * np.sqrt(d * (1 - d)), 0.0, 1.0)
        out[rows] = full * on
        return out


def full_duty_hours(params: ThermalParams, heating: bool, weather: Weather, year: int, setpoints: Array) -> Array:
    """Expected hours at full power [h] over ``year``'s weather for each set-point [degC].

    Hourly temperatures of the region's local year, the use factor at the local hour (phase shifts
    ignored), cycling noise ignored; set-points are interpolated on a 0.25 K grid.
    """
    if not len(setpoints):
        return np.zeros(0)
    grid = np.arange(np.floor(setpoints.min()) - 0.5, np.ceil(setpoints.max()) + 0.75, 0.25)
    hours = _grid_hours(params.span_k, heating, weather, year, tuple(float(g) for g in grid))
    out: Array = np.interp(setpoints, np.asarray(grid, dtype=float), hours)
    return out


@lru_cache(maxsize=64)
def _grid_hours(span_k: float, heating: bool, weather: Weather, year: int, grid: tuple[float, ...]) -> Array:
    first = int((np.datetime64(f"{year:04d}-01-01", "s") - np.datetime64("1970-01-01", "s")).astype(np.int64))
    last = int((np.datetime64(f"{year + 1:04d}-01-01", "s") - np.datetime64("1970-01-01", "s")).astype(np.int64))
    instants = np.arange(first, last, 3600, dtype=np.int64) + 1800
    instants = instants - utc_offsets_s(weather.timezone, instants)  # the local year, in UTC
    temperature = weather.temperature_c(instants)
    local_hour = ((instants + utc_offsets_s(weather.timezone, instants)) % SECONDS_PER_DAY) // 3600
    use = _use(heating, 3600)[local_hour]
    setpoints = np.asarray(grid, dtype=float)
    out: Array = (duty(temperature[:, None], setpoints[None, :], span_k, heating) * use[:, None]).sum(axis=0)
    return out
