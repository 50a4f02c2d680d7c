"""SigLinDe: the German standard load profile for gas, a sigmoid with a linear part.

For the weighted four-day mean temperature ``T`` [degC] of a day (:meth:`Weather.siglinde_mean_c`:
``(T_D + T_D-1 / 2 + T_D-2 / 4 + T_D-3 / 8) / 1.875``) the daily demand factor is::

    h(T) = A / (1 + (B / (T - T0))**C) + D + max(mH * T + bH, mW * T + bW),   T0 = 40 degC

and a day's volume is ``KW * h(T) * F_weekday`` with ``KW`` the customer value, fixed so that the year's
days sum to the annual volume.

Source: BDEW / VKU / GEODE, "Leitfaden Abwicklung von Standardlastprofilen Gas", 30 June 2016,
Anlage (SigLinDe coefficients, "Ausprägung 33"), pp. 133-134 for the household profiles HEF33
(Einfamilienhaus, single-family home) and HMF33 (Mehrfamilienhaus, multi-family house). Their
weekday factors are 1.0 on every day (same guide; also ``shlp_weekday_factors.csv`` of demandlib 0.2.2).

The linear ``max`` has two lines: the steep ``H`` line (heating below about 15 degC) and the nearly flat
``W`` line (warm water). :func:`split` cuts ``h`` into a *base* (``D`` plus the ``W`` line: hot water and
cooking, which barely depend on the weather) and a *heating* part (the sigmoid plus whatever the ``H``
line adds above the ``W`` line), so that ``heating + base == h`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metersim._array import Array

T0_C = 40.0  # the sigmoid's reference temperature [degC]


@dataclass(frozen=True)
class SigLinDe:
    """One SigLinDe profile's coefficients [-] (``T`` in degC) and its weekday factors, Monday first."""

    name: str
    a: float
    b: float
    c: float
    d: float
    m_h: float  # [1/degC]
    b_h: float
    m_w: float  # [1/degC]
    b_w: float
    weekday_factors: tuple[float, float, float, float, float, float, float] = (1.0,) * 7

    def h(self, temperature_c: Array | float) -> Array:
        """Daily demand factor h(T) [-] of the weighted four-day mean temperature [degC]."""
        heating, base = self.split(temperature_c)
        out: Array = heating + base
        return out

    def split(self, temperature_c: Array | float) -> tuple[Array, Array]:
        """``(heating, base)`` [-] of h(T): base = D + W line; heating = sigmoid + (H line above W line)."""
        t = np.asarray(temperature_c, dtype=float)
        sigmoid = self.a / (1.0 + (self.b / (t - T0_C)) ** self.c)
        warm_water = self.m_w * t + self.b_w
        heating_line = self.m_h * t + self.b_h
        heating: Array = sigmoid + np.maximum(heating_line - warm_water, 0.0)
        base: Array = self.d + warm_water
        return heating, base


# BDEW/VKU/GEODE 2016 guide, Anlage, Ausprägung 33 (values as published, 7 decimals).
HEF33 = SigLinDe(
    "HEF33", a=1.6209544, b=-37.1833141, c=5.6727847, d=0.0716431,
    m_h=-0.0495700, b_h=0.8401015, m_w=-0.0022090, b_w=0.1074468,
)  # fmt: skip
HMF33 = SigLinDe(
    "HMF33", a=1.2328655, b=-34.7213605, c=5.8164304, d=0.0873352,
    m_h=-0.0409284, b_h=0.7672920, m_w=-0.0022320, b_w=0.1199207,
)  # fmt: skip

#: SigLinDe profile by building class: EFH = single-family home, MFH = multi-family house
BY_BUILDING_CLASS: dict[str, SigLinDe] = {"EFH": HEF33, "MFH": HMF33}


def weekday_of(local_day: Array | int) -> Array:
    """Day of the week (0 = Monday) of local days since 1970-01-01 (a Thursday)."""
    out: Array = (np.asarray(local_day, dtype=np.int64) + 3) % 7
    return out
