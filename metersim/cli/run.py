"""``metersim run``: run a scenario into its outputs."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from metersim.cli.common import (
    add_scenarios,
    error,
    load,
    reader_left,
    scenario_name,
    silence_stdout,
    stop_status,
)
from metersim.cli.writable import check_writable, run_targets
from metersim.errors import ConfigError, MetersimError

EPILOG = """\
examples:
  metersim run metersim.yaml                   a scenario written by `metersim init`
  metersim run configs/lahore-feeder.yaml --duration 2d -r out/report.json
  metersim run configs/quickstart.yaml --url mqtt://127.0.0.1:1883 --seed 7 -q
  metersim run base.yaml local.yaml            local.yaml merged over base.yaml
  metersim run base.yaml -s fleet.0.count=50 -s 'outputs=[{type: stdout}]' | head -n 3
  make-scenario | metersim run -               the scenario from standard input

Several SCENARIO files merge in order: mappings merge key by key, at any depth; anything else is
replaced by the later file, lists included (lists are not concatenated: a file that gives `fleet:`
or `outputs:` gives the whole list, and `truth: null` drops the ledger). Then every --set applies,
in order, then the shortcuts (--duration, --seed, --speed, --count, --url), then the result is
validated; a problem is one `metersim: error:` line each, exit 2.

Every file the run writes (file outputs, truth path and weather_path, --report) is checked before
the run starts: one that cannot be written fails at once with exit 5. When the reader of standard
output goes away (`| head`), the run ends quietly with exit 0.

Every field of a scenario: `metersim schema` (JSON Schema) and README.md, "Scenario reference";
exit codes: README.md, "Exit codes", or `metersim --help`.
"""


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a scenario",
        description="Run a scenario into its outputs, then print a summary.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenarios(run)
    run.add_argument("-r", "--report", metavar="PATH", help="write the run report as JSON")
    run.add_argument(
        "--replay-commands",
        metavar="LOG",
        help="feed this command log (a run's commands.jsonl) back at its simulated times instead of listening "
        "for commands: the same scenario then gives byte-identical output",
    )
    run.add_argument(
        "-q", "--quiet", action="store_true", help="print only warnings and errors (no progress, no summary)"
    )


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    check_writable(run_targets(scenario, args.report))
    from metersim.simulation import Simulation  # keeps `validate`, `schema` and the checks above quick

    simulation = Simulation(
        scenario,
        name=scenario_name(args),
        console=console,
        progress=not args.quiet,
        replay_commands=args.replay_commands,
    )
    failure: MetersimError | None = None
    reader_gone = False
    try:
        simulation.run()
    except MetersimError as exc:
        if reader_left(exc):  # `| head` has all it wanted: end quietly, as Unix tools do
            reader_gone = True
            silence_stdout()
        else:
            failure = exc
            error(console, str(exc))
    report = simulation.report
    if not args.quiet and not reader_gone:
        console.print(report.table())
    if args.report:
        try:
            report.write(args.report)
        except MetersimError as exc:
            error(console, str(exc))
            return failure.exit_code if failure else exc.exit_code
    if failure is not None:
        return failure.exit_code
    return stop_status(simulation)
