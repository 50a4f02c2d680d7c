"""The first load model: a daily household curve with per-meter scale and lognormal noise.

Pure numpy. The engine calls :func:`interval_amounts` once per group and interval; a richer model
only has to provide a function with the same signature (see :data:`LoadModel`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from metersim.timebase import SECONDS_PER_DAY

DAYS_PER_YEAR = 365.2425

# Hourly weights (local time, hour starting at the index); only their shape matters.
_ELECTRICITY_HOURLY = np.array(
    [0.55, 0.48, 0.45, 0.44, 0.45, 0.55, 0.85, 1.15, 1.20, 1.05, 0.95, 0.92,
     0.95, 0.93, 0.88, 0.90, 1.00, 1.25, 1.60, 1.80, 1.75, 1.50, 1.10, 0.75]
)  # fmt: skip
_GAS_HOURLY = np.array(
    [0.45, 0.40, 0.40, 0.40, 0.45, 0.75, 1.45, 1.70, 1.45, 1.10, 0.95, 0.90,
     1.00, 0.90, 0.85, 0.90, 1.05, 1.35, 1.55, 1.50, 1.30, 1.05, 0.80, 0.55]
)  # fmt: skip
# Gas heating peaks in mid-January (northern hemisphere); amplitude as a fraction of the mean.
_GAS_SEASONAL_AMPLITUDE = 0.6
_GAS_PEAK_DAY = 15


@dataclass(frozen=True)
class IntervalContext:
    """What a load model needs to know about one interval of one group."""

    interval_s: int  # [s]
    local_start_s: int  # local wall-clock seconds since the epoch at the interval start [s]


LoadModel = Callable[[str, float, IntervalContext, np.ndarray, np.ndarray], np.ndarray]


def daily_shape(commodity: str, interval_s: int) -> np.ndarray:
    """Mean of the daily curve over each interval of the day, normalised to mean 1.

    Returns ``86400 // interval_s`` factors; the curve is linear between hourly knots.
    """
    hourly = _ELECTRICITY_HOURLY if commodity == "electricity" else _GAS_HOURLY
    minutes = np.arange(24 * 60) + 0.5
    per_minute = np.interp(minutes / 60.0, np.arange(25) + 0.5, np.append(hourly, hourly[0]), period=24)
    slots = SECONDS_PER_DAY // interval_s
    if interval_s % 60 == 0:
        per_slot = per_minute.reshape(slots, -1).mean(axis=1)
    else:  # sub-minute intervals: sample the curve at each slot
        per_slot = per_minute[(np.arange(slots) * interval_s) // 60]
    normalised: np.ndarray = per_slot / per_slot.mean()
    return normalised


def seasonal_factor(commodity: str, day_of_year: float) -> float:
    """Multiplier on the mean for that day; averages to 1 over a year."""
    if commodity != "gas":
        return 1.0
    phase = 2 * math.pi * (day_of_year - _GAS_PEAK_DAY) / DAYS_PER_YEAR
    return 1.0 + _GAS_SEASONAL_AMPLITUDE * math.cos(phase)


_SHAPES: dict[tuple[str, int], np.ndarray] = {}


def interval_amounts(
    commodity: str,
    annual_amount: float,
    ctx: IntervalContext,
    scale: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Consumption of each meter in one interval [kWh or m3].

    ``scale`` is each meter's annual scale (mean 1); ``noise`` is a multiplicative factor with mean 1.
    """
    key = (commodity, ctx.interval_s)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _SHAPES[key] = daily_shape(commodity, ctx.interval_s)
    slot = (ctx.local_start_s % SECONDS_PER_DAY) // ctx.interval_s
    day_of_year = time.gmtime(ctx.local_start_s).tm_yday - 1 + (ctx.local_start_s % SECONDS_PER_DAY) / SECONDS_PER_DAY
    mean = annual_amount * ctx.interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    level = mean * float(shape[slot]) * seasonal_factor(commodity, day_of_year)
    amounts: np.ndarray = level * scale * noise
    return amounts
