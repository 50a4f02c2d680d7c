"""Daily load shapes per profile, season and day type, resampled to any interval.

Two kinds of source:

* the BDEW standard load profiles H0, G0 and L0 (``bdew-h0``, ``bdew-g0``, ``bdew-l0``): 96 quarter-hour
  values per season and day type, shipped in ``metersim/data/bdew/profiles.csv`` (from demandlib 0.2.2,
  see its SOURCE.md), used as they are; H0 also gets the BDEW dynamisation polynomial per day;
* metersim's own South Asian curves (``household``, ``agricultural``): 24 hourly knots per day type
  (:data:`ELECTRICITY`), given BDEW's seasonal structure (the ratio of H0's, resp. L0's, season curve
  to its all-season mean, per quarter hour) and BDEW's day-type energy ratios; ``commercial`` is G0's
  shape and G0's own seasonality (no regional source for shops and offices in Pakistan was found).

Only the shape matters here: every curve is normalised to mean 1 over the day; the day's energy comes
from :func:`day_energy` (season x day type), the monthly factors and, for H0, :func:`dynamisation`.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np

from metersim._array import Array
from metersim.calendar import SATURDAY, SEASON_NAMES, SUNDAY_HOLIDAY, WEEKDAY
from metersim.timebase import SECONDS_PER_DAY

BDEW_CSV = Path(__file__).resolve().parent.parent / "data" / "bdew" / "profiles.csv"
BDEW_DAYS = ("workday", "saturday", "sunday")  # the CSV's day names, in calendar day-type order
BDEW_PROFILES = {"bdew-h0": "h0", "bdew-g0": "g0", "bdew-l0": "l0"}
PROFILES = ("household", "commercial", "agricultural", *BDEW_PROFILES)

# Electricity, by profile and day type (weekday, saturday, sunday/holiday); metersim's own hourly curves
# (``commercial`` is kept for reference only: the model uses G0 for it).
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

# Relative daily energy by day type of tube wells (irrigation barely rests at weekends; metersim's own).
DAY_WEIGHTS: dict[str, dict[int, float]] = {"agricultural": {WEEKDAY: 1.00, SATURDAY: 0.97, SUNDAY_HOLIDAY: 0.90}}

# Water heating (electric geysers, gas boilers): morning and evening draws.
HOT_WATER = [0.30, 0.20, 0.15, 0.15, 0.25, 0.90, 2.40, 2.60, 1.80, 1.00, 0.70, 0.60,
             0.65, 0.55, 0.50, 0.55, 0.70, 1.10, 1.50, 1.70, 1.60, 1.30, 0.90, 0.50]  # fmt: skip
# Cooking gas: breakfast, lunch and dinner.
COOKING = [0.05, 0.05, 0.05, 0.05, 0.10, 0.60, 1.90, 2.20, 1.10, 0.50, 0.60, 1.60,
           2.30, 1.40, 0.50, 0.40, 0.70, 1.60, 2.60, 2.50, 1.20, 0.40, 0.15, 0.05]  # fmt: skip
# Space heating: night set-back, morning warm-up, evening peak.
HEATING = [0.70, 0.65, 0.62, 0.62, 0.68, 0.95, 1.35, 1.40, 1.20, 1.05, 0.98, 0.95,
           0.92, 0.92, 0.95, 1.00, 1.08, 1.20, 1.30, 1.32, 1.28, 1.15, 0.95, 0.78]  # fmt: skip


def _per_minute_to_slots(per_minute: Array, interval_s: int) -> Array:
    slots = SECONDS_PER_DAY // interval_s
    if interval_s % 60 == 0:
        per_slot = per_minute.reshape(slots, -1).mean(axis=1)
    else:  # sub-minute intervals: sample the curve at each slot
        per_slot = per_minute[(np.arange(slots) * interval_s) // 60]
    normalised: Array = per_slot / per_slot.mean()
    normalised.setflags(write=False)
    return normalised


@cache
def resample(hourly: tuple[float, ...], interval_s: int) -> Array:
    """Mean of a 24-knot curve over each interval of the day, normalised to mean 1.

    The curve is linear between knots placed at the middle of each hour. Returns
    ``86400 // interval_s`` factors [-].
    """
    knots = np.array(hourly, dtype=float)
    minutes = np.arange(24 * 60) + 0.5
    per_minute = np.interp(minutes / 60.0, np.arange(25) + 0.5, np.append(knots, knots[0]), period=24)
    return _per_minute_to_slots(per_minute, interval_s)


def resample_quarter_hours(values: Array, interval_s: int) -> Array:
    """96 quarter-hour mean powers as per-interval factors (mean 1): constant within each quarter hour."""
    return _per_minute_to_slots(np.repeat(np.asarray(values, dtype=float), 15), interval_s)


@cache
def bdew_profile(name: str) -> Array:
    """A BDEW profile (``h0``, ``g0`` or ``l0``) as watts [W per 1,000 kWh/a], shape [season, day type, 96].

    Seasons in :data:`metersim.calendar.SEASON_NAMES` order, day types in calendar order (weekday,
    Saturday, Sunday/holiday); H0 before dynamisation. Raises KeyError for another name.
    """
    table = np.full((3, 3, 96), np.nan)
    with BDEW_CSV.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["profile"] == name:
                table[SEASON_NAMES.index(row["season"]), BDEW_DAYS.index(row["day"]), int(row["slot"])] = float(
                    row["watts"]
                )
    if np.isnan(table).any():
        raise KeyError(f"no complete BDEW profile {name!r} in {BDEW_CSV.name}")
    table.setflags(write=False)
    return table


def dynamisation(days_of_year: Array) -> Array:
    """BDEW's H0 dynamisation factor [-] for day of year t (1 = 1 January).

    F(t) = -3.92e-10 t^4 + 3.2e-7 t^3 - 7.02e-5 t^2 + 2.1e-3 t + 1.24 (BDEW/VDEW, "Anwendung der
    repräsentativen VDEW-Lastprofile step by step", 2000); from 0.785 in July to 1.257 in December.
    """
    t = np.asarray(days_of_year, dtype=float)
    out: Array = (((-3.92e-10 * t + 3.2e-7) * t - 7.02e-5) * t + 2.1e-3) * t + 1.24
    return out


def _bdew_source(profile: str) -> str:
    """The BDEW table whose seasonal structure a profile takes."""
    return BDEW_PROFILES.get(profile) or {"household": "h0", "commercial": "g0", "agricultural": "l0"}[profile]


@cache
def seasonal_shape(profile: str, season: int, day_type: int, interval_s: int) -> Array:
    """Per-interval factors (mean 1) of an electricity profile in a season on a day type."""
    table = bdew_profile(_bdew_source(profile))
    if profile in BDEW_PROFILES or profile == "commercial":
        return resample_quarter_hours(table[season, day_type], interval_s)
    # Own hourly curve x BDEW's seasonal modulation (season curve / mean of the three season curves).
    shapes = table[:, day_type] / table[:, day_type].mean(axis=1, keepdims=True)
    modulation = resample_quarter_hours(shapes[season] / shapes.mean(axis=0), interval_s)
    shaped = resample(tuple(ELECTRICITY[profile][day_type]), interval_s) * modulation
    out: Array = shaped / shaped.mean()
    out.setflags(write=False)
    return out


@cache
def shape_table(profile: str, interval_s: int) -> Array:
    """:func:`seasonal_shape` for every cell: shape [season, day type, intervals of the day]."""
    out = np.stack([np.stack([seasonal_shape(profile, s, d, interval_s) for d in range(3)]) for s in range(3)])
    out.setflags(write=False)
    return out


@cache
def day_energy(profile: str) -> Array:
    """Relative daily energy [-] by [season, day type], before normalisation over a year.

    BDEW profiles and ``commercial``: the table's own daily energies (seasons and day types).
    ``household``: H0's day-type ratios within each season, with no seasonal level (a region's monthly
    factors and the weather give that). ``agricultural``: :data:`DAY_WEIGHTS`, all seasons alike.
    """
    if profile == "agricultural":
        out = np.tile([DAY_WEIGHTS[profile][d] for d in range(3)], (3, 1)).astype(float)
    else:
        means = bdew_profile(_bdew_source(profile)).mean(axis=2)
        out = means / means.mean() if profile in BDEW_PROFILES or profile == "commercial" else means / means[:, :1]
    out.setflags(write=False)
    return out


def electricity_shape(profile: str, day_type: int, interval_s: int, season: int = 2) -> Array:
    """Per-interval factors (mean 1) of an electricity profile on a day type (default: transition season)."""
    return seasonal_shape(profile, season, day_type, interval_s)


def fixed_shape(curve: list[float], interval_s: int) -> Array:
    """Per-interval factors (mean 1) of one of the module's fixed curves."""
    return resample(tuple(curve), interval_s)
