"""The fidelity report as text: one block per group, every number with its reference beside it."""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """The report of :func:`metersim.calibrate.report.group_report` entries, as lines of text."""
    lines = [f"fidelity of {report['scenario']}: {report['start']} .. {report['end']} ({report['days']:g} days)"]
    if report.get("reference_note"):
        lines.append(f"  note: {report['reference_note']}")
    for g in report["groups"]:
        lines += ["", *_group(g)]
    return "\n".join(lines) + "\n"


def _group(g: dict[str, Any]) -> list[str]:
    head = f"{g['group']} ({g['commodity']}, profile {g['profile']}, {g['interval_s']} s)"
    lines = [f"{head}: {g['meters']} of {g['group_meters']} meters"]
    e = g["energy"]
    lines.append(
        f"  energy per meter: {_f(e['per_meter'], 1)} {e['unit']} over the run, {_f(e['annualised'], 0)} {e['unit']}/a"
        + (f" (configured {e['configured']:g})" if e.get("configured") is not None else "")
    )
    ref = g.get("reference")
    if ref is not None:
        lines.append(f"  BDEW reference {ref['profile'].upper()}: {ref['why']}")
        lines.append("  cell                    r     MAD   (MAD as a fraction of the daily mean)")
        for c in g["cells"]:
            lines.append(f"    {c['season']:<10} {c['day']:<9} {_f(c['r'], 3):>6} {_f(c['mad'], 3):>6}")
        lines.append("  day-type energy         Sat/WD (BDEW)   Sun/WD (BDEW)")
        for season, v in g["day_ratios"].items():
            lines.append(
                f"    {season:<19} {_f(v['saturday'], 3):>6} ({_f(v['bdew_saturday'], 3)})"
                f"   {_f(v['sunday'], 3):>6} ({_f(v['bdew_sunday'], 3)})"
            )
    s = g["seasonality"]
    line = f"  seasonality Jan/Jul: {_f(s['jan_jul'])}"
    if "reference_jan_jul" in s:
        line += f" (BDEW {ref['profile'].upper() if ref else ''} on the same days: {_f(s['reference_jan_jul'])})"
    lines.append(line)
    t = g.get("temperature")
    if t:
        parts = [
            f"{k} r {_f(v['r'])} ({v['days']} d, {_f(v['t_min'], 1)}..{_f(v['t_max'], 1)} C, "
            f"{_f(v['slope_per_degc'], 3)} {e['unit']}/d/C)"
            for k, v in t.items()
        ]
        lines.append("  daily load vs daily mean temperature: " + parts[0])
        lines += [f"    {p}" for p in parts[1:]]
    pv = g.get("pv")
    if pv:
        lines.append(
            f"  PV yield: {_f(pv['kwh_per_kwp_fleet'], 0)} kWh/kWp over the run (fleet), median "
            f"{_f(pv['kwh_per_kwp_median'], 0)}, {_f(pv['kwh_per_kwp_min'], 0)}..{_f(pv['kwh_per_kwp_max'], 0)}"
            f" over {pv['meters']} PV meters"
        )
    gas = g.get("gas")
    if gas:
        cold = gas["coldest_day"]
        if cold:
            lines.append(
                f"  gas: coldest day {cold['date']} ({_f(cold['temperature_c'], 1)} C) {_f(cold['per_meter'], 2)} "
                f"m3/meter; highest day {_f(gas['max_day_per_meter'], 2)} m3/meter"
            )
        lines.append(f"  gas: July night hours (00-05 local) reading zero: {_f(gas['july_night_zero_share'], 3)}")
    d = g.get("diversity")
    if d:
        unit = "kW" if g["commodity"] == "electricity" else "m3/h"
        lines.append(
            f"  diversity: coincidence factor {_f(d['coincidence_factor'], 3)} ({d['coincidence_meters']} meters, "
            f"{g['interval_s']} s); individual-to-fleet r median {_f(d['individual_to_fleet_median_r'], 3)}; "
            f"interval peaks median {_f(d['peak_median'])} {unit}, max {_f(d['peak_max'])} {unit}"
        )
    return lines
