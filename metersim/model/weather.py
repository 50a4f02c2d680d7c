"""Synthetic, addressable weather per region: daily temperature, diurnal cycle, clearness, irradiance.

Every value depends only on ``(seed, region key, day)``: random draws come in blocks of
:data:`BLOCK_DAYS` days keyed by block index, and the AR(1) temperature anomaly of a day is a
truncated moving average of the innovations of the days before it rather than a recursion from the
start of the run. Any day can therefore be computed alone, in any order, and replayed for backfill.
A block's generator is ``default_rng([seed, stream, region key, 0, block + 2**31])`` with stream
:attr:`Stream.TEMPERATURE`, :attr:`Stream.CLEARNESS` or :attr:`Stream.REGION_CLOUDS`.

Clouds: each day has a clearness K (Beta, with the region's monthly mean). Inside the day a latent
Gaussian field z(t), one value a minute (two AR(1) time scales, 8 and 45 minutes), sets a clear-sky
index k = k_h - (k_h - k_c) Phi((q - z) / w): hazy clear sky k_h = max(haze_transmittance, K) where z
is high, cloud of transmittance k_c = min(0.25, K) where it is low, soft edges of width w. The
threshold q makes E[k] = K exactly, so a day's expected energy is its clearness and the region's
calibration holds; a day as clear as the haze allows is cloudless, not broken cloud. Feeders mix the
region's z with their own (:meth:`Weather.local_cloud_index`).

Days are integer *local* days since 1970-01-01 in the region's time zone. The diurnal temperature
cycle follows mean local solar time (longitude), the day boundaries follow the civil zone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from metersim._array import Array
from metersim.model.solar import CLOUD_STEP_S, CLOUD_STEPS, clear_sky_ghi, cloud_noise, latent_cloud_field, normal_cdf
from metersim.streams import Stream
from metersim.timebase import SECONDS_PER_DAY, utc_offsets_s, zone

BLOCK_DAYS = 64
DAYS_PER_YEAR = 365.2425
# Stream keys must be non-negative; shifting the block index lets days before 1970 work too.
_BLOCK_KEY_OFFSET = 1 << 31
# The truncated AR(1) filter drops weights below this; its variance is renormalised afterwards.
_AR_TAIL = 1e-4
_MIN_BURN_IN_DAYS = 60
_MAX_BURN_IN_DAYS = 4096
# Diurnal cycle: minimum and maximum [h, local mean solar time].
_T_MIN_HOUR = 6.0
_T_MAX_HOUR = 15.0
# Clearness is kept off zero so irradiance never vanishes for a whole day.
_MIN_CLEARNESS = 0.02
_IRRADIATION_STEP_S = 600
_HOUR_S = 3600

OVERCAST_INDEX = 0.25  # clear-sky index under thick cloud [-]
CLOUD_EDGE = 0.3  # width of cloud edges, in units of the latent field [-]
_CLOUD_CACHE_BLOCKS = 8
_NORMAL = NormalDist()


def _as_days(days: Array | int) -> Array:
    return np.asarray(days, dtype=np.int64)


def diurnal_shape(solar_hour: Array) -> Array:
    """Diurnal temperature shape [-] in [-1, 1]: -1 at 06:00, +1 at 15:00, mean 0 over a day.

    Two half-cosines (a 9 h rise, a 15 h fall) meet with zero slope at the extremes, so the curve
    is smooth, and each half averages to zero, so the daily mean is left unchanged.
    """
    h = np.asarray(solar_hour, dtype=float) % 24.0
    rise = _T_MAX_HOUR - _T_MIN_HOUR
    fall = 24.0 - rise
    rising = (h >= _T_MIN_HOUR) & (h < _T_MAX_HOUR)
    shape = np.where(
        rising,
        -np.cos(np.pi * (h - _T_MIN_HOUR) / rise),
        np.cos(np.pi * ((h - _T_MAX_HOUR) % 24.0) / fall),
    )
    return np.asarray(shape)


@dataclass(frozen=True)
class ClimateParams:
    """The parameters of a region's synthetic temperature and irradiance."""

    latitude_deg: float  # [deg], north positive
    longitude_deg: float  # [deg], east positive
    temp_mean_c: float  # annual mean daily temperature [degC]
    temp_amplitude_c: float  # half the warmest-minus-coldest daily mean [degC]
    coldest_day: int = 15  # day of year of the coldest climatological day
    diurnal_range_c: float = 10.0  # daily max minus daily min [degC]
    temp_noise_c: float = 2.0  # sd of the AR(1) daily anomaly [degC]
    temp_noise_phi: float = 0.7  # day-to-day persistence of the anomaly [-]
    clearness_mean: float = 0.7  # mean daily clearness (fraction of clear-sky GHI) [-]
    clearness_sd: float = 0.12  # [-]
    clearness_monthly: tuple[float, ...] | None = None  # clearness Jan..Dec relative to the mean [-]
    cloud_region_correlation: float = 0.7  # latent cloud field, feeder vs region [-]
    haze_transmittance: float = 0.95  # cloudless GHI over Haurwitz clear-sky GHI [-]
    pv_tilt_deg_mean: float = 25.0  # rooftop PV tilt where a group sets none [deg]
    pv_tilt_deg_sd: float = 10.0  # [deg]
    pv_azimuth_deg_sd: float = 45.0  # around facing the equator [deg]


class Weather:
    """Synthetic weather of one region.

    Parameters
    ----------
    climate
        The region's climate parameters.
    seed
        Scenario seed.
    key
        A stable int for the region, e.g. ``streams.group_key(name)``.
    timezone
        IANA zone whose civil days are the "local days" of this class.

    Notes
    -----
    Results are cached per block of :data:`BLOCK_DAYS` days, so calling once per simulated
    interval costs a dictionary lookup after the first call of each block.
    """

    def __init__(self, climate: ClimateParams, seed: int, key: int, timezone: str) -> None:
        self.climate = climate
        self.seed = int(seed)
        self.key = int(key)
        self.timezone = timezone
        zone(timezone)  # fail early on an unknown zone
        phi = climate.temp_noise_phi
        if phi > 0:
            burn_in = math.ceil(math.log(_AR_TAIL) / math.log(phi)) + 1
            burn_in = min(max(burn_in, _MIN_BURN_IN_DAYS), _MAX_BURN_IN_DAYS)
        else:
            burn_in = 1
        weights = phi ** np.arange(burn_in, dtype=float)
        # Unit-variance MA weights: the anomaly sd is exactly temp_noise_c despite the truncation.
        self._ar_weights = weights / np.sqrt(np.sum(weights**2))
        monthly = np.asarray(climate.clearness_monthly or [1.0] * 12, dtype=float)
        self._monthly_clearness = np.clip(climate.clearness_mean * monthly / monthly.mean(), 0.02, 0.98)
        betas = [self._beta_parameters(float(m), climate.clearness_sd) for m in self._monthly_clearness]
        self._beta = None if betas[0] is None else np.array(betas).T
        self._clouds: dict[int, tuple[Array, Array, Array, Array, Array]] = {}
        self._innovations: dict[int, Array] = {}
        self._daily_mean: dict[int, Array] = {}
        self._clearness: dict[int, Array] = {}
        self._irradiation: dict[int, Array] = {}

    # --- time ---------------------------------------------------------------------------------

    def utc_offsets_s(self, epoch_s: Array | int) -> Array:
        """UTC offset [s] of the region's zone at each instant ``epoch_s`` [s]."""
        return utc_offsets_s(self.timezone, epoch_s)

    def local_day(self, epoch_s: Array | int) -> Array:
        """Local civil day since 1970-01-01 [d] of each instant ``epoch_s`` [s]."""
        t = np.asarray(epoch_s, dtype=np.int64)
        return np.asarray(np.floor_divide(t + self.utc_offsets_s(t), SECONDS_PER_DAY))

    def _local_midnight_utc(self, days: Array) -> Array:
        """UTC instant [s] at which each local day starts, using the offset at local noon.

        Taking the noon offset keeps DST days at 24 h; the hour gained or lost falls at night,
        where it changes neither irradiation nor anything else computed per day.
        """
        noon = days * SECONDS_PER_DAY + SECONDS_PER_DAY // 2
        guess = self.utc_offsets_s(noon)
        offsets = self.utc_offsets_s(noon - guess)
        return np.asarray(days * SECONDS_PER_DAY - offsets)

    # --- blocks of random draws ---------------------------------------------------------------

    def _rng(self, stream: Stream | int, block: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(stream), self.key, 0, block + _BLOCK_KEY_OFFSET])

    def _innovation_block(self, block: int) -> Array:
        z = self._innovations.get(block)
        if z is None:
            z = self._innovations[block] = self._rng(Stream.TEMPERATURE, block).standard_normal(BLOCK_DAYS)
        return z

    @staticmethod
    def _gather(days: Array, cache: dict[int, Array], fill: Callable[[int], Array]) -> Array:
        """Look up per-day values in per-block ``cache``, computing missing blocks with ``fill(block)``."""
        blocks = np.floor_divide(days, BLOCK_DAYS)
        if days.size == 1:  # the hot path: one day per simulated interval
            b = int(blocks.reshape(-1)[0])
            values = cache.get(b)
            if values is None:
                values = cache[b] = fill(b)
            return np.full(days.shape, values[int(days.reshape(-1)[0]) - b * BLOCK_DAYS])
        out = np.empty(days.shape, dtype=float)
        for b in np.unique(blocks):
            values = cache.get(int(b))
            if values is None:
                values = cache[int(b)] = fill(int(b))
            mask = blocks == b
            out[mask] = values[days[mask] - int(b) * BLOCK_DAYS]
        return out

    # --- temperature --------------------------------------------------------------------------

    def seasonal_mean_c(self, days: Array | int) -> Array:
        """Climatological daily mean temperature [degC] of local ``days``, without the anomaly.

        Day 0 (1970-01-01) is day-of-year 1, and a mean tropical year keeps the calendar within
        a day of the true day-of-year for centuries around the epoch.
        """
        c = self.climate
        d = _as_days(days).astype(float)
        phase = 2.0 * np.pi * (d - (c.coldest_day - 1)) / DAYS_PER_YEAR
        return np.asarray(c.temp_mean_c - c.temp_amplitude_c * np.cos(phase))

    def _daily_mean_block(self, block: int) -> Array:
        n_w = self._ar_weights.size
        first = block * BLOCK_DAYS - (n_w - 1)
        first_block = first // BLOCK_DAYS
        z = np.concatenate([self._innovation_block(b) for b in range(first_block, block + 1)])
        z = z[first - first_block * BLOCK_DAYS :]
        anomaly = np.convolve(z, self._ar_weights, mode="valid") * self.climate.temp_noise_c
        days = np.arange(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS)
        return np.asarray(self.seasonal_mean_c(days) + anomaly)

    def daily_mean_c(self, days: Array | int) -> Array:
        """Daily mean temperature [degC] of local ``days`` (int days since 1970-01-01).

        Seasonal cosine plus a stationary AR(1) anomaly (sd ``temp_noise_c``, lag-1 correlation
        ``temp_noise_phi``), built as a truncated moving average of keyed daily innovations.
        """
        return self._gather(_as_days(days), self._daily_mean, self._daily_mean_block)

    def siglinde_mean_c(self, days: Array | int) -> Array:
        """SigLinDe geometric-mean temperature [degC]: (T_D + T_D-1 / 2 + T_D-2 / 4 + T_D-3 / 8) / 1.875."""
        d = _as_days(days)
        total = self.daily_mean_c(d) + 0.5 * self.daily_mean_c(d - 1)
        total = total + 0.25 * self.daily_mean_c(d - 2) + 0.125 * self.daily_mean_c(d - 3)
        return np.asarray(total / 1.875)

    def temperature_c(self, epoch_s: Array | int) -> Array:
        """Air temperature [degC] at instants ``epoch_s`` [s].

        The daily means are interpolated linearly between local noons, so the curve has no jump
        at midnight; on top comes :func:`diurnal_shape` x ``diurnal_range_c / 2`` in local mean
        solar time.
        """
        t = np.asarray(epoch_s, dtype=np.int64)
        local = t + self.utc_offsets_s(t)
        pos = (local - SECONDS_PER_DAY // 2) / SECONDS_PER_DAY
        d0 = np.floor(pos).astype(np.int64)
        frac = pos - d0
        mean = (1.0 - frac) * self.daily_mean_c(d0) + frac * self.daily_mean_c(d0 + 1)
        solar_hour = ((t + self.climate.longitude_deg * 240.0) % SECONDS_PER_DAY) / _HOUR_S
        return np.asarray(mean + 0.5 * self.climate.diurnal_range_c * diurnal_shape(solar_hour))

    # --- sky ----------------------------------------------------------------------------------

    @staticmethod
    def _beta_parameters(mean: float, sd: float) -> tuple[float, float] | None:
        """Beta (a, b) with the given mean and sd; None when sd is 0 (a constant clearness)."""
        if sd <= 0:
            return None
        # A Beta needs var < mean (1 - mean); cap the sd just below that rather than fail.
        var = min(sd * sd, 0.95 * mean * (1.0 - mean))
        nu = mean * (1.0 - mean) / var - 1.0
        return mean * nu, (1.0 - mean) * nu

    def _clearness_block(self, block: int) -> Array:
        days = np.arange(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS)
        month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        if self._beta is None:
            return np.asarray(self._monthly_clearness[month])
        a, b = self._beta
        draws = self._rng(Stream.CLEARNESS, block).beta(a[month], b[month])
        return np.asarray(np.clip(draws, _MIN_CLEARNESS, 1.0))

    def clearness(self, days: Array | int) -> Array:
        """Daily clearness [-] in (0, 1] of local ``days``: GHI as a fraction of clear-sky GHI.

        Beta distributed, mean ``clearness_mean`` x the month's ``clearness_monthly`` factor, sd
        ``clearness_sd``, independent from day to day and from temperature (a simplification: clear
        winter days are colder in reality). It is the day's expected share of clear-sky energy;
        the clouds inside the day (:meth:`cloud_index`) realise it with some noise.
        """
        return self._gather(_as_days(days), self._clearness, self._clearness_block)

    def _cloud_block(self, block: int) -> tuple[Array, Array, Array, Array, Array]:
        """Latent field z and clear-sky index k (days x minutes); threshold q, cloud and haze index (days x 1)."""
        found = self._clouds.get(block)
        if found is None:
            days = np.arange(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS)
            clearness = self.clearness(days)
            cloudy = np.minimum(OVERCAST_INDEX, clearness)
            hazy = np.maximum(self.climate.haze_transmittance, clearness)
            cover = np.clip((hazy - clearness) / (hazy - cloudy + 1e-12), 1e-9, 1.0 - 1e-9)
            q = math.sqrt(1.0 + CLOUD_EDGE**2) * np.array([_NORMAL.inv_cdf(float(f)) for f in cover])
            rng = self._rng(Stream.REGION_CLOUDS, block)
            z = latent_cloud_field(cloud_noise([rng], BLOCK_DAYS))
            q, cloudy, hazy = q[:, None], cloudy[:, None], hazy[:, None]
            k = self._index(z, q, cloudy, hazy)
            if len(self._clouds) >= _CLOUD_CACHE_BLOCKS:
                self._clouds.pop(next(iter(self._clouds)))
            found = self._clouds[block] = (z, k, q, cloudy, hazy)
        return found

    @staticmethod
    def _index(z: Array, q: Array, cloudy: Array, hazy: Array) -> Array:
        return np.asarray(hazy - (hazy - cloudy) * normal_cdf((q - z) / CLOUD_EDGE))

    def day_and_minute(self, epoch_s: Array | int) -> tuple[Array, Array]:
        """Local day [d] and fractional minutes since its start [min, clipped to 0..1439] of each instant [s]."""
        t = np.asarray(epoch_s, dtype=np.int64)
        days = self.local_day(t)
        minutes = np.clip((t - self._local_midnight_utc(days)) / CLOUD_STEP_S, 0, CLOUD_STEPS - 1)
        return days, np.asarray(minutes)

    def cloud_index(self, epoch_s: Array | int) -> Array:
        """The region's clear-sky index [-] at instants ``epoch_s`` [s]: GHI over clear-sky GHI."""
        days, fraction = self.day_and_minute(epoch_s)
        minutes = fraction.astype(np.int64)
        blocks = np.floor_divide(days, BLOCK_DAYS)
        out = np.empty(days.shape)
        for b in np.unique(blocks).tolist():
            mask = blocks == b
            out[mask] = self._cloud_block(b)[1][days[mask] - b * BLOCK_DAYS, minutes[mask]]
        return out

    def local_cloud_index(self, day: int, rngs: Sequence[np.random.Generator]) -> Array:
        """Clear-sky index [-] of local cells (feeders) over local ``day``: cells x minutes.

        A cell's latent field is rho x the region's + sqrt(1 - rho^2) x its own (drawn from its
        generator in ``rngs``), rho = ``cloud_region_correlation``: two cells' fields correlate
        rho^2, each cell and the region rho. The mapping to k is the region's of that day.
        """
        block = day // BLOCK_DAYS
        z, _, q, cloudy, hazy = self._cloud_block(block)
        i = day - block * BLOCK_DAYS
        rho = self.climate.cloud_region_correlation
        latent = rho * z[i][None, :] + math.sqrt(1.0 - rho * rho) * latent_cloud_field(cloud_noise(rngs))
        return self._index(latent, q[i], cloudy[i], hazy[i])

    def ghi_w_m2(self, epoch_s: Array | int) -> Array:
        """Global horizontal irradiance [W/m2] at instants ``epoch_s`` [s]: clear-sky x the region's cloud index."""
        t = np.asarray(epoch_s, dtype=np.int64)
        c = self.climate
        return np.asarray(clear_sky_ghi(c.latitude_deg, c.longitude_deg, t) * self.cloud_index(t))

    def mean_ghi_w_m2(self, start_s: int, end_s: int, steps: int = 6) -> float:
        """Mean GHI [W/m2] over ``[start_s, end_s)`` [s] from ``steps`` midpoint samples."""
        return float(self.mean_ghi_w_m2_many(np.asarray([start_s]), end_s - start_s, steps)[0])

    def mean_ghi_w_m2_many(self, starts_s: Array, duration_s: int, steps: int = 6) -> Array:
        """Mean GHI [W/m2] over ``[s, s + duration_s)`` for each start ``s`` [s], from ``steps`` midpoints each."""
        if steps < 1 or duration_s <= 0:
            raise ValueError("need steps >= 1 and a positive duration")
        starts = np.asarray(starts_s, dtype=np.int64)
        offsets = ((np.arange(steps) + 0.5) * duration_s / steps).astype(np.int64)
        samples = self.ghi_w_m2(starts[..., None] + offsets)
        return np.asarray(samples.mean(axis=-1))

    def _irradiation_block(self, block: int) -> Array:
        days = np.arange(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS, dtype=np.int64)
        steps = SECONDS_PER_DAY // _IRRADIATION_STEP_S
        mids = np.arange(steps, dtype=np.int64) * _IRRADIATION_STEP_S + _IRRADIATION_STEP_S // 2
        times = self._local_midnight_utc(days)[:, None] + mids
        return np.asarray(self.ghi_w_m2(times).sum(axis=1) * (_IRRADIATION_STEP_S / 3.6e6))

    def daily_irradiation_kwh_m2(self, days: Array | int) -> Array:
        """Global horizontal irradiation [kWh/m2] of each local day (10-minute midpoint integral)."""
        return self._gather(_as_days(days), self._irradiation, self._irradiation_block)

    def hourly(self, start_s: int, end_s: int) -> dict[str, Array]:
        """Weather for each whole hour starting in ``[start_s, end_s)`` [s], to write beside the ground truth.

        Returns
        -------
        dict
            ``time_s`` hour start [s, UTC epoch]; ``temperature_c`` at the hour start [degC];
            ``ghi_w_m2`` mean over the hour [W/m2]; ``clearness`` of the local day of the hour start [-].
        """
        first = -(-int(start_s) // _HOUR_S) * _HOUR_S
        times = np.arange(first, int(end_s), _HOUR_S, dtype=np.int64)
        return {
            "time_s": times,
            "temperature_c": self.temperature_c(times),
            "ghi_w_m2": self.mean_ghi_w_m2_many(times, _HOUR_S, 6),
            "clearness": self.clearness(self.local_day(times)),
        }
