"""``metersim calibrate``: simulate a scenario (outputs discarded) and print its fidelity report.

For each group (its first ``--meters`` meters): shapes per BDEW cell against the nearest BDEW profile,
day-type energy ratios, Jan/Jul seasonality, daily load against temperature, PV yield per kWp, gas
figures, the coincidence factor and the individual-to-fleet correlation (see
:mod:`metersim.calibrate.report`). Groups larger than ``--meters`` are simulated at that size (the
statistics are per meter, and a smaller fleet runs faster); ``--duration`` sets the span (a year is
what the references describe: shorter runs leave cells and seasons empty).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from metersim.cli.common import add_scenarios, error, load, scenario_name, stop_status
from metersim.cli.writable import check_writable
from metersim.errors import ConfigError, MissingDependencyError


def add_parser(sub: Any) -> None:
    calibrate = sub.add_parser(
        "calibrate", help="simulate a scenario and print its fidelity against the BDEW tables and other references"
    )
    add_scenarios(calibrate)
    calibrate.add_argument(
        "--meters", type=int, default=300, metavar="N", help="meters per group to simulate and measure (default 300)"
    )
    calibrate.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    calibrate.add_argument("--figure", metavar="PATH", help="draw the 9 BDEW cells (ours against the reference)")
    calibrate.add_argument("--bdew", metavar="CSV", help="BDEW tables (default: the package's copy)")
    calibrate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace, console: Console) -> int:
    if args.meters < 2:
        error(console, f"--meters {args.meters}: must be at least 2")
        return ConfigError.exit_code
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    capped = [f"fleet.{i}.count={args.meters}" for i, g in enumerate(scenario.fleet) if g.count > args.meters]
    if capped:  # validated again at the smaller size (grids, linked gas groups)
        args.overrides = [*args.overrides, *capped]
        scenario = load(args, console)
        if scenario is None:
            return ConfigError.exit_code
    check_writable(
        [(name, path) for name, path in (("the JSON report", args.json), ("the figure", args.figure)) if path]
    )
    if args.figure:  # before the run, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise MissingDependencyError("plotting", "matplotlib", "plot") from None
    from metersim.calibrate import SeriesCollector, format_report, group_report, load_bdew
    from metersim.calibrate.collect import GroupSeries
    from metersim.fleet import build_attributes
    from metersim.parameters import country_of
    from metersim.simulation import Simulation

    tables, note = None, None
    try:
        tables = load_bdew(args.bdew)
    except ConfigError as exc:
        note = f"{exc}: BDEW cells not compared"
    seed = scenario.simulation.seed
    wanted = {}
    for group in scenario.fleet:
        climate = scenario.all_regions[group.region] if group.region else None
        n = min(group.count, args.meters)
        # the same draw as the run's own (build_groups): attributes are addressable by (seed, group, chunk)
        kwp = build_attributes(group, seed).pv_kwp[:n]
        wanted[group.name] = GroupSeries(
            name=group.name,
            commodity=group.commodity,
            profile=str(getattr(group, "profile", "")),
            interval_s=group.interval_s,
            timezone=group.timezone,
            country=country_of(group, climate),
            group_count=group.count,
            kwp=kwp,
        )
    collector = SeriesCollector(wanted)
    simulation = Simulation(
        scenario.without_outputs(),
        name=scenario_name(args),
        observers=[collector],
        console=console,
        progress=not args.quiet,
    )
    simulation.run()
    report: dict[str, Any] = {
        "scenario": scenario_name(args),
        "start": simulation.report.start,
        "end": simulation.report.end,
        "days": round(scenario.simulation.duration_s / 86400, 3),
        "meters_per_group": args.meters,
        "reference_note": note,
        "groups": [],
    }
    for group, series in zip(scenario.fleet, collector.series()):
        entry = group_report(series, tables)
        entry["energy"]["configured"] = group.annual_kwh if group.commodity == "electricity" else group.annual_m3
        report["groups"].append(entry)
    sys.stdout.write(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
            handle.write("\n")
    if args.figure:
        from metersim.calibrate.figure import draw_cells

        draw_cells(report, args.figure)
    return stop_status(simulation)
