"""LognormalAR1: exp(e_t - sigma**2 / 2) with e_t = phi e_{t-1} + sqrt(1 - phi**2) sigma z_t, checked by its moments;
and Reseeded, the fast reseeding of the chunks' generators, against numpy's own seeding (streams.draw)."""

from __future__ import annotations

import numpy as np
import pytest

from metersim.model.noise import LognormalAR1, Reseeded
from metersim.streams import CHUNK, MeterRange, Stream, draw, standard_normal

METERS = MeterRange.whole(2 * CHUNK)
FIRST = 1_000_000


def series(sigma: float, phi: float, steps: int, seed: int = 3) -> np.ndarray:
    """Factors, shape (steps, meters)."""
    noise = LognormalAR1(seed, 99, METERS, sigma, phi, FIRST)
    return np.array([noise.step(FIRST + t) for t in range(steps)])


@pytest.mark.parametrize(("sigma", "phi"), [(0.25, 0.85), (0.5, 0.5), (0.3, 0.0)])
def test_factors_have_mean_one_lognormal_sigma_and_lag_one_correlation_phi(sigma, phi):
    factors = series(sigma, phi, 120)
    assert factors.mean() == pytest.approx(1.0, abs=0.01)
    logs = np.log(factors)
    # every interval, the first one included, is drawn from the stationary N(-sigma**2/2, sigma**2)
    assert logs.mean() == pytest.approx(-(sigma**2) / 2, abs=0.02)
    assert logs.std() == pytest.approx(sigma, rel=0.03)
    assert logs[0].std() == pytest.approx(sigma, rel=0.05)
    centred = logs - logs.mean()
    lag1 = (centred[1:] * centred[:-1]).mean() / centred.var()
    assert lag1 == pytest.approx(phi, abs=0.02)
    lag2 = (centred[2:] * centred[:-2]).mean() / centred.var()
    assert lag2 == pytest.approx(phi**2, abs=0.02)


def test_meters_are_independent_of_each_other():
    logs = np.log(series(0.25, 0.85, 60))
    # correlation between neighbouring meters across time is near 0
    a, b = logs[:, :-1].ravel(), logs[:, 1:].ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03


def test_zero_sigma_is_exactly_one():
    np.testing.assert_array_equal(series(0.0, 0.85, 3), np.ones((3, METERS.count)))


def test_the_same_address_gives_the_same_noise_and_another_seed_another():
    np.testing.assert_array_equal(series(0.25, 0.85, 5), series(0.25, 0.85, 5))
    assert not np.array_equal(series(0.25, 0.85, 5), series(0.25, 0.85, 5, seed=4))


def uniform(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.random(k)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 + 7, 2**40 + 3, 2**64 + 1])  # one to three 32-bit words
@pytest.mark.parametrize(
    "meters", [MeterRange.whole(5), MeterRange.whole(2 * CHUNK + 17), MeterRange(7 * CHUNK, 9 * CHUNK)]
)
def test_reseeded_draws_are_streams_draws_bit_for_bit(seed, meters):
    group = 0xFFFFFFFF - 12345  # a crc32-sized group key
    reseeded = Reseeded(seed, Stream.NOISE, group, meters)
    for interval in [-1, 0, 1, 2_000_000, 2**32 - 2, 2**32 + 5]:  # interval + 1: one or two words, and zero
        expected = draw(seed, Stream.NOISE, group, meters, interval, standard_normal)
        assert reseeded.standard_normal(interval).tobytes() == expected.tobytes()
        assert reseeded.draw(interval, standard_normal).tobytes() == expected.tobytes()
        expected = draw(seed, Stream.NOISE, group, meters, interval, uniform)
        assert reseeded.uniform(interval).tobytes() == expected.tobytes()


def test_each_call_returns_a_new_array():
    reseeded = Reseeded(1, Stream.SPIKES, 9, MeterRange.whole(10))
    first = reseeded.uniform(3)
    kept = first.copy()
    reseeded.uniform(4)
    assert first.tobytes() == kept.tobytes()
