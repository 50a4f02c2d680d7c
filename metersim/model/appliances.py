"""Household diversity: occupancy archetypes, a personal daily rhythm, and discrete appliance events.

Every meter draws once (stream :attr:`~metersim.streams.Stream.HOUSEHOLD`, keyed by chunk):

* an occupancy archetype (:data:`ARCHETYPES`: at home by day, away by day, early birds, night shift),
  whose hourly modulation is balanced (:func:`balanced_curves`) so that each has daily mean 1 and
  the share-weighted mixture is 1 at every time of day: the fleet's mean shape stays the profile's;
* a personal rhythm ``exp(Σ_k σ (a_k cos kωt + b_k sin kωt))`` over its own daily mean, harmonics
  k = 1..K of the day with a_k, b_k standard normal: stationary in t, so its fleet mean is flat
  while each home gets its own peaks;
* an appliance propensity (lognormal, mean 1).

Appliance events (kettle, hob, oven, washing machine heating, water pump) are Poisson counts per meter
and interval, at a rate that follows the meter's own shape, of energy confined to the interval they
start in. Their expected energy is taken out of the smooth base, so annual energy holds.
The event powers and durations are typical nameplate values (kettle 2-3 kW: DOMAIN.md §3; others
[know]: a 1.5 kW hob ring or oven, a 2 kW washing-machine heater, a 0.75 kW water pump).

New random streams (the lead adds them to ``metersim.streams.Stream``): 23 household draws, 24 thermal
draws, 25 compressor cycling; drawn like ``streams.draw`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from metersim._array import Array
from metersim.model.shapes import resample
from metersim.streams import STATIC, MeterRange, Stream, draw

# Occupancy archetypes: hourly modulation (00:00 ..) and default share of homes.
ARCHETYPES: dict[str, tuple[float, list[float]]] = {
    "home_by_day": (0.30, [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3, 1.35, 1.35,
                           1.35, 1.3, 1.3, 1.25, 1.1, 1.0, 0.95, 0.95, 0.95, 0.9, 0.9, 0.9]),
    "away_by_day": (0.40, [1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.25, 1.2, 0.8, 0.55, 0.5, 0.5,
                           0.5, 0.5, 0.55, 0.65, 0.9, 1.2, 1.35, 1.4, 1.35, 1.25, 1.15, 1.05]),
    "early_bird": (0.20, [0.8, 0.8, 0.8, 0.9, 1.4, 1.8, 1.8, 1.5, 1.2, 1.0, 1.0, 1.0,
                          1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.75, 0.6, 0.6, 0.7]),
    "night_shift": (0.10, [1.8, 1.8, 1.7, 1.6, 1.4, 1.1, 0.8, 0.7, 0.6, 0.55, 0.55, 0.6,
                           0.7, 0.9, 1.1, 1.2, 1.2, 1.1, 1.0, 0.9, 0.9, 1.0, 1.3, 1.6]),
}  # fmt: skip

# Appliance events: (share of events, mean power [kW], duration [min], capped at the interval).
EVENTS: dict[str, tuple[float, float, float]] = {
    "kettle": (0.40, 2.0, 3.0),
    "hob_oven": (0.30, 1.5, 15.0),
    "washing": (0.15, 2.0, 10.0),
    "pump": (0.15, 0.75, 15.0),
}


@dataclass(frozen=True)
class DiversityParams:
    """Per-meter behaviour; ``enabled=False`` gives every meter the profile's shape (no events)."""

    enabled: bool = True
    personal_sigma: float = 0.3  # sd of each harmonic's amplitude of the personal rhythm [-]
    harmonics: int = 3  # harmonics of the day in the personal rhythm
    archetype_shares: tuple[float, ...] = tuple(share for share, _ in ARCHETYPES.values())
    propensity_sigma: float = 0.6  # lognormal sigma of the appliance propensity (mean 1) [-]


def event_kwh(interval_s: int) -> tuple[Array, Array]:
    """Cumulative share and energy [kWh] of each event kind, durations capped at the interval."""
    shares = np.array([v[0] for v in EVENTS.values()])
    energy = np.array([kw * min(minutes, interval_s / 60) / 60 for _, kw, minutes in EVENTS.values()])
    return np.cumsum(shares / shares.sum()), energy


def balanced_curves(shares: Array, interval_s: int, iterations: int = 200) -> Array:
    """The archetype curves [archetype, slot] scaled so that each has daily mean 1 (a home's energy is
    its own) and their share-weighted mixture is 1 at every slot (the fleet's shape is the profile's).

    Alternating row and column scaling (Sinkhorn's iterative proportional fitting) of the positive
    matrix converges to both at once.
    """
    curves = np.stack([resample(tuple(c), interval_s) for _, c in ARCHETYPES.values()])
    for _ in range(iterations):
        curves = curves / (shares @ curves)[None, :]
        curves = curves / curves.mean(axis=1, keepdims=True)
    out: Array = curves / (shares @ curves)[None, :]
    return out


REFERENCE_METERS = 4096  # the fixed population behind fleet_correction
RAW_CACHE_BYTES = 48 << 20  # Households keep each slot's raw modulation up to this size [bytes]
_BLOCK = 8192  # meters per block of Households._daily_means: a block's sums stay in cache


def fleet_correction(params: DiversityParams, slots: int, shapes: Array) -> Array:
    """[cell, slot]: the mean over a fixed reference population (seed 0, no phase shifts) of each meter's
    per-cell normalised modulation. Dividing by it keeps the fleet's mean shape the profile's after
    :meth:`Households.normalise`; it depends on the parameters and shapes only, never on which meters
    run, so output stays addressable."""
    return _correction(params, slots, shapes.tobytes(), shapes.shape)


@lru_cache(maxsize=32)
def _correction(params: DiversityParams, slots: int, raw: bytes, shape: tuple[int, ...]) -> Array:
    shapes = np.frombuffer(raw).reshape(shape)
    zero = np.zeros(REFERENCE_METERS, dtype=np.int64)
    ref = Households(params, 0, 0, MeterRange.whole(REFERENCE_METERS), 86400 // slots, zero)
    norm = ref._daily_means(shapes, zero)
    out = np.stack([ref._raw(t, zero + t)[None, :] / norm for t in range(slots)], axis=-1).mean(axis=1)
    result: Array = out.astype(np.float32)  # (9, slots)
    return result


class Households:
    """Static per-meter behaviour of a range of meters, and their appliance events per interval."""

    def __init__(
        self, params: DiversityParams, seed: int, key: int, meters: MeterRange, interval_s: int, shift_slots: Array
    ) -> None:
        self.params, self.seed, self.key, self.meters = params, seed, key, meters
        slots = 86400 // interval_s
        shares = np.asarray(params.archetype_shares, dtype=float)
        shares = shares / shares.sum()
        self.archetype_curves = balanced_curves(shares, interval_s).astype(np.float32)
        k, sigma = params.harmonics, params.personal_sigma
        self.omega = 2 * np.pi * np.arange(1, k + 1) / slots  # [rad per interval]

        cumulative = np.cumsum(shares)

        def sample(rng: np.random.Generator, n: int) -> Array:
            # One uniform matrix, transformed row by row, so that a meter's draws never depend on how
            # many meters its chunk holds (the first k rows of random((n, c)) are random((k, c))).
            u = rng.random((n, 2 * k + 3))
            archetype = np.searchsorted(cumulative, u[:, 0] * cumulative[-1], side="right").clip(0, len(shares) - 1)
            radius = np.sqrt(-2.0 * np.log1p(-u[:, 1 : k + 2]))  # Box-Muller: k + 1 pairs of normals
            turn = 2 * np.pi * u[:, k + 2 :]
            z = np.hstack([radius * np.cos(turn), radius * np.sin(turn)])  # (n, 2k + 2) standard normal
            s = params.propensity_sigma
            propensity = np.exp(s * z[:, -1] - s * s / 2)  # lognormal, mean 1
            return np.column_stack([archetype.astype(np.float64), propensity, z[:, : 2 * k]])

        drawn = draw(seed, Stream.HOUSEHOLD, key, meters, STATIC, sample)
        self.archetype = drawn[:, 0].astype(np.int64)
        self.propensity = drawn[:, 1]
        # The rhythm at the meter's position p = slot - shift is sum_k a_k cos(k w (p + 1/2)) + b_k sin(...);
        # rotating (a_k, b_k) by k w shift once turns it into one small matrix product per interval.
        a, b = sigma * drawn[:, 2 : 2 + k], sigma * drawn[:, 2 + k :]
        turn = self.omega[None, :] * np.asarray(shift_slots, dtype=float)[:, None]
        cos, sin = np.cos(turn), np.sin(turn)
        # (2K, n), one contiguous row per basis function: a few axpys per interval, no BLAS threads
        self.coefficients = np.ascontiguousarray(np.hstack([a * cos - b * sin, a * sin + b * cos]).T, np.float32)
        # Each meter's rhythm is divided by its own daily mean: its energy is unchanged, and as the
        # rhythm is stationary in t (Gaussian harmonics), the fleet's mean stays flat at 1.
        self.log_mean = np.zeros(len(a), dtype=np.float32)
        for lo in range(0, len(a), 4096):
            angles = self.omega[:, None] * (np.arange(slots) + 0.5)[None, :]
            basis = np.concatenate([np.cos(angles), np.sin(angles)])  # (2K, slots)
            values = np.exp(self.coefficients[:, lo : lo + 4096].T.astype(float) @ basis)
            self.log_mean[lo : lo + 4096] = np.log(values.mean(axis=1))
        self._events = event_kwh(interval_s)
        self._norm: Array | None = None
        self._correction = np.ones((9, slots))
        # The hot path (modulation_at) reads every per-position table through one static index per meter,
        # its position at slot 0, into the table written out twice ([slot:] is then the day rotated by
        # slot): no modulo and no 2-D fancy index per interval.
        self.slots = slots
        self.base = (-np.asarray(shift_slots, dtype=np.int64)) % slots  # position at slot 0 [intervals]
        self._curves2 = np.concatenate([self.archetype_curves, self.archetype_curves], axis=1).ravel()
        self._curve_index = self.archetype * (2 * slots) + self.base
        self._correction2 = np.concatenate([self._correction, self._correction], axis=1)
        self._scratch = np.empty(len(a), dtype=np.float32)
        # The raw modulation of a slot is the same every day: kept, when small enough, it is computed on
        # the first day only.
        small = slots * len(a) * 4 <= RAW_CACHE_BYTES
        self._raw_by_slot: Array | None = np.empty((slots, len(a)), dtype=np.float32) if small else None
        self._cached = [False] * slots

    @property
    def mean_event_kwh(self) -> float:
        """Expected energy of one event [kWh]."""
        cum, energy = self._events
        return float(np.diff(cum, prepend=0.0) @ energy)

    def modulation(self, slot: int, positions: Array, cell: int | None = None) -> Array:
        """Each meter's factor [-] in interval ``slot`` of the day, at its own daily position
        ``positions`` (= slot - its shift); with ``cell`` (season x 3 + day type) normalised by
        :meth:`normalise`."""
        if not self.params.enabled:
            return np.ones(len(positions))
        out = self._raw(slot, positions)
        if cell is not None and self._norm is not None:
            out /= self._norm[cell]
            out /= self._correction[cell][positions]
        return out

    def normalise(self, shapes: Array, shift_slots: Array) -> None:
        """Divide each meter's modulation, per cell of ``shapes`` [season, day type, slot], by the daily
        mean of shape x modulation at its positions, so that its energy is its own on every kind of day;
        then by :func:`fleet_correction`, so that the fleet's mean shape is still the profile's."""
        self._norm = self._daily_means(shapes, shift_slots)
        self._correction = fleet_correction(self.params, shapes.shape[-1], shapes)
        self._correction2 = np.concatenate([self._correction, self._correction], axis=1)

    def modulation_at(self, slot: int, cell: int) -> Array:
        """:meth:`modulation` (normalised, float32 [-]) at every meter's own position in ``slot``, as its
        shift puts it; bit for bit the same numbers, from static indices (the hot path)."""
        cache = self._raw_by_slot
        if cache is not None and self._cached[slot]:
            raw = cache[slot]
        else:
            raw = self._rhythm(slot, slice(None))
            np.multiply(np.take(self._curves2[slot:], self._curve_index), raw, out=raw)
            if cache is not None:
                cache[slot] = raw
                self._cached[slot] = True
        if self._norm is None:
            unnormalised: Array = raw.copy() if cache is not None else raw
            return unnormalised
        out: Array = np.divide(raw, self._norm[cell])
        out /= np.take(self._correction2[cell, slot:], self.base)
        return out

    def _daily_means(self, shapes: Array, shift_slots: Array) -> Array:
        """(9, n) float32: each meter's daily mean of shape x raw modulation per cell [-].

        Meters that share a shift share their positions, so they go together, in blocks, all slots at
        once; each meter's sum still runs over t = 0, 1, ... in order, with the products of
        :meth:`_raw`, so the numbers are those of a plain loop over t.
        """
        cells = shapes.reshape(-1, shapes.shape[-1])  # (9, slots)
        slots = cells.shape[1]
        basis = np.stack([self._basis(t) for t in range(slots)], axis=1).astype(np.float32)  # (2K, slots)
        base = (-np.asarray(shift_slots, dtype=np.int64)) % slots
        order = np.argsort(base, kind="stable")
        bounds = np.flatnonzero(np.diff(base[order])) + 1
        out = np.empty((len(cells), len(self.archetype)), dtype=np.float32)
        for same in np.split(order, bounds):
            rotation = (np.arange(slots) + base[same[0]]) % slots  # position of slot t
            cell_at = cells[:, rotation]  # (9, slots)
            for lo in range(0, len(same), _BLOCK):
                rows = same[lo : lo + _BLOCK]
                raw = np.tile(-self.log_mean[rows], (slots, 1))  # (slots, block) float32
                for row, value in zip(self.coefficients[:, rows], basis, strict=True):
                    raw += value[:, None] * row[None, :]
                np.exp(raw, out=raw)
                raw *= self.archetype_curves[self.archetype[rows]][:, rotation].T
                total, product = np.zeros((len(cells), len(rows))), np.empty((len(cells), len(rows)))
                raw64 = raw.astype(np.float64)  # (exactly) once, not in every product
                for t in range(slots):
                    total += np.multiply(cell_at[:, t : t + 1], raw64[t], out=product)
                out[:, rows] = total / slots
        return out

    def _basis(self, slot: int) -> Array:
        """cos and sin of each harmonic at the middle of ``slot`` (float64, 2K)."""
        angle = self.omega * (slot + 0.5)
        out: Array = np.concatenate([np.cos(angle), np.sin(angle)])
        return out

    def _rhythm(self, slot: int, rows: slice) -> Array:
        """exp(personal rhythm) [-] of meters ``rows`` in ``slot``, float32; its own scratch-free array."""
        basis = self._basis(slot)
        personal = -self.log_mean[rows]
        scratch = self._scratch[: len(personal)]
        for row, value in zip(self.coefficients, basis, strict=True):
            np.multiply(row[rows], np.float32(value), out=scratch)
            personal += scratch
        out: Array = np.exp(personal, out=personal)
        return out

    def _raw(self, slot: int, positions: Array) -> Array:
        out: Array = self.archetype_curves[self.archetype, positions] * self._rhythm(slot, slice(None))
        return out

    def events_kwh(self, rng: np.random.Generator, rate: Array) -> Array:
        """Appliance energy [kWh] per meter for one interval, for Poisson event rates ``rate`` [1/interval].

        Everything comes from one uniform u per meter, so a meter's events never depend on its chunk's
        size: the count through the Poisson CDF (up to 2 per interval; at the rates used, below 0.2 per
        interval, 3 or more have a probability under 0.2 %), and, for a hit, v = (u - P(0)) / (1 - P(0))
        (uniform again) picks the kind and, by where it falls in that kind's share, a power of 0.7-1.3 x.
        """
        u = rng.random(len(rate))
        out = np.zeros(len(rate))
        hit, energy = self.events_from(u, -rate)
        out[hit] = energy
        return out

    def events_from(self, u: Array, neg_rate: Array) -> tuple[Array, Array]:
        """:meth:`events_kwh` from the uniforms ``u`` drawn already and the negated rates ``-rate``
        [1/interval] (negating a product is exact: the caller folds it into a factor and saves a pass):
        the rows that have events, and their energy [kWh]."""
        p0 = np.exp(neg_rate)
        hit = np.flatnonzero(u > p0)
        if not len(hit):
            return hit, np.zeros(0)
        # Only a hit can have a second event (u > P(0) (1 + rate) >= P(0)): count it for the hits alone.
        p0_hit, u_hit = p0[hit], u[hit]
        counts = (u_hit > p0_hit * (1.0 - neg_rate[hit])).astype(np.int64) + 1
        cum, energy = self._events
        v = (u_hit - p0_hit) / (1.0 - p0_hit)
        kind = np.searchsorted(cum, v, side="right").clip(0, len(energy) - 1)
        low = np.where(kind > 0, cum[kind - 1], 0.0)
        within = np.clip((v - low) / (cum[kind] - low), 0.0, 1.0)
        out: Array = counts * energy[kind] * (0.7 + 0.6 * within)
        return hit, out
