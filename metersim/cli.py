"""Command line: ``metersim run | validate | schema | bill | plot``.

Exit codes: 0 success, 2 invalid config, 3 broker unreachable, 4 TLS files, 5 output not writable,
6 delivery failed, 1 any other metersim error, 130 interrupted (after flushing).
User errors print one line each and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from metersim import __version__
from metersim.config import Scenario, json_schema, load_scenario
from metersim.errors import EXIT_INTERRUPTED, ConfigError, MetersimError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metersim", description="Simulate fleets of smart electricity and gas meters."
    )
    parser.add_argument("--version", action="version", version=f"metersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. simulation.duration=2d or fleet.0.count=50 (repeatable)",
    )
    run.add_argument("--report", metavar="PATH", help="write the run report as JSON")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")

    validate = sub.add_parser("validate", help="check scenario files; exit 0 if all are valid, else 2")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")

    bill = sub.add_parser("bill", help="simulate a scenario and write each tariffed meter's expected bills")
    bill.add_argument("scenario", help="scenario YAML file")
    bill.add_argument("--out", required=True, metavar="PATH", help="bills file: .csv or .parquet")
    bill.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    bill.add_argument("--quiet", action="store_true")

    plot = sub.add_parser("plot", help="simulate a scenario and draw its load, weather and PV export")
    plot.add_argument("scenario", help="scenario YAML file")
    plot.add_argument("--out", required=True, metavar="PATH", help="picture file, e.g. fleet.png")
    plot.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    plot.add_argument("--quiet", action="store_true")

    sub.add_parser("schema", help="print the JSON Schema of scenario files")
    return parser


def _error(console: Console, message: str) -> None:
    console.print(f"metersim: error: {message}", markup=False, highlight=False, soft_wrap=True)


def _cmd_validate(files: list[str], overrides: list[str], console: Console) -> int:
    status = 0
    for file in files:
        try:
            scenario = load_scenario(file, overrides)
        except ConfigError as exc:
            status = ConfigError.exit_code
            for problem in exc.problems:
                console.print(f"{file}: {problem}", markup=False, highlight=False, soft_wrap=True)
            continue
        groups = len(scenario.fleet)
        console.print(f"{file}: ok ({scenario.meter_count:,} meters in {groups} group(s))", markup=False)
    return status


def _load(args: argparse.Namespace, console: Console) -> Scenario | None:
    try:
        return load_scenario(args.scenario, args.overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            _error(console, f"{args.scenario}: {problem}")
        return None


def _cmd_bill(args: argparse.Namespace, console: Console) -> int:
    from metersim.runner import bill_scenario

    scenario = _load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    if not any(g.tariff for g in scenario.fleet):
        _error(console, f"{args.scenario}: no fleet group has a `tariff`, so there is nothing to bill")
        return ConfigError.exit_code
    outcome, count = bill_scenario(
        scenario, args.out, name=Path(args.scenario).name, console=console, progress=not args.quiet
    )
    if outcome.error is not None:
        _error(console, str(outcome.error))
        return outcome.error.exit_code
    if not args.quiet:
        console.print(f"{count:,} bills written to {args.out}", markup=False, highlight=False)
    return EXIT_INTERRUPTED if outcome.interrupted else 0


def _cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from metersim.plot import plot_scenario

    scenario = _load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    outcome = plot_scenario(scenario, args.out, name=Path(args.scenario).name)
    if outcome.error is not None:
        _error(console, str(outcome.error))
        return outcome.error.exit_code
    if not args.quiet:
        console.print(f"plot written to {args.out}", markup=False, highlight=False)
    return 0


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from metersim.runner import run_scenario  # keeps `validate` and `schema` quick to start

    scenario = _load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    outcome = run_scenario(scenario, name=Path(args.scenario).name, console=console, progress=not args.quiet)
    if outcome.error is not None:
        _error(console, str(outcome.error))
    if not args.quiet:
        console.print(outcome.report.table())
    if args.report:
        try:
            outcome.report.write(args.report)
        except MetersimError as exc:
            _error(console, str(exc))
            return outcome.error.exit_code if outcome.error else exc.exit_code
    if outcome.error is not None:
        return outcome.error.exit_code
    return EXIT_INTERRUPTED if outcome.interrupted else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        if args.command == "schema":
            sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
            return 0
        if args.command == "validate":
            return _cmd_validate(args.files, args.overrides, console)
        if args.command == "bill":
            return _cmd_bill(args, console)
        if args.command == "plot":
            return _cmd_plot(args, console)
        return _cmd_run(args, console)
    except KeyboardInterrupt:
        _error(console, "interrupted")
        return EXIT_INTERRUPTED
    except MetersimError as exc:
        _error(console, str(exc))
        return exc.exit_code


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
