"""Daily load shapes: hourly knots per profile and day type, resampled to any interval.

Each curve is a list of 24 relative weights for the hours starting at 00:00, 01:00, ... local time.
Only the shape matters: :func:`resample` normalises every curve to mean 1 over the day, and the day's
energy level comes from the day-type weights and the monthly factors.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from metersim._array import Array
from metersim.calendar import SATURDAY, SUNDAY_HOLIDAY, WEEKDAY
from metersim.timebase import SECONDS_PER_DAY

# Electricity, by profile and day type (weekday, saturday, sunday/holiday).
ELECTRICITY: dict[str, dict[int, list[float]]] = {
    "household": {
        WEEKDAY: [0.55, 0.48, 0.45, 0.44, 0.45, 0.55, 0.85, 1.15, 1.20, 1.05, 0.95, 0.92,
                  0.95, 0.93, 0.88, 0.90, 1.00, 1.25, 1.60, 1.80, 1.75, 1.50, 1.10, 0.75],
        SATURDAY: [0.62, 0.52, 0.47, 0.45, 0.45, 0.50, 0.65, 0.85, 1.10, 1.25, 1.25, 1.20,
                   1.15, 1.05, 0.98, 0.98, 1.05, 1.25, 1.55, 1.70, 1.65, 1.45, 1.15, 0.85],
        SUNDAY_HOLIDAY: [0.65, 0.55, 0.48, 0.45, 0.45, 0.48, 0.58, 0.78, 1.05, 1.25, 1.35, 1.35,
                         1.30, 1.15, 1.02, 0.98, 1.02, 1.20, 1.50, 1.65, 1.60, 1.40, 1.10, 0.80],
    },
    "commercial": {
        WEEKDAY: [0.35, 0.33, 0.32, 0.32, 0.33, 0.40, 0.65, 1.10, 1.55, 1.70, 1.75, 1.75,
                  1.65, 1.70, 1.72, 1.70, 1.62, 1.45, 1.10, 0.80, 0.60, 0.48, 0.40, 0.37],
        SATURDAY: [0.40, 0.38, 0.37, 0.37, 0.38, 0.42, 0.55, 0.85, 1.25, 1.50, 1.60, 1.60,
                   1.55, 1.45, 1.30, 1.15, 1.00, 0.85, 0.70, 0.60, 0.52, 0.46, 0.42, 0.40],
        SUNDAY_HOLIDAY: [0.85, 0.84, 0.83, 0.83, 0.84, 0.86, 0.92, 0.98, 1.05, 1.12, 1.16, 1.18,
                         1.18, 1.16, 1.13, 1.10, 1.06, 1.03, 1.00, 0.97, 0.94, 0.90, 0.88, 0.86],
    },
    # Tube wells and pumps: daytime-heavy, with night irrigation where daytime supply is unreliable.
    "agricultural": {
        WEEKDAY: [0.70, 0.70, 0.68, 0.66, 0.66, 0.80, 1.05, 1.25, 1.35, 1.38, 1.38, 1.35,
                  1.30, 1.30, 1.32, 1.30, 1.22, 1.08, 0.92, 0.85, 0.80, 0.76, 0.74, 0.72],
        SATURDAY: [0.72, 0.71, 0.69, 0.67, 0.67, 0.80, 1.02, 1.22, 1.32, 1.35, 1.35, 1.32,
                   1.28, 1.28, 1.30, 1.28, 1.20, 1.07, 0.92, 0.86, 0.81, 0.77, 0.75, 0.73],
        SUNDAY_HOLIDAY: [0.75, 0.74, 0.72, 0.70, 0.70, 0.80, 0.98, 1.15, 1.25, 1.28, 1.28, 1.26,
                         1.23, 1.23, 1.25, 1.23, 1.16, 1.05, 0.93, 0.88, 0.83, 0.79, 0.77, 0.76],
    },
}  # fmt: skip

# Relative daily energy by day type (before normalisation over the year).
DAY_WEIGHTS: dict[str, dict[int, float]] = {
    "household": {WEEKDAY: 1.00, SATURDAY: 1.06, SUNDAY_HOLIDAY: 1.10},
    "commercial": {WEEKDAY: 1.00, SATURDAY: 0.60, SUNDAY_HOLIDAY: 0.32},
    "agricultural": {WEEKDAY: 1.00, SATURDAY: 0.97, SUNDAY_HOLIDAY: 0.90},
}

# Water heating (electric geysers, gas boilers): morning and evening draws.
HOT_WATER = [0.30, 0.20, 0.15, 0.15, 0.25, 0.90, 2.40, 2.60, 1.80, 1.00, 0.70, 0.60,
             0.65, 0.55, 0.50, 0.55, 0.70, 1.10, 1.50, 1.70, 1.60, 1.30, 0.90, 0.50]  # fmt: skip
# Cooking gas: breakfast, lunch and dinner.
COOKING = [0.05, 0.05, 0.05, 0.05, 0.10, 0.60, 1.90, 2.20, 1.10, 0.50, 0.60, 1.60,
           2.30, 1.40, 0.50, 0.40, 0.70, 1.60, 2.60, 2.50, 1.20, 0.40, 0.15, 0.05]  # fmt: skip
# Space heating: night set-back, morning warm-up, evening peak.
HEATING = [0.70, 0.65, 0.62, 0.62, 0.68, 0.95, 1.35, 1.40, 1.20, 1.05, 0.98, 0.95,
           0.92, 0.92, 0.95, 1.00, 1.08, 1.20, 1.30, 1.32, 1.28, 1.15, 0.95, 0.78]  # fmt: skip


@cache
def resample(hourly: tuple[float, ...], interval_s: int) -> Array:
    """Mean of a 24-knot curve over each interval of the day, normalised to mean 1.

    The curve is linear between knots placed at the middle of each hour. Returns
    ``86400 // interval_s`` factors [-].
    """
    knots = np.array(hourly, dtype=float)
    minutes = np.arange(24 * 60) + 0.5
    per_minute = np.interp(minutes / 60.0, np.arange(25) + 0.5, np.append(knots, knots[0]), period=24)
    slots = SECONDS_PER_DAY // interval_s
    if interval_s % 60 == 0:
        per_slot = per_minute.reshape(slots, -1).mean(axis=1)
    else:  # sub-minute intervals: sample the curve at each slot
        per_slot = per_minute[(np.arange(slots) * interval_s) // 60]
    normalised: Array = per_slot / per_slot.mean()
    normalised.setflags(write=False)
    return normalised


def electricity_shape(profile: str, day_type: int, interval_s: int) -> Array:
    """Per-interval factors (mean 1) of an electricity profile on a day type."""
    return resample(tuple(ELECTRICITY[profile][day_type]), interval_s)


def fixed_shape(curve: list[float], interval_s: int) -> Array:
    """Per-interval factors (mean 1) of one of the module's fixed curves."""
    return resample(tuple(curve), interval_s)
