"""``metersim report merge``: one run report of the reports of a run's shards.

The rules (counters add, lateness quantiles recomputed from the histograms, the worst status, outputs
grouped by their position in the scenario) are in :mod:`metersim.report`. Exit codes: 0 merged; 2 a
file that cannot be read, is not JSON, is not a run report, or is the report of another scenario or
window (one line naming the file); 5 ``--out`` cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from metersim.errors import ConfigError

if TYPE_CHECKING:
    from metersim.report import RunReport

EPILOG = """\
examples:
  metersim report merge out/report.shard-*.json > out/report.json
  metersim report merge a.json b.json -o out/report.json -q

Counters add, `meters` adds, wall_s is the longest, readings_per_s is recomputed, the lateness
percentiles are recomputed from the shards' histograms, and the status is the worst (failed >
interrupted > completed). Outputs merge by their position in the scenario; where the shards'
descriptions differ (file paths, client ids) the merged one shows `*`.

exit codes: 0 merged; 2 a file unreadable, not JSON, not a run report, or of another scenario or
window; 5 --out not writable.
"""


def add_parser(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="work with run reports (merge the reports of shards)",
        description="Work with the JSON run reports that `metersim run --report` writes.",
    )
    verbs = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    merge = verbs.add_parser(
        "merge",
        help="merge the reports of a run's shards into one",
        description="Merge the JSON reports of a run's shards into one report: JSON on standard output (or "
        "--out), the summary table on standard error.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="a JSON run report (metersim run -r)")
    merge.add_argument("-o", "--out", metavar="PATH", help="write the merged report here instead of standard output")
    merge.add_argument("-q", "--quiet", action="store_true", help="no summary table")


def read_report(path: str) -> RunReport:
    """The run report in file ``path``; a :class:`ConfigError` (one line) if it cannot be read or is none."""
    from metersim.report import RunReport  # imports the engine: not for `metersim --help`

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a run report (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None
    try:
        return RunReport.from_dict(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a metersim run report: {exc}") from None


def main(args: argparse.Namespace, console: Console) -> int:
    from metersim.scale.merge import merge_reports

    reports = [read_report(path) for path in args.reports]
    merged = merge_reports(reports, args.reports)
    if args.out:
        merged.write(args.out)
    else:
        sys.stdout.write(merged.to_json() + "\n")
    if not args.quiet:
        console.print(merged.table())
    return 0
