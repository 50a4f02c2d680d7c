"""Command line: ``metersim run | validate | schema``.

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
from metersim.config import json_schema, load_scenario
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


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from metersim.runner import run_scenario  # keeps `validate` and `schema` quick to start

    try:
        scenario = load_scenario(args.scenario, args.overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            _error(console, f"{args.scenario}: {problem}")
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
