"""``metersim run``: run a scenario into its outputs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from rich.console import Console

from metersim.cli.common import (
    add_scenarios,
    add_shard_options,
    error,
    load,
    reader_left,
    scenario_name,
    shard_of,
    silence_stdout,
    stop_status,
)
from metersim.cli.writable import check_writable, run_targets
from metersim.errors import EXIT_INTERRUPTED, ConfigError, MetersimError

if TYPE_CHECKING:
    from metersim.config import Scenario
    from metersim.report import RunReport
    from metersim.scale.shards import Shard

#: the most worker processes one command starts
MAX_WORKERS = 256


def snapshot_of(simulation: Any) -> Any:
    """The metrics snapshot of a running simulation (imported late: prometheus-client only when asked)."""
    from metersim.metrics import snapshot_of as of

    return of(simulation)


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
    add_shard_options(run)
    run.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="run N shard processes on this machine under this one command (one display, one summary, one "
        "merged report; with --shard K/M, worker w runs shard K*N+w of M*N)",
    )
    run.add_argument(
        "--metrics-port",
        metavar="PORT",
        type=int,
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics while the run runs (0: a free port, "
        "logged); with --workers, summed over the workers",
    )


def main(args: argparse.Namespace, console: Console) -> int:
    scenario = load(args, console)
    if scenario is None:
        return ConfigError.exit_code
    from metersim.scale.shards import shard_scenario

    shard = shard_of(args)
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise ConfigError(f"--workers {args.workers}: needs 1 to {MAX_WORKERS}")
    report_path = shard.path(args.report) if shard is not None and args.report else args.report
    if args.workers is not None:
        from metersim.scale.workers import worker_shards

        shards = worker_shards(args.workers, shard)
        check_writable(t for s in shards for t in run_targets(shard_scenario(scenario, s)))
        check_writable(run_targets(scenario.without_outputs(), report_path))
        return _run_workers(args, console, scenario, shards, report_path)
    check_writable(run_targets(shard_scenario(scenario, shard) if shard else scenario, report_path))
    from metersim.simulation import Simulation  # keeps `validate`, `schema` and the checks above quick

    simulation = Simulation(
        scenario,
        name=scenario_name(args),
        console=console,
        progress=not args.quiet,
        replay_commands=args.replay_commands,
        shard=shard,
    )
    failure: MetersimError | None = None
    reader_gone = False
    try:
        with _metrics(args, console, lambda: [snapshot_of(simulation)]):
            simulation.run()
    except MetersimError as exc:
        if reader_left(exc):  # `| head` has all it wanted: end quietly, as Unix tools do
            reader_gone = True
            silence_stdout()
        else:
            failure = exc
            error(console, str(exc))
    code = _finish(args, console, simulation.report, failure, report_path, show=not reader_gone)
    return code if code is not None else stop_status(simulation)


def _metrics(
    args: argparse.Namespace, console: Console, source: Callable[[], list[Any]]
) -> AbstractContextManager[object]:
    """Serve ``--metrics-port`` while inside, if asked for."""
    if args.metrics_port is None:
        return nullcontext()
    from metersim.metrics import serve_metrics

    def log(line: str) -> None:  # shown under -q too: with port 0 it is the only way to learn the port
        Console.print(console, line, markup=False, highlight=False, soft_wrap=True)

    return serve_metrics(args.metrics_port, source, log=log)


def _finish(
    args: argparse.Namespace,
    console: Console,
    report: RunReport,
    failure: MetersimError | None,
    report_path: str | None,
    *,
    show: bool = True,
) -> int | None:
    """Print the summary, write the report; the exit code of a failure, else None."""
    if not args.quiet and show:
        console.print(report.table())
    if report_path:
        try:
            report.write(report_path)
        except MetersimError as exc:
            error(console, str(exc))
            return failure.exit_code if failure else exc.exit_code
    return failure.exit_code if failure is not None else None


def _run_workers(
    args: argparse.Namespace, console: Console, scenario: Scenario, shards: list[Shard], report_path: str | None
) -> int:
    """``--workers N``: the shards in worker processes, one display, one summary, one merged report."""
    from metersim.progress import ProgressDisplay, ProgressLog, Tracker
    from metersim.scale.workers import Workers, passing_signals
    from metersim.windows import reference_group, resolve_window

    window, _ = resolve_window(scenario)
    workers = Workers(scenario, shards, window, scenario_name(args), args.replay_commands)
    speed = None if scenario.simulation.speed == "max" else float(scenario.simulation.speed)
    tracker = Tracker(workers.counters, workers.outputs, window.start_s, window.end_s, speed=speed)  # type: ignore[arg-type]
    zone = reference_group(scenario).timezone
    display: AbstractContextManager[object] = nullcontext()
    if not args.quiet:
        console.print(f"metersim: {workers.meters:,} meters in {len(shards)} workers", markup=False, highlight=False)
        log = lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
        display = ProgressDisplay(console, tracker, zone) if console.is_terminal else ProgressLog(log, tracker, zone)
    tick = tracker.idle if speed is not None else (lambda: None)  # paced: the clock shown is the one due
    with passing_signals(workers):
        workers.start()
        with _metrics(args, console, workers.snapshots), display:
            report, failure = workers.wait(tick)
    if failure is not None:
        error(console, str(failure))
    code = _finish(args, console, report, failure, report_path)
    if code is not None:
        return code
    if report.status == "interrupted":
        signum = workers.stopped_by
        return 128 + signum if signum is not None else EXIT_INTERRUPTED
    return 0
