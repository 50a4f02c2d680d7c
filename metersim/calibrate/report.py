"""The fidelity report of collected series: a JSON-ready mapping per group, and its text form.

What each entry measures (see :mod:`metersim.calibrate.measures` for the arithmetic):

- ``cells``: electricity groups, per BDEW season x day type, the fleet's mean daily profile (mean over
  collected meters and the cell's days, per local slot) against the BDEW reference cell: r and the mean
  absolute deviation as a fraction of the daily mean.
- ``day_ratios``: per season, the mean daily energy of Saturdays and of Sundays/holidays over workdays
  (full local days only), ours and the reference table's.
- ``energy``: mean energy per collected meter over the run, annualised (x 365.25 / days); the configured
  ``annual_kwh``/``annual_m3`` beside it.
- ``seasonality``: mean daily energy in January over July (only when the run covers both); for H0 the
  reference includes BDEW's dynamisation on the run's own days.
- ``temperature``: per meteorological season, Pearson r of the fleet's daily energy against the daily mean
  air temperature, with the slope [unit per meter and degC].
- ``pv``: generation per kWp over the run [kWh/kWp], per PV meter (median, range) and for the fleet.
- ``gas``: the coldest day's volume per meter (the day of the lowest daily mean temperature) and the share
  of July night hours (local 00:00-05:00) that read zero.
- ``diversity``: the coincidence factor of the first 100 meters (group peak / sum of individual peaks, at
  the group's interval) and the median correlation of a meter's mean daily profile with the fleet's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metersim.calibrate import measures as m
from metersim.calibrate.collect import GroupSeries
from metersim.calibrate.references import DAYS, SEASONS, BdewTables, at_interval, bdew_seasons, h0_dynamisation
from metersim.calibrate.references import reference_for as nearest

#: households for the coincidence factor (the issue's "100 homes")
COINCIDENCE_METERS = 100
_MET_SEASONS = ("DJF", "MAM", "JJA", "SON")


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def group_report(series: GroupSeries, tables: BdewTables | None) -> dict[str, Any]:
    """Every measure of one group (None where a measure does not apply or the run is too short)."""
    s = series
    day, slot, dtype, month, mday = s.local()
    season = bdew_seasons(month, mday)
    fleet = s.load.mean(axis=1) if s.meters else np.zeros(len(s.start_s))
    days, daily = m.daily_totals(fleet, day, s.interval_s)
    idx = np.searchsorted(day, days)  # each full day's first interval (days ascend with time)
    span_days = len(s.start_s) * s.interval_s / 86400
    out: dict[str, Any] = {
        "group": s.name,
        "commodity": s.commodity,
        "profile": s.profile,
        "interval_s": s.interval_s,
        "meters": s.meters,
        "group_meters": s.group_count,
        "days": round(span_days, 3),
    }
    unit = "kWh" if s.commodity == "electricity" else "m3"
    per_meter = float(fleet.sum())
    out["energy"] = {
        "unit": unit,
        "per_meter": _num(per_meter),
        "annualised": _num(per_meter * 365.25 / span_days) if span_days else None,
    }
    out["seasonality"] = {"jan_jul": _num(m.month_ratio(daily, month[idx])) if len(days) else None}
    out["reference"] = None
    slots = 86400 // s.slot_s
    if s.commodity == "electricity" and tables is not None and s.meters and 86400 % s.slot_s == 0:
        code, why = nearest(s.profile)
        if code in tables.profiles() and s.slot_s % 900 == 0:
            out["reference"] = {"profile": code, "why": why, "path": tables.path}
            ref = np.array([[at_interval(tables.cell(code, se, d), s.slot_s) for d in DAYS] for se in SEASONS])
            _cells(out, fleet, season, dtype, slot, slots, ref)
            _day_ratios(out, daily, season[idx], dtype[idx], ref)
            refdaily = ref.sum(axis=2)[season[idx], dtype[idx]]
            if code == "h0":  # BDEW's H0 is dynamised by the day of the year
                doy = (days.astype("datetime64[D]") - days.astype("datetime64[D]").astype("datetime64[Y]")).astype(int)
                refdaily = refdaily * h0_dynamisation(doy + 1)
            out["seasonality"]["reference_jan_jul"] = _num(m.month_ratio(refdaily, month[idx])) if len(days) else None
    out["temperature"] = _temperature(s, fleet, day, days, daily, month[idx])
    out["pv"] = _pv(s)
    out["gas"] = _gas(s, day, days, daily, month, slot) if s.commodity == "gas" else None
    out["diversity"] = _diversity(s, slot, slots)
    return out


def _cells(out: dict[str, Any], fleet: Any, season: Any, dtype: Any, slot: Any, slots: int, ref: Any) -> None:
    means, counts = m.cell_profiles(fleet, season * 3 + dtype, slot, 9, slots)
    cells = []
    for c in range(9):
        se, d = SEASONS[c // 3], DAYS[c % 3]
        entry: dict[str, Any] = {"season": se, "day": d, "intervals": int(counts[c].sum())}
        if counts[c].all():
            r, mad = m.shape_agreement(means[c], ref[c // 3, c % 3])
            entry.update(r=_num(r), mad=_num(mad))
            entry["ours"] = [round(float(v), 4) for v in m.normalised(means[c])]
            entry["bdew"] = [round(float(v), 4) for v in m.normalised(ref[c // 3, c % 3])]
        else:
            entry.update(r=None, mad=None)
        cells.append(entry)
    out["cells"] = cells


def _day_ratios(out: dict[str, Any], daily: Any, season: Any, dtype: Any, ref: Any) -> None:
    ratios = {}
    for k, name in enumerate(SEASONS):
        pick = season == k
        sat, sun = m.day_type_ratios(daily[pick], dtype[pick]) if pick.any() else (math.nan, math.nan)
        totals = ref[k].sum(axis=1)
        ratios[name] = {
            "saturday": _num(sat),
            "sunday": _num(sun),
            "bdew_saturday": _num(totals[1] / totals[0]),
            "bdew_sunday": _num(totals[2] / totals[0]),
        }
    out["day_ratios"] = ratios


def _daily_temperature(s: GroupSeries, day: Any, days: Any) -> Any:
    means, _ = m.mean_by(np.nan_to_num(s.temperature_c, nan=0.0), day - day.min(), int(day.max() - day.min() + 1))
    known, _ = m.mean_by(np.isfinite(s.temperature_c), day - day.min(), int(day.max() - day.min() + 1))
    t = means[days - day.min()]
    return np.where(known[days - day.min()] == 1, t, np.nan)


def _temperature(s: GroupSeries, fleet: Any, day: Any, days: Any, daily: Any, months: Any) -> dict[str, Any] | None:
    if not len(days) or not np.isfinite(s.temperature_c).any():
        return None
    t = _daily_temperature(s, day, days)
    seasons = m.meteorological_seasons(months)
    out: dict[str, Any] = {}
    for k, name in [(-1, "all"), *enumerate(_MET_SEASONS)]:
        pick = np.isfinite(t) & ((seasons == k) if k >= 0 else True)
        if pick.sum() < 3:
            continue
        slope, _ = m.linear_fit(t[pick], daily[pick])
        out[name] = {
            "days": int(pick.sum()),
            "r": _num(m.pearson(t[pick], daily[pick])),
            "slope_per_degc": _num(slope),
            "t_min": _num(float(t[pick].min())),
            "t_max": _num(float(t[pick].max())),
        }
    return out


def _pv(s: GroupSeries) -> dict[str, Any] | None:
    has = s.kwp > 0
    if s.commodity != "electricity" or not has.any():
        return None
    per = s.generation_kwh[has] / s.kwp[has]
    return {
        "meters": int(has.sum()),
        "kwh_per_kwp_median": _num(float(np.median(per))),
        "kwh_per_kwp_min": _num(float(per.min())),
        "kwh_per_kwp_max": _num(float(per.max())),
        "kwh_per_kwp_fleet": _num(float(s.generation_kwh[has].sum() / s.kwp[has].sum())),
    }


def _gas(s: GroupSeries, day: Any, days: Any, daily: Any, month: Any, slot: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"coldest_day": None}
    if len(days) and np.isfinite(s.temperature_c).any():
        t = _daily_temperature(s, day, days)
        if np.isfinite(t).any():
            k = int(np.nanargmin(t))
            out["coldest_day"] = {
                "date": str(np.datetime64(int(days[k]), "D")),
                "temperature_c": _num(float(t[k])),
                "per_meter": _num(float(daily[k])),
            }
    out["max_day_per_meter"] = _num(float(daily.max())) if len(days) else None
    night = (month == 7) & (slot * s.slot_s < 5 * 3600)
    out["july_night_zero_share"] = _num(m.zero_share(s.load[night])) if night.any() else None
    return out


def _diversity(s: GroupSeries, slot: Any, slots: int) -> dict[str, Any] | None:
    if s.meters < 2 or not len(s.start_s):
        return None
    r = m.individual_to_fleet(s.load, slot, slots)
    n = min(COINCIDENCE_METERS, s.meters)
    return {
        "coincidence_meters": n,
        "coincidence_factor": _num(m.coincidence_factor(s.load[:, :n])),
        "peak_median": _num(float(np.median(s.load.max(axis=0))) * 3600 / s.interval_s),
        "peak_max": _num(float(s.load.max()) * 3600 / s.interval_s),
        "individual_to_fleet_median_r": _num(float(np.nanmedian(r))) if np.isfinite(r).any() else None,
    }
