"""Command line: ``metersim run | validate | schema | bill | plot``, one verb per module.

Exit codes: 0 success, 2 invalid config, 3 broker unreachable, 4 TLS files, 5 output not writable,
6 delivery failed, 7 an optional package is missing, 1 any other metersim error, 130 interrupted
(after flushing). User errors print one line each and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from metersim import __version__
from metersim.cli import bill, plot, run, schema, validate
from metersim.cli.common import error
from metersim.errors import EXIT_INTERRUPTED, MetersimError

VERBS = {"run": run, "validate": validate, "bill": bill, "plot": plot, "schema": schema}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metersim", description="Simulate fleets of smart electricity and gas meters."
    )
    parser.add_argument("--version", action="version", version=f"metersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in VERBS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        status: int = VERBS[args.command].main(args, console)
        return status
    except KeyboardInterrupt:
        error(console, "interrupted")
        return EXIT_INTERRUPTED
    except MetersimError as exc:
        error(console, str(exc))
        return exc.exit_code


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
