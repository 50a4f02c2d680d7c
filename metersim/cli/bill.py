"""``metersim bill``: simulate a scenario (outputs discarded) and write each tariffed meter's expected bills."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.cli.common import add_overrides, error, load, without_outputs
from metersim.errors import EXIT_INTERRUPTED, ConfigError


def add_parser(sub: Any) -> None:
    bill = sub.add_parser("bill", help="simulate a scenario and write each tariffed meter's expected bills")
    bill.add_argument("scenario", help="scenario YAML file")
    bill.add_argument("--out", required=True, metavar="PATH", help="bills file: .csv or .parquet")
    add_overrides(bill)
    bill.add_argument("--quiet", action="store_true")


def main(args: argparse.Namespace, console: Console) -> int:
    from metersim.ledger.bill_files import write_bills
    from metersim.ledger.billing import BillObserver
    from metersim.simulation import Simulation

    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    if not any(g.tariff for g in scenario.fleet):
        error(console, f"{args.scenario}: no fleet group has a `tariff`, so there is nothing to bill")
        return ConfigError.exit_code
    observer = BillObserver(scenario)
    simulation = Simulation(
        without_outputs(scenario),
        name=Path(args.scenario).name,
        observers=[observer],
        console=console,
        progress=not args.quiet,
    )
    simulation.run()
    bills = observer.bills()
    write_bills(bills, args.out)
    if not args.quiet:
        console.print(f"{len(bills):,} bills written to {args.out}", markup=False, highlight=False)
    return EXIT_INTERRUPTED if simulation.interrupted else 0
