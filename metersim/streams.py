"""Addressable random streams.

Every random number is keyed by ``(seed, stream, group, chunk, interval)``: a meter's draws depend
on its group and its index within the group, never on how many meters run beside it, on sharding,
or on the sinks. A chunk is :data:`CHUNK` consecutive meters of one group; shards own whole chunks.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from metersim._array import Array

CHUNK = 4096

STATIC = -1  # the "interval" key for per-meter attributes drawn once


class Stream(IntEnum):
    """Stream ids. Append only: renumbering changes every scenario's output."""

    SCALE = 1
    INITIAL_REGISTER = 2
    REPORT_OFFSET = 3
    NOISE = 4
    TEMPERATURE = 5
    CLEARNESS = 6
    NOISE_INIT = 7
    SPIKES = 8
    PHASE = 9
    PV = 10
    SOLAR_WATER_HEATER = 11
    CONVERTER = 12
    BATTERY = 13
    INSTANTANEOUS = 14
    OUTAGES = 15
    COMMS = 16
    LINK_OUTAGES = 17
    SHEDDING = 18  # which feeders a load-shedding category given by `share` takes
    METER_FAULTS = 19  # which meters have which meter fault, when, and how badly
    THEFT = 20  # which meters steal, how much, and when their covers come off
    UPLOADS = 21  # the phase of each concentrator's upload schedule
    COMMANDS = 22  # each command's response time and outcome, keyed by meter and command id
    HOUSEHOLD = 23  # static: occupancy type, personal rhythm, appliance propensity
    THERMAL = 24  # static: air-conditioner and heater ownership and set-points
    CYCLING = 25  # per interval: compressor on-fraction scatter
    PV_SITING = 26  # static: each PV meter's tilt, azimuth and cloud lag
    REGION_CLOUDS = 27  # per block of minutes: a region's intra-day cloud field
    LOCAL_CLOUDS = 28  # per day: a feeder's (or block of meters') own cloud field
    HEATING = 29  # gas: whether each home heats with gas, and its heating limit


def group_key(name: str) -> int:
    """A stable 32-bit key for a group name."""
    return zlib.crc32(name.encode("utf-8"))


@dataclass(frozen=True)
class MeterRange:
    """Meters ``start .. stop - 1`` of one group, by position in the group (0 is its first meter).

    ``start`` is a chunk boundary; ``stop`` is one too, or the end of the group, so that every
    chunk is drawn whole (a chunk's draws for ``k`` meters are not always a prefix of those for more).
    """

    start: int
    stop: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.start % CHUNK or self.stop <= self.start:
            raise ValueError(f"a meter range must start on a chunk boundary ({CHUNK}) and be non-empty: {self}")

    @classmethod
    def whole(cls, count: int) -> MeterRange:
        """All ``count`` meters of a group."""
        return cls(0, count)

    @classmethod
    def of_chunks(cls, first: int, stop: int, count: int) -> MeterRange:
        """Chunks ``first .. stop - 1`` of a group of ``count`` meters."""
        return cls(first * CHUNK, min(stop * CHUNK, count))

    @property
    def count(self) -> int:
        return self.stop - self.start

    def chunks(self) -> Iterator[tuple[int, int]]:
        """``(chunk index, meters in it)`` for each chunk of the range."""
        for lo in range(self.start, self.stop, CHUNK):
            yield lo // CHUNK, min(CHUNK, self.stop - lo)


def draw(
    seed: int,
    stream: Stream,
    group: int,
    meters: MeterRange,
    interval: int,
    sample: Callable[[np.random.Generator, int], Array],
) -> Array:
    """Concatenate ``sample(rng, n)`` over the chunks of ``meters`` of one group.

    ``interval`` is the absolute interval index (interval end // interval_s), or :data:`STATIC`.
    """
    parts = []
    for chunk, size in meters.chunks():
        rng = np.random.default_rng([seed, int(stream), group, chunk, interval + 1])
        parts.append(sample(rng, size))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def standard_normal(rng: np.random.Generator, k: int) -> Array:
    """A ``sample`` for :func:`draw`: k standard normal numbers."""
    return rng.standard_normal(k)
