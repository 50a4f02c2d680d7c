"""Multiplicative AR(1) noise with mean 1, carried from interval to interval for a cohort's meters."""

from __future__ import annotations

import numpy as np

from metersim._array import Array
from metersim.streams import MeterRange, Stream, draw, standard_normal


class LognormalAR1:
    """``exp(e_t − σ²/2)`` with ``e_t = φ·e_{t−1} + √(1−φ²)·σ·z_t``, so each factor has mean 1.

    The state starts from its stationary distribution (drawn for ``first_interval``), so the first
    interval's noise is distributed like any later one; innovations are keyed by the interval index.
    """

    def __init__(self, seed: int, key: int, meters: MeterRange, sigma: float, phi: float, first_interval: int) -> None:
        self.seed, self.key, self.meters = seed, key, meters
        self.sigma, self.phi = sigma, phi
        self.state = sigma * draw(seed, Stream.NOISE_INIT, key, meters, first_interval, standard_normal)

    def step(self, interval_index: int) -> Array:
        """Advance to ``interval_index`` (interval end // interval_s) and return each meter's factor [-]."""
        z = draw(self.seed, Stream.NOISE, self.key, self.meters, interval_index, standard_normal)
        self.state = self.phi * self.state + np.sqrt(1.0 - self.phi**2) * self.sigma * z
        factor: Array = np.exp(self.state - self.sigma**2 / 2)
        return factor
