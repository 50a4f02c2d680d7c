"""``metersim run``: run a scenario into its outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.cli.common import add_overrides, error, load
from metersim.errors import EXIT_INTERRUPTED, ConfigError, MetersimError


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("scenario", help="scenario YAML file")
    add_overrides(run)
    run.add_argument("--report", metavar="PATH", help="write the run report as JSON")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")


def main(args: argparse.Namespace, console: Console) -> int:
    from metersim.simulation import Simulation  # keeps `validate` and `schema` quick to start

    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    simulation = Simulation(scenario, name=Path(args.scenario).name, console=console, progress=not args.quiet)
    failure: MetersimError | None = None
    try:
        simulation.run()
    except MetersimError as exc:
        failure = exc
        error(console, str(exc))
    report = simulation.report
    if not args.quiet:
        console.print(report.table())
    if args.report:
        try:
            report.write(args.report)
        except MetersimError as exc:
            error(console, str(exc))
            return failure.exit_code if failure else exc.exit_code
    if failure is not None:
        return failure.exit_code
    return EXIT_INTERRUPTED if simulation.interrupted else 0
