"""Cumulative registers of a range of meters: totals, tariff bands, export, converted volume, rollover.

Registers are integer thousandths of the unit (Wh, litres) that never wrap internally, so every sum
is exact; :meth:`Registers.read` rolls them over at ``digits`` integer digits, as the meter displays
and publishes them. The converted gas volume comes in unrounded; its register keeps the fraction of
a litre below the published value (the converter's internal resolution), so it always shows the
rounded *cumulative* converted volume rather than a sum of rounded intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metersim._array import Array
from metersim.records import RegisterValues


def split_evenly(total: Array, parts: int) -> Array:
    """``parts`` rows of non-negative integers that sum exactly to ``total``."""
    rows = np.tile(total // parts, (parts, 1))
    rows[-1] += total - rows.sum(axis=0)
    return rows


def split_in_proportion(total: Array, shares: Sequence[float]) -> Array:
    """One row per share of non-negative integers, each within 1 of ``total · share``, summing exactly to ``total``.

    ``shares`` are non-negative weights [-] (normalised here; a zero sum splits evenly). The rows are
    differences of the floored cumulative shares of the total, so they telescope to it exactly.
    """
    weights = np.asarray(shares, dtype=float)
    if weights.ndim != 1 or len(weights) == 0 or (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError(f"shares must be one or more non-negative numbers, not {shares!r}")
    running = np.cumsum(weights)
    if running[-1] <= 0:
        running = np.arange(1.0, len(weights) + 1.0)
    # Non-decreasing and at most 1: float sums and divisions of non-negative numbers are monotone.
    cumulative = running / running[-1]
    totals = np.asarray(total, dtype=np.int64)
    edges = np.floor(totals[None, :] * cumulative[:, None]).astype(np.int64)
    edges[-1] = totals  # exactly the whole, even where a total is too large for a float to hold exactly
    rows: Array = np.diff(edges, axis=0, prepend=0)
    return rows


class Registers:
    """The registers of ``len(initial_milli)`` meters.

    Parameters
    ----------
    initial_milli
        Import (or gas volume) register at the start [thousandths], int64.
    bands
        Number of tariff bands with a register each (0: none). Band registers start from a split of
        the initial total that sums to it exactly.
    band_shares
        Each band's share of consumption [-], one per band, to split the initial total by (the band
        registers of a meter that has been running a while hold about that share); None: evenly.
    export
        Keep export registers (meters with PV, grid-side meters).
    converted_mask
        Gas meters with a volume converter; their converted register starts at the initial volume,
        with no carry.
    digits
        Integer digits of the display; the published registers roll over at ``10**digits`` units.
    """

    def __init__(
        self,
        initial_milli: Array,
        *,
        bands: int = 0,
        band_shares: Sequence[float] | None = None,
        export: bool = False,
        converted_mask: Array | None = None,
        digits: int = 6,
    ) -> None:
        n = len(initial_milli)
        self.wrap = 10**digits * 1000
        self.total = initial_milli.astype(np.int64, copy=True)
        if band_shares is not None and len(band_shares) != bands:
            raise ValueError(f"{len(band_shares)} band shares for {bands} bands")
        self.bands: Array | None = None
        if bands and band_shares is not None:
            self.bands = split_in_proportion(self.total, band_shares)
        elif bands:
            self.bands = split_evenly(self.total, bands)
        self.export_total = np.zeros(n, dtype=np.int64) if export else None
        self.export_bands = np.zeros((bands, n), dtype=np.int64) if export and bands else None
        self.converted_mask = converted_mask
        self.converted = self.total.copy() if converted_mask is not None else None
        # Exact converted volume minus the converted register [thousandths], float64 in [-0.5, 0.5].
        self.converted_carry = np.zeros(n, dtype=np.float64) if converted_mask is not None else None
        self._rolled: dict[str, Array] = {}
        self._roll_over()

    _ROLLED = ("total", "bands", "export_total", "export_bands", "converted")

    def _roll_over(self) -> None:
        """(Re)compute the published values ``register % wrap`` from the registers: an integer division per
        value, which :meth:`add` then spares each interval by adding to them too."""
        self._rolled = {
            name: values % self.wrap for name in self._ROLLED if (values := getattr(self, name)) is not None
        }

    def add(
        self,
        import_milli: Array,
        *,
        band: int | Array = 0,
        export_milli: Array | None = None,
        converted_milli: Array | None = None,
    ) -> None:
        """Count one interval: import (and export) into the totals and into band ``band`` (one for all
        meters, or one per meter).

        ``converted_milli`` is the interval's converted volume, unrounded [thousandths, float]: the
        register advances by the change of the rounded cumulative and carries the rest.
        """
        rolled = self._rolled
        self.total += import_milli
        rolled["total"] += import_milli
        if self.bands is not None:
            _add_to_bands(self.bands, band, import_milli)
            _add_to_bands(rolled["bands"], band, import_milli)
        if export_milli is not None and self.export_total is not None:
            self.export_total += export_milli
            rolled["export_total"] += export_milli
            if self.export_bands is not None:
                _add_to_bands(self.export_bands, band, export_milli)
                _add_to_bands(rolled["export_bands"], band, export_milli)
        if converted_milli is not None and self.converted is not None and self.converted_carry is not None:
            exact = self.converted_carry + converted_milli
            # exact >= -0.5, so the step is never negative: the register never runs backwards.
            step = np.rint(exact).astype(np.int64)
            self.converted += step
            rolled["converted"] += step
            self.converted_carry[...] = exact - step

    def read(self) -> RegisterValues:
        """The registers as published: rolled over, copies that later intervals do not change."""
        wrap, rolled = self.wrap, self._rolled

        def published(name: str) -> Array | None:
            values = rolled.get(name)
            if values is None:
                return None
            if values.size and (values.max() >= wrap or values.min() < 0):  # rare: a register rolled over
                np.remainder(getattr(self, name), wrap, out=values)
            copy: Array = values.copy()
            return copy

        total = published("total")
        assert total is not None
        return RegisterValues(
            total=total,
            bands=published("bands"),
            export_total=published("export_total"),
            export_bands=published("export_bands"),
            converted=published("converted"),
            converted_mask=self.converted_mask,
        )

    def state(self) -> dict[str, Array]:
        """Copies of the internal (never rolled over) registers and the converted carry, by name, for a state file."""
        named = {
            "total": self.total,
            "bands": self.bands,
            "export_total": self.export_total,
            "export_bands": self.export_bands,
            "converted": self.converted,
            "converted_carry": self.converted_carry,
        }
        return {name: values.copy() for name, values in named.items() if values is not None}

    def restore(self, state: dict[str, Array]) -> None:
        """Continue from :meth:`state` of registers of the same shape.

        A state without ``converted_carry`` (written before the carry existed) continues with none:
        its converted register was a whole number of litres, which is a consistent start.
        """
        for name, values in state.items():
            current = getattr(self, name)
            if current is None or current.shape != values.shape:
                raise ValueError(f"register {name!r} of shape {values.shape} does not fit these meters")
            current[...] = values
        self._roll_over()


def _add_to_bands(bands: Array, band: int | Array, milli: Array) -> None:
    """``bands[band] += milli``, with ``band`` one index for all meters or one per meter."""
    if isinstance(band, int):
        bands[band] += milli
    else:
        bands[band.astype(np.intp), np.arange(bands.shape[1])] += milli
