"""``metersim validate``: check scenario files without running them."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from metersim.cli.common import add_overrides, load_paths
from metersim.config.load import scenario_source
from metersim.errors import ConfigError
from metersim.faults.plan import reference_problems


def add_parser(sub: Any) -> None:
    validate = sub.add_parser(
        "validate",
        help="check scenario files; exit 0 if all are valid, else 2",
        description="Check each scenario file on its own (they are not merged); - reads standard input.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    add_overrides(validate)


def main(args: argparse.Namespace, console: Console) -> int:
    status = 0
    for file in args.files:
        name = scenario_source([file])
        try:
            scenario = load_paths([file], args)
        except ConfigError as exc:
            status = ConfigError.exit_code
            for problem in exc.problems:
                console.print(f"{name}: {problem}", markup=False, highlight=False, soft_wrap=True)
            continue
        problems = reference_problems(scenario)
        if problems:
            status = ConfigError.exit_code
            for problem in problems:
                console.print(f"{name}: {problem}", markup=False, highlight=False, soft_wrap=True)
            continue
        groups = len(scenario.fleet)
        line = f"{name}: ok ({scenario.meter_count:,} meters in {groups} group(s))"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return status
