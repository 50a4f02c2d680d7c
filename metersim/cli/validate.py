"""``metersim validate``: check scenario files without running them."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from metersim.cli.common import add_overrides
from metersim.config import load_scenario
from metersim.errors import ConfigError


def add_parser(sub: Any) -> None:
    validate = sub.add_parser("validate", help="check scenario files; exit 0 if all are valid, else 2")
    validate.add_argument("files", nargs="+", metavar="FILE")
    add_overrides(validate)


def main(args: argparse.Namespace, console: Console) -> int:
    status = 0
    for file in args.files:
        try:
            scenario = load_scenario(file, args.overrides)
        except ConfigError as exc:
            status = ConfigError.exit_code
            for problem in exc.problems:
                console.print(f"{file}: {problem}", markup=False, highlight=False, soft_wrap=True)
            continue
        groups = len(scenario.fleet)
        console.print(f"{file}: ok ({scenario.meter_count:,} meters in {groups} group(s))", markup=False)
    return status
