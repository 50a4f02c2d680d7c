"""Fidelity metrics over interval series: pure numpy, no metersim model or config.

Conventions: ``load`` is a (intervals, meters) array of energy or volume per interval [kWh or m3];
``slot`` is each interval's slot of the local day (0-based), ``day`` its local day (integer days since
1970-01-01 in local time), ``cell`` any integer class of the interval (e.g. season x day type).
Shapes are compared as multiples of their own daily mean, so that scale (annual energy, dynamisation)
drops out: the correlation is Pearson's r, the deviation the mean absolute difference of the two
normalised curves, i.e. a fraction of the daily mean.
"""

from __future__ import annotations

import numpy as np

from metersim._array import Array


def pearson(x: Array, y: Array) -> float:
    """Pearson's r of two equal-length series; nan with fewer than 3 points or a constant series."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def normalised(curve: Array) -> Array:
    """The curve as a multiple of its mean [-]."""
    c = np.asarray(curve, dtype=float)
    mean = c.mean()
    return c / mean if mean else np.full(c.shape, np.nan)


def shape_agreement(ours: Array, reference: Array) -> tuple[float, float]:
    """(r, mean absolute deviation as a fraction of the daily mean) of two daily curves of one length."""
    a, b = normalised(ours), normalised(reference)
    return pearson(a, b), float(np.mean(np.abs(a - b)))


def mean_by(values: Array, keys: Array, size: int) -> tuple[Array, Array]:
    """(mean of ``values`` per key 0..size-1, count per key); nan where a key has no value."""
    k = np.asarray(keys, dtype=np.int64)
    sums = np.bincount(k, weights=np.asarray(values, dtype=float), minlength=size)[:size]
    counts = np.bincount(k, minlength=size)[:size]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan), counts


def cell_profiles(fleet: Array, cell: Array, slot: Array, cells: int, slots: int) -> tuple[Array, Array]:
    """Mean of ``fleet`` (one value per interval) per (cell, slot): (cells, slots) means and counts.

    A slot seen twice on a day (the repeated hour of a DST change) counts twice; one not seen is not counted.
    """
    means, counts = mean_by(fleet, np.asarray(cell) * slots + np.asarray(slot), cells * slots)
    return means.reshape(cells, slots), counts.reshape(cells, slots)


def daily_totals(fleet: Array, day: Array, interval_s: int, min_hours: float = 23.0) -> tuple[Array, Array]:
    """(local days, total per day) of the days covered for at least ``min_hours`` (DST days have 23 h)."""
    d = np.asarray(day, dtype=np.int64)
    if d.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    first = int(d.min())
    sums = np.bincount(d - first, weights=np.asarray(fleet, dtype=float))
    seconds = np.bincount(d - first) * interval_s
    full = seconds >= min_hours * 3600
    return np.flatnonzero(full) + first, sums[full]


def day_type_ratios(daily: Array, day_types: Array) -> tuple[float, float]:
    """(Saturday / workday, Sunday+holiday / workday) of the mean daily energy; day types 0, 1, 2."""
    means, _ = mean_by(daily, day_types, 3)
    return float(means[1] / means[0]), float(means[2] / means[0])


def month_ratio(daily: Array, months: Array, top: int = 1, bottom: int = 7) -> float:
    """Mean daily energy of month ``top`` over that of month ``bottom`` (default January / July); nan if absent."""
    means, _ = mean_by(daily, np.asarray(months) - 1, 12)
    return float(means[top - 1] / means[bottom - 1])


def coincidence_factor(load: Array) -> float:
    """Group peak over the sum of individual peaks, at the series' own interval [-] (1 = all peak together)."""
    x = np.asarray(load, dtype=float)
    individual = x.max(axis=0).sum()
    return float(x.sum(axis=1).max() / individual) if individual > 0 else float("nan")


def meter_profiles(load: Array, slot: Array, slots: int) -> Array:
    """Each meter's mean daily profile: (slots, meters) mean of the intervals in each slot."""
    x = np.asarray(load, dtype=float)
    s = np.asarray(slot, dtype=np.int64)
    sums = np.zeros((slots, x.shape[1]))
    np.add.at(sums, s, x)
    counts = np.bincount(s, minlength=slots)[:slots]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def individual_to_fleet(load: Array, slot: Array, slots: int) -> Array:
    """Correlation of each meter's mean daily profile with the fleet's (the mean over meters), per meter;
    nan for a meter whose profile is flat."""
    profiles = meter_profiles(load, slot, slots)
    profiles = profiles[np.isfinite(profiles).all(axis=1)]
    fleet = profiles.mean(axis=1)
    a = profiles - profiles.mean(axis=0)
    b = fleet - fleet.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r: Array = (a * b[:, None]).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum())
    return r


def linear_fit(x: Array, y: Array) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line y = slope x + intercept; nan with < 2 points."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 2 or np.ptp(a) == 0:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(a, b, 1)
    return float(slope), float(intercept)


def meteorological_seasons(months: Array) -> Array:
    """0 DJF, 1 MAM, 2 JJA, 3 SON for months 1..12."""
    return (np.asarray(months, dtype=np.int64) % 12) // 3


def zero_share(values: Array) -> float:
    """Fraction of values that are exactly zero; nan for none."""
    v = np.asarray(values)
    return float((v == 0).mean()) if v.size else float("nan")
