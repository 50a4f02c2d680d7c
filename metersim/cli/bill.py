"""``metersim bill``: simulate a scenario (outputs discarded) and write each tariffed meter's expected bills."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from metersim.cli.common import (
    add_scenarios,
    add_shard_options,
    error,
    load,
    scenario_label,
    scenario_name,
    shard_of,
    stop_status,
)
from metersim.cli.writable import check_writable
from metersim.errors import ConfigError


def add_parser(sub: Any) -> None:
    bill = sub.add_parser("bill", help="simulate a scenario and write each tariffed meter's expected bills")
    add_scenarios(bill)
    bill.add_argument("-o", "--out", required=True, metavar="PATH", help="bills file: .csv or .parquet")
    bill.add_argument(
        "--replay-commands",
        metavar="LOG",
        help="bill a run that answered commands: feed its command log back (disconnections, tariff changes)",
    )
    bill.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    add_shard_options(bill)


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    if not any(g.tariff for g in scenario.fleet):
        error(console, f"{scenario_label(args)}: no fleet group has a `tariff`, so there is nothing to bill")
        return ConfigError.exit_code
    shard = shard_of(args)
    out = shard.path(args.out) if shard is not None else args.out  # the bills of the shard's meters
    check_writable([("bills", out)])
    from metersim.commands.wiring import listening
    from metersim.ledger.bill_files import write_bills
    from metersim.ledger.billing import BillObserver, bills_with_registered
    from metersim.simulation import Simulation

    observer, registered = BillObserver(scenario), BillObserver(scenario, basis="registered")
    found = listening(scenario) if args.replay_commands else None
    simulation = Simulation(
        scenario.without_outputs(),
        replay_commands=args.replay_commands,
        commands=found[1] if found is not None else None,
        name=scenario_name(args),
        observers=[observer, registered],
        console=console,
        progress=not args.quiet,
        shard=shard,
    )
    simulation.run()
    bills = bills_with_registered(observer.bills(), registered.bills())
    write_bills(bills, out)
    if not args.quiet:
        console.print(f"{len(bills):,} bills written to {out}", markup=False, highlight=False)
    return stop_status(simulation)
