"""What the meter and theft faults share: addressable per-meter draws, Poisson episodes per meter and
UTC day, sparse per-meter register offsets, and rows of a batch by meter position.

Draws are keyed by ``(seed, stream, group, chunk, 0, kind)`` (once per meter) or ``(seed, stream,
group, chunk, 1, day, kind)`` (episodes of a UTC day); chunks are drawn whole, so a meter's faults
depend on its index in the group alone, not on how many meters run beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from metersim._array import Array
from metersim.records import ReadingBatch, RegisterValues
from metersim.streams import CHUNK, MeterRange, Stream
from metersim.timebase import SECONDS_PER_DAY as DAY

DAYS_PER_YEAR = 365.2425
MAX_DAYS = 7  # longest episode [d]; also how far back a day's episodes are looked up
WRAP_MILLI = 10**6 * 1000  # six integer digits (config ``register_digits`` 6) [thousandths]
Sample = Callable[[np.random.Generator, int], Array]
Detail = Callable[[int], str]  # the detail of episode j
Events = tuple[Array, Array, Array]  # (rows of the batch, time_s [epoch s], EVENT_CODES value)
EMPTY: tuple[Array, Array, Array, Array] = (np.zeros(0, np.int64),) * 3 + (np.zeros((0, 2)),)


def per_meter(seed: int, stream: Stream, key: int, meters: MeterRange, kind: int, sample: Sample) -> Array:
    """``sample(rng, CHUNK)`` per chunk of ``meters`` (always whole chunks), cut to the range."""
    chunks = range(meters.start // CHUNK, (meters.stop - 1) // CHUNK + 1)
    parts = [sample(np.random.default_rng([seed, int(stream), key, c, 0, kind]), CHUNK) for c in chunks]
    return np.concatenate(parts)[: meters.count]


def first_end(t: Array | int, e: int, interval_s: int) -> Array:
    """The first interval end (ends are ``e`` mod ``interval_s``) after instant ``t``."""
    out: Array = np.asarray(t + (e - np.asarray(t) - 1) % interval_s + 1, dtype=np.int64)
    return out


class Schedule:
    """Episodes ``(local position, start_s, end_s, u)`` of one fault, drawn day by day; ``u`` is two uniforms."""

    def __init__(
        self, seed: int, stream: Stream, key: int, meters: MeterRange, kind: int, rate: float, length: Sample
    ) -> None:
        self.seed, self.stream, self.key, self.meters, self.kind = seed, stream, key, meters, kind
        self.rate, self.length = rate / DAYS_PER_YEAR, length
        self.day: int | None = None
        self.table = EMPTY

    def _day(self, day: int) -> list[tuple[Array, Array, Array, Array]]:
        out, m = [], self.meters
        for c in range(m.start // CHUNK, (m.stop - 1) // CHUNK + 1):
            rng = np.random.default_rng([self.seed, int(self.stream), self.key, c, 1, day, self.kind])
            counts = rng.poisson(self.rate, CHUNK)
            n = int(counts.sum())
            if n:
                pos = c * CHUNK + np.repeat(np.arange(CHUNK, dtype=np.int64), counts)
                start = day * DAY + rng.integers(0, DAY, n)
                end = start + np.clip(self.length(rng, n), 0, MAX_DAYS * DAY).astype(np.int64)
                u, keep = rng.random((n, 2)), (pos >= m.start) & (pos < m.stop)
                out.append((pos[keep] - m.start, start[keep], end[keep], u[keep]))
        return out

    def around(self, e: int) -> tuple[Array, Array, Array, Array]:
        """The episodes that start from ``MAX_DAYS + 1`` days before the UTC day of ``e`` to its end."""
        day = e // DAY
        if self.day != day:
            parts = [EMPTY] + [p for d in range(day - MAX_DAYS - 1, day + 1) for p in self._day(d)]
            self.table = tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[assignment]
            self.day = day
        return self.table


class Offsets:
    """Sparse per-meter register offsets [thousandths]: ``pos`` (sorted local positions) and ``val`` with
    columns import total, import bands, export total, export bands."""

    def __init__(self, bands: int) -> None:
        self.bands, self.cols = bands, 2 + 2 * bands
        self.pos, self.val = np.zeros(0, np.int64), np.zeros((0, self.cols), np.int64)

    def add(self, pos: Array, delta: Array) -> None:
        if not len(pos):
            return
        u, inv = np.unique(np.concatenate([self.pos, pos]), return_inverse=True)
        val = np.zeros((len(u), self.cols), np.int64)
        np.add.at(val, inv, np.concatenate([self.val, delta]))
        self.pos, self.val = u, val

    def get(self, pos: Array) -> Array:
        at = np.searchsorted(self.pos, pos).clip(0, max(len(self.pos) - 1, 0))
        out = np.zeros((len(pos), self.cols), np.int64)
        if len(self.pos):
            hit = self.pos[at] == pos
            out[hit] = self.val[at[hit]]
        return out

    def delta(self, band: Array, imp: Array, exp: Array | None = None) -> Array:
        """Offset rows for interval changes ``imp`` (import) and ``exp`` (export) in bands ``band``."""
        d, k, nb = np.zeros((len(imp), self.cols), np.int64), np.arange(len(imp)), self.bands
        d[:, 0], d[:, 1 + nb] = imp, (0 if exp is None else exp)
        if nb:
            d[k, 1 + band], d[k, 2 + nb + band] = imp, (0 if exp is None else exp)
        return d

    def state(self, prefix: str) -> dict[str, Array]:
        return {f"{prefix}_pos": self.pos.copy(), f"{prefix}_val": self.val.copy()}  # copies

    def restore(self, prefix: str, state: dict[str, Array]) -> None:
        self.pos, self.val = np.array(state[f"{prefix}_pos"], np.int64), np.array(state[f"{prefix}_val"], np.int64)
        self.cols, self.bands = self.val.shape[1], (self.val.shape[1] - 2) // 2


def apply_offsets(registers: RegisterValues, rows: Array, off: Array, wrap: int) -> RegisterValues:
    """The registers with ``off`` (rows of :class:`Offsets` columns) added at ``rows``, rolled over at ``wrap``."""
    nb = (off.shape[1] - 2) // 2

    def shifted(values: Array | None, col: int, width: int) -> Array | None:
        if values is None:
            return None
        out = np.array(values)
        if width:
            out[:, rows] = (out[:, rows] + off[:, col : col + width].T) % wrap
        else:
            out[rows] = (out[rows] + off[:, col]) % wrap
        return out

    return replace(
        registers,
        total=(np.array(registers.total) + np.bincount(rows, off[:, 0], len(registers.total)).astype(np.int64)) % wrap,
        bands=shifted(registers.bands, 1, nb),
        export_total=shifted(registers.export_total, 1 + nb, 0),
        export_bands=shifted(registers.export_bands, 2 + nb, nb),
    )


class Rows:
    """Rows of a batch by local position (position in its MeterSet)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._identity: Array | None = None
        self._seen: tuple[Array, Array] | None = None

    def of(self, batch: ReadingBatch, pos: Array) -> tuple[Array, Array]:
        """``(rows, which)``: the rows of the positions ``pos[which]`` that the batch has."""
        at = batch.meters_at
        if at is self._identity or (len(at) == self.count and (at == np.arange(len(at))).all()):
            self._identity = at
            return pos, np.arange(len(pos))
        if self._seen is None or self._seen[0] is not at:
            inverse = np.full(self.count, -1, np.int64)
            inverse[at] = np.arange(len(at))
            self._seen = (at, inverse)
        rows = self._seen[1][pos]
        which = np.flatnonzero(rows >= 0)
        return rows[which], which
