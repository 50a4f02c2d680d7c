"""``metersim plot``: simulate a scenario and draw its load, weather and PV export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.cli.common import add_scenarios, load, scenario_name
from metersim.cli.writable import check_writable
from metersim.errors import ConfigError


def add_parser(sub: Any) -> None:
    plot = sub.add_parser("plot", help="simulate a scenario and draw its load, weather and PV export")
    add_scenarios(plot)
    plot.add_argument("-o", "--out", required=True, metavar="PATH", help="picture file, e.g. fleet.png")
    plot.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    check_format(args.out)
    check_writable([("the plot", args.out)])
    from metersim.plot import plot_scenario

    plot_scenario(scenario, args.out, name=scenario_name(args), console=console, progress=not args.quiet)
    if not args.quiet:
        console.print(f"plot written to {args.out}", markup=False, highlight=False)
    return 0


def check_format(out: str) -> None:
    """Raise ConfigError if matplotlib cannot write a picture named ``out`` (no suffix: PNG)."""
    suffix = Path(out).suffix.lower().removeprefix(".")
    if not suffix:
        return
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:  # plot_scenario says what to install
        return
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        known = ", ".join(f".{f}" for f in sorted(formats))
        raise ConfigError(f"--out {out}: matplotlib cannot write .{suffix} pictures; use one of {known}")
