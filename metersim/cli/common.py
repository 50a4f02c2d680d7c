"""What every verb shares: loading the scenario, one-line errors, the ``--set`` option."""

from __future__ import annotations

import argparse

from rich.console import Console

from metersim.config import DiscardOutput, Scenario, load_scenario
from metersim.errors import ConfigError


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. simulation.duration=2d or fleet.0.count=50 (repeatable)",
    )


def error(console: Console, message: str) -> None:
    console.print(f"metersim: error: {message}", markup=False, highlight=False, soft_wrap=True)


def load(args: argparse.Namespace, console: Console) -> Scenario | None:
    """The scenario named by ``args.scenario`` with ``args.overrides``, or None after printing why not."""
    try:
        return load_scenario(args.scenario, args.overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            error(console, f"{args.scenario}: {problem}")
        return None


def without_outputs(scenario: Scenario) -> Scenario:
    """The same scenario with every output and the ledger dropped: it publishes and writes nothing."""
    return scenario.model_copy(update={"outputs": [DiscardOutput(type="discard")], "truth": None})
