"""Command line: ``metersim init | run | validate | bill | plot | calibrate | schema | verify | send | report``,
one verb per module.

Exit codes: 0 success, 2 invalid config, 3 broker unreachable, 4 TLS files, 5 output not writable,
6 delivery failed, 7 an optional package is missing, 8 a difference found (verify, send), 9 a worker
process died, 1 any other metersim error, 130 interrupted
(after flushing). User errors print one line each and no traceback. A reader that closes standard
output (``| head``) ends the command quietly with exit 0, as Unix tools do.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from metersim import __version__
from metersim.cli import bill, calibrate, init, plot, report, run, schema, send, validate, verify
from metersim.cli.common import error, make_console, silence_stdout
from metersim.errors import EXIT_INTERRUPTED, MetersimError, OutputNotWritableError

#: errors of writing a file that mean the disk (or device) is full, broken or read-only: exit 5
WRITE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS") if hasattr(errno, name)
)

VERBS = {
    "init": init,
    "run": run,
    "validate": validate,
    "bill": bill,
    "plot": plot,
    "calibrate": calibrate,
    "schema": schema,
    "verify": verify,
    "send": send,
    "report": report,
}

EPILOG = """\
examples:
  metersim init                                  write a commented starter scenario: metersim.yaml
  metersim run metersim.yaml                     run it: progress, then a summary
  metersim run configs/lahore-feeder.yaml --duration 2d --url mqtt://127.0.0.1:1883 -r out/report.json
  metersim run base.yaml local.yaml -s fleet.0.count=50   local.yaml merged over base.yaml
  metersim validate configs/*.yaml               exit 0 if every file is valid, 2 otherwise
  metersim bill configs/tashkent-gas.yaml -o out/bills.csv
  metersim calibrate configs/amsterdam-dsmr.yaml --duration 365d   fidelity against BDEW and other references
  metersim report merge out/report.shard-*.json > out/report.json   one report of a run's shards
  metersim <command> --help                      the options of a command

exit codes: 0 success, 1 other error, 2 invalid scenario, 3 broker unreachable, 4 TLS files,
5 output not writable, 6 readings not delivered, 7 optional package missing, 8 verify found a difference or
send got an answer that was not ok (or none), 9 a --workers process died, 130 interrupted.

Every field of a scenario: `metersim schema` prints its JSON Schema (for editor completion); the
README (README.md, "Using it", "Scenario reference", "Exit codes") explains them all.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metersim",
        description="Simulate fleets of smart electricity and gas meters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"metersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in VERBS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = make_console(getattr(args, "quiet", False))
    try:
        status: int = VERBS[args.command].main(args, console)
        return status
    except KeyboardInterrupt:
        error(console, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of standard output has gone: end quietly
        silence_stdout()
        return 0
    except MetersimError as exc:
        error(console, str(exc))
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        # A write that failed where no writer translated it (a full disk found at a file's close, say).
        where = f" {exc.filename}" if exc.filename else ""
        error(console, f"cannot write{where}: {exc.strerror or exc}")
        return OutputNotWritableError.exit_code


def entrypoint() -> None:
    """Console-script entry point."""
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    sys.exit(status)
