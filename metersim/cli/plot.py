"""``metersim plot``: simulate a scenario and draw its load, weather and PV export."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from metersim.cli.common import add_scenarios, load, scenario_name
from metersim.cli.writable import check_writable
from metersim.errors import ConfigError


def add_parser(sub: Any) -> None:
    plot = sub.add_parser("plot", help="simulate a scenario and draw its load, weather and PV export")
    add_scenarios(plot)
    plot.add_argument("-o", "--out", required=True, metavar="PATH", help="picture file, e.g. fleet.png")
    plot.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    check_writable([("the plot", args.out)])
    from metersim.plot import plot_scenario

    plot_scenario(scenario, args.out, name=scenario_name(args), console=console, progress=not args.quiet)
    if not args.quiet:
        console.print(f"plot written to {args.out}", markup=False, highlight=False)
    return 0
