"""What every verb shares: scenario arguments and loading, the overrides, one-line errors, the console."""

from __future__ import annotations

import argparse
import os
import re
import select
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from metersim.config import Scenario
from metersim.config.load import (
    STDIN,
    apply_override,
    parse_scenario,
    parse_value,
    read_scenarios,
    scenario_source,
    set_field,
)
from metersim.errors import EXIT_INTERRUPTED, ConfigError, MetersimError, OutputNotWritableError

MERGE_HELP = (
    "scenario YAML file(s); - reads standard input. Several files merge in order: mappings merge key by key "
    "(at any depth), anything else - lists such as fleet and outputs included - is replaced by the later file"
)
COUNT_ERROR = "give --set fleet.K.count=N for a scenario with several groups"


def add_scenarios(parser: argparse.ArgumentParser) -> None:
    """``SCENARIO [SCENARIO ...]``, merged in order, then the overrides."""
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", help=MERGE_HELP)
    add_overrides(parser)


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """``-s/--set`` and the shortcuts for the usual overrides; the shortcuts apply after every ``--set``."""
    group = parser.add_argument_group("overrides (the shortcuts apply after every --set, and are checked alike)")
    group.add_argument(
        "-s",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a field, e.g. simulation.duration=2d or fleet.0.count=50 (repeatable)",
    )
    group.add_argument("--duration", metavar="D", help="= --set simulation.duration=D, e.g. 90s, 2h, 1d12h")
    group.add_argument("--seed", metavar="N", help="= --set simulation.seed=N")
    group.add_argument("--speed", metavar="X", help="= --set simulation.speed=X: max, or simulated s per wall s")
    group.add_argument(
        "--count",
        metavar="N",
        help="= --set fleet.0.count=N for a scenario with one fleet group; an error with several groups "
        "(give --set fleet.K.count=N for each)",
    )
    group.add_argument("--url", metavar="URL", help="point every `type: mqtt` output at this broker (sets its url)")


def add_shard_options(parser: argparse.ArgumentParser) -> None:
    """``--shard K/N`` and ``--shards N`` (the shard index from ``$JOB_COMPLETION_INDEX``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K (from 0) of N: whole chunks of every group, whole feeders where a group has a "
        "grid; the N shards' union is the single run; file names carry the shard (out/x.shard-K-of-N.jsonl)",
    )
    group.add_argument(
        "--shards",
        metavar="N",
        type=int,
        help="as --shard K/N with K from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index)",
    )


def shard_of(args: argparse.Namespace) -> Any:
    """The :class:`~metersim.scale.shards.Shard` that ``--shard``/``--shards`` give, or None.
    Raises ConfigError for a malformed or out-of-range shard."""
    from metersim.scale.shards import Shard

    if getattr(args, "shard", None) is not None:
        return Shard.parse(args.shard)
    if getattr(args, "shards", None) is not None:
        return Shard.from_environment(args.shards)
    return None


def apply_shortcuts(data: dict[str, Any], args: argparse.Namespace, source: str) -> None:
    """``--duration``, ``--seed``, ``--speed``, ``--count`` and ``--url``, in place on the merged mapping."""
    for option in ("duration", "seed", "speed"):
        raw = getattr(args, option, None)
        if raw is not None:
            value = parse_value(raw, f"--{option}", source)
            set_field(data, f"simulation.{option}", value, source, option=f"--{option}")
    if getattr(args, "count", None) is not None:
        fleet = data.get("fleet")
        if isinstance(fleet, list) and len(fleet) > 1:
            raise ConfigError(f"--count: {COUNT_ERROR}", source)
        if isinstance(fleet, list) and fleet:  # else validation says what is wrong with `fleet`
            set_field(data, "fleet.0.count", parse_value(args.count, "--count", source), source, option="--count")
    if getattr(args, "url", None) is not None:
        outputs = data.get("outputs")
        listed = outputs if isinstance(outputs, list) else []
        mqtt = [o for o in listed if isinstance(o, dict) and o.get("type") == "mqtt"]
        if not mqtt:
            raise ConfigError("--url: the scenario has no `type: mqtt` output", source)
        for output in mqtt:
            output["url"] = args.url


def load_paths(paths: list[str], args: argparse.Namespace) -> Scenario:
    """Read and merge ``paths``, apply ``--set`` and the shortcuts, validate. Raises ConfigError."""
    source = scenario_source(paths)
    data = read_scenarios(paths)
    for item in args.overrides:
        apply_override(data, item, source)
    apply_shortcuts(data, args, source)
    return parse_scenario(data, source)


def load(args: argparse.Namespace, console: Console) -> Scenario | None:
    """The scenario of ``args.scenarios`` (merged) with the overrides, or None after printing why not."""
    try:
        return load_paths(args.scenarios, args)
    except ConfigError as exc:
        for problem in exc.problems:
            error(console, f"{exc.source or scenario_label(args)}: {problem}")
        return None


def scenario_label(args: argparse.Namespace) -> str:
    """How messages name the scenario: its file, ``<stdin>``, or the merged files joined by `` + ``."""
    return scenario_source(args.scenarios)


def scenario_name(args: argparse.Namespace) -> str:
    """The run's name in its report: the file names, joined by ``+`` when several are merged."""
    return "+".join("stdin" if p == STDIN else Path(p).name for p in args.scenarios)


def stop_status(simulation: Any) -> int:
    """0 for a run that went to its end; for a stopped one 128 + the signal that stopped it, where the
    Simulation tells (``stopped_by``), else 130 (Ctrl-C)."""
    if not simulation.interrupted:
        return 0
    signum = getattr(simulation, "stopped_by", None)
    return 128 + signum if isinstance(signum, int) else EXIT_INTERRUPTED


# --- the console -------------------------------------------------------------------------------------


#: a line that a component logs as a warning or an error: ``mqtt: warning: ...``, ``metersim: error: ...``
_NOTICE = re.compile(r"^[\w.-]+: (?:warning|error)\b")


def is_notice(objects: tuple[Any, ...]) -> bool:
    """Whether what is printed is one warning or error line (see :data:`_NOTICE`), which ``--quiet`` keeps."""
    return len(objects) == 1 and isinstance(objects[0], str) and _NOTICE.match(objects[0]) is not None


class QuietConsole(Console):
    """The console of ``--quiet``: it drops progress and information (the bar, the summary, the embedded
    broker's address, reconnects) but still prints warnings and errors (lines such as ``mqtt: warning:
    ...``, and every :func:`error`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if is_notice(objects):
            super().print(*objects, **kwargs)


def make_console(quiet: bool) -> Console:
    return QuietConsole(stderr=True) if quiet else Console(stderr=True)


def error(console: Console, message: str) -> None:
    line = f"metersim: error: {message}"
    # Console.print itself, not the console's own: a QuietConsole drops everything else but not this.
    Console.print(console, line, markup=False, highlight=False, soft_wrap=True)


# --- standard output closed by its reader (`metersim run ... | head`) ---------------------------------


def stdout_closed() -> bool:
    """Whether standard output is a pipe (or socket) whose reader has gone."""
    if not hasattr(select, "poll"):
        return False
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced or closed (e.g. captured in tests)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def reader_left(failure: MetersimError) -> bool:
    """Whether ``failure`` is only that the reader of standard output closed it, as ``| head`` does."""
    if not isinstance(failure, OutputNotWritableError):
        return False
    cause: BaseException | None = failure.__context__
    while cause is not None and not isinstance(cause, BrokenPipeError):
        cause = cause.__context__
    return cause is not None and stdout_closed()


def silence_stdout() -> None:
    """Point standard output at the null device, so that Python's last flush at exit does not complain
    (what the Python docs recommend for SIGPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
