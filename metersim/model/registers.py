"""Cumulative registers of a range of meters: totals, tariff bands, export, converted volume, rollover.

Registers are integer thousandths of the unit (Wh, litres) that never wrap internally, so every sum
is exact; :meth:`Registers.read` rolls them over at ``digits`` integer digits, as the meter displays
and publishes them.
"""

from __future__ import annotations

import numpy as np

from metersim._array import Array
from metersim.records import RegisterValues


def split_evenly(total: Array, parts: int) -> Array:
    """``parts`` rows of non-negative integers that sum exactly to ``total``."""
    rows = np.tile(total // parts, (parts, 1))
    rows[-1] += total - rows.sum(axis=0)
    return rows


class Registers:
    """The registers of ``len(initial_milli)`` meters.

    Parameters
    ----------
    initial_milli
        Import (or gas volume) register at the start [thousandths], int64.
    bands
        Number of tariff bands with a register each (0: none). Band registers start from an even
        split of the initial total, so they sum to it exactly.
    export
        Keep export registers (meters with PV, grid-side meters).
    converted_mask
        Gas meters with a volume converter; their converted register starts at the initial volume.
    digits
        Integer digits of the display; the published registers roll over at ``10**digits`` units.
    """

    def __init__(
        self,
        initial_milli: Array,
        *,
        bands: int = 0,
        export: bool = False,
        converted_mask: Array | None = None,
        digits: int = 6,
    ) -> None:
        n = len(initial_milli)
        self.wrap = 10**digits * 1000
        self.total = initial_milli.astype(np.int64, copy=True)
        self.bands = split_evenly(self.total, bands) if bands else None
        self.export_total = np.zeros(n, dtype=np.int64) if export else None
        self.export_bands = np.zeros((bands, n), dtype=np.int64) if export and bands else None
        self.converted_mask = converted_mask
        self.converted = self.total.copy() if converted_mask is not None else None

    def add(
        self,
        import_milli: Array,
        *,
        band: int = 0,
        export_milli: Array | None = None,
        converted_milli: Array | None = None,
    ) -> None:
        """Count one interval: import (and export) into the totals and into band ``band``."""
        self.total += import_milli
        if self.bands is not None:
            self.bands[band] += import_milli
        if export_milli is not None and self.export_total is not None:
            self.export_total += export_milli
            if self.export_bands is not None:
                self.export_bands[band] += export_milli
        if converted_milli is not None and self.converted is not None:
            self.converted += converted_milli

    def read(self) -> RegisterValues:
        """The registers as published: rolled over, copies that later intervals do not change."""
        wrap = self.wrap

        def rolled(values: Array | None) -> Array | None:
            return values % wrap if values is not None else None

        return RegisterValues(
            total=self.total % wrap,
            bands=rolled(self.bands),
            export_total=rolled(self.export_total),
            export_bands=rolled(self.export_bands),
            converted=rolled(self.converted),
            converted_mask=self.converted_mask,
        )

    def state(self) -> dict[str, Array]:
        """Copies of the internal (never rolled over) registers, by name, for a state file."""
        named = {
            "total": self.total,
            "bands": self.bands,
            "export_total": self.export_total,
            "export_bands": self.export_bands,
            "converted": self.converted,
        }
        return {name: values.copy() for name, values in named.items() if values is not None}

    def restore(self, state: dict[str, Array]) -> None:
        """Continue from :meth:`state` of registers of the same shape."""
        for name, values in state.items():
            current = getattr(self, name)
            if current is None or current.shape != values.shape:
                raise ValueError(f"register {name!r} of shape {values.shape} does not fit these meters")
            current[...] = values
