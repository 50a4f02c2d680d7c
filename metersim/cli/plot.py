"""``metersim plot``: simulate a scenario and draw its load, weather and PV export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.cli.common import add_overrides, load
from metersim.errors import ConfigError


def add_parser(sub: Any) -> None:
    plot = sub.add_parser("plot", help="simulate a scenario and draw its load, weather and PV export")
    plot.add_argument("scenario", help="scenario YAML file")
    plot.add_argument("--out", required=True, metavar="PATH", help="picture file, e.g. fleet.png")
    add_overrides(plot)
    plot.add_argument("--quiet", action="store_true")


def main(args: argparse.Namespace, console: Console) -> int:
    from metersim.plot import plot_scenario

    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    plot_scenario(scenario, args.out, name=Path(args.scenario).name, console=console, progress=not args.quiet)
    if not args.quiet:
        console.print(f"plot written to {args.out}", markup=False, highlight=False)
    return 0
