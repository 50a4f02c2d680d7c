"""Multiplicative AR(1) noise with mean 1, carried from interval to interval for a cohort's meters; and
:class:`Reseeded`, the generators of :func:`metersim.streams.draw` for a hot path, reseeded cheaply.

``streams.draw`` builds ``default_rng([seed, stream, group, chunk, interval + 1])`` per chunk and
interval: about 27 us each, 25 of them for 100,000 meters, twice per interval. Most of that is
numpy's SeedSequence in Python-level loops. :class:`Reseeded` computes the very same PCG64 state
with numpy's own algorithm (``numpy/random/bit_generator.pyx``: SeedSequence's hashmix, mix and
generate_state with pool size 4; ``pcg64.c``: ``pcg64_set_seed``), the part that does not depend
on the interval once, the rest for every chunk in a few array operations, and sets it into one
reused Generator per chunk: the same numbers, a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np

from metersim._array import Array
from metersim.streams import MeterRange, Stream, draw, standard_normal

_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341  # PCG_DEFAULT_MULTIPLIER_128
_POOL = 4  # SeedSequence's default pool size [32-bit words]


def _words(value: int) -> list[int]:
    """``_coerce_to_uint32_array`` of one non-negative int: its 32-bit words, least significant first."""
    if value < 0:
        raise ValueError(f"stream keys are non-negative, not {value}")
    out = [value & _M32]
    value >>= 32
    while value:
        out.append(value & _M32)
        value >>= 32
    return out


def _mix(x: Array, y: Array | int) -> Array:
    """SeedSequence's ``mix`` on uint64 arrays that hold 32-bit words."""
    out: Array = (np.uint64(_MIX_L) * x - np.uint64(_MIX_R) * np.asarray(y, dtype=np.uint64)) & np.uint64(_M32)
    out ^= out >> np.uint64(16)
    return out


class _HashMix:
    """SeedSequence's ``hashmix`` with its running hash constant."""

    def __init__(self, constant: int = _INIT_A) -> None:
        self.constant = constant

    def __call__(self, value: Array) -> Array:
        value = (np.asarray(value, dtype=np.uint64) ^ np.uint64(self.constant)) & np.uint64(_M32)
        self.constant = (self.constant * _MULT_A) & _M32
        value = (value * np.uint64(self.constant)) & np.uint64(_M32)
        out: Array = value ^ (value >> np.uint64(16))
        return out


# generate_state's hash constants for 8 words: the one each word is xor-ed with, and the one it is multiplied by
_GENERATE = [_INIT_B]
for _ in range(8):
    _GENERATE.append((_GENERATE[-1] * _MULT_B) & _M32)
_GENERATE_XOR = np.array(_GENERATE[:8], dtype=np.uint64)
_GENERATE_MUL = np.array(_GENERATE[1:], dtype=np.uint64)


class Reseeded:
    """``streams.draw(seed, stream, group, meters, interval, sample)``, bit for bit, for many intervals.

    The generators are reused: what ``sample`` returns must not keep them.
    """

    def __init__(self, seed: int, stream: Stream, group: int, meters: MeterRange) -> None:
        self.sizes = [size for _, size in meters.chunks()]
        prefixes = [_words(seed) + _words(int(stream)) + _words(group) + _words(chunk) for chunk, _ in meters.chunks()]
        if len({len(p) for p in prefixes}) != 1 or len(prefixes[0]) < _POOL:
            raise ValueError("stream keys of one draw must have the same number of words, at least the pool's")
        entropy = np.array(prefixes, dtype=np.uint64).T  # (words, chunks)
        hashmix = _HashMix()
        pool = [hashmix(entropy[i]) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = _mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, len(entropy)):
            for dst in range(_POOL):
                pool[dst] = _mix(pool[dst], hashmix(entropy[src]))
        self._pool = np.stack(pool, axis=1)  # (chunks, pool) after the key's words that do not change
        self._constant = hashmix.constant
        self._generators = [np.random.Generator(np.random.PCG64(0)) for _ in self.sizes]
        self.count = meters.count
        edges = np.cumsum([0, *self.sizes]).tolist()
        self._rows = [slice(lo, hi) for lo, hi in pairwise(edges)]

    def generators(self, interval: int) -> list[np.random.Generator]:
        """One generator per chunk, in the state ``default_rng([seed, stream, group, chunk, interval + 1])`` has."""
        constant, pool = self._constant, self._pool
        for word in _words(interval + 1):  # the same for every chunk: each hashmix is one number
            mixed = []
            for _ in range(_POOL):  # hashmix, on Python ints
                value = (word ^ constant) & _M32
                constant = (constant * _MULT_A) & _M32
                value = (value * constant) & _M32
                mixed.append(value ^ (value >> 16))
            pool = _mix(pool, np.array(mixed, dtype=np.uint64)[None, :])
        words = pool[:, [0, 1, 2, 3, 0, 1, 2, 3]] ^ _GENERATE_XOR  # generate_state(4, uint64)
        words = (words * _GENERATE_MUL) & np.uint64(_M32)
        words ^= words >> np.uint64(16)
        halves = (words[:, 0::2] | (words[:, 1::2] << np.uint64(32))).tolist()  # 4 uint64 per chunk
        for generator, (s_hi, s_lo, i_hi, i_lo) in zip(self._generators, halves, strict=True):
            inc = (((i_hi << 64) | i_lo) << 1 | 1) & _M128  # pcg64_set_seed -> pcg_setseq_128_srandom_r
            state = ((inc + ((s_hi << 64) | s_lo)) * _PCG_MULT + inc) & _M128
            generator.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": state, "inc": inc},
                "has_uint32": 0,
                "uinteger": 0,
            }
        return self._generators

    def draw(self, interval: int, sample: Callable[[np.random.Generator, int], Array]) -> Array:
        """``sample(rng, n)`` concatenated over the chunks, as ``streams.draw`` gives it for ``interval``."""
        parts = [sample(g, k) for g, k in zip(self.generators(interval), self.sizes, strict=True)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def standard_normal(self, interval: int) -> Array:
        """``draw(interval, streams.standard_normal)``, each chunk's numbers written in place (a new array)."""
        out = np.empty(self.count)
        for generator, rows in zip(self.generators(interval), self._rows, strict=True):
            generator.standard_normal(out=out[rows])
        return out

    def uniform(self, interval: int) -> Array:
        """``draw(interval, lambda rng, k: rng.random(k))``, each chunk's numbers written in place (a new array)."""
        out = np.empty(self.count)
        for generator, rows in zip(self.generators(interval), self._rows, strict=True):
            generator.random(out=out[rows])
        return out


class LognormalAR1:
    """``exp(e_t − σ²/2)`` with ``e_t = φ·e_{t−1} + √(1−φ²)·σ·z_t``, so each factor has mean 1.

    The state starts from its stationary distribution (drawn for ``first_interval``), so the first
    interval's noise is distributed like any later one; innovations are keyed by the interval index.
    """

    def __init__(self, seed: int, key: int, meters: MeterRange, sigma: float, phi: float, first_interval: int) -> None:
        self.seed, self.key, self.meters = seed, key, meters
        self.sigma, self.phi = sigma, phi
        self.state = sigma * draw(seed, Stream.NOISE_INIT, key, meters, first_interval, standard_normal)
        self._innovation_sd = np.sqrt(1.0 - phi**2) * sigma  # [-]
        self._innovations = Reseeded(seed, Stream.NOISE, key, meters)

    def step(self, interval_index: int) -> Array:
        """Advance to ``interval_index`` (interval end // interval_s) and return each meter's factor [-]
        (a new array; the state is updated in place, with the same operations in the same order)."""
        z = self._innovations.standard_normal(interval_index)
        state = self.state
        state *= self.phi
        z *= self._innovation_sd
        state += z
        factor: Array = np.subtract(state, self.sigma**2 / 2, out=z)
        return np.exp(factor, out=factor)
