"""Before a run: can every file it will write be written? Checked at once, so that a bad path fails in
a second and not at the end of an hour's run."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from metersim.config import FileOutput, MqttOutput, Scenario
from metersim.config.outputs import ParquetOutput
from metersim.errors import OutputNotWritableError, not_writable
from metersim.ledger.truth import partitioned

#: the file made (and removed) inside a Parquet output's directory to try it: hidden, not ``*.parquet``
PROBE = ".metersim-write-test"
#: (what, path): ``what`` as the writer of the file names it in its own error message
Target = tuple[str, "str | os.PathLike[str]"]


def run_targets(scenario: Scenario, report: str | None = None) -> list[Target]:
    """The files a run of ``scenario`` writes: file outputs, the ledger, the weather log, the report."""
    targets: list[Target] = [("", o.path) for o in scenario.outputs if isinstance(o, FileOutput)]
    # a Parquet output is a directory: tried by making (and removing) a file inside it
    targets += [("", Path(o.path) / PROBE) for o in scenario.outputs if isinstance(o, ParquetOutput)]
    if scenario.truth is not None:
        ledger = scenario.truth.path  # a partitioned Parquet ledger is a directory, tried as one
        targets.append(
            ("ground truth", Path(ledger) / PROBE if partitioned(ledger, scenario.truth.resolved_format) else ledger)
        )
        if scenario.truth.weather_path:
            targets.append(("weather", scenario.truth.weather_path))
        if any(isinstance(o, MqttOutput) and o.commands is not None for o in scenario.outputs):
            targets.append(("command log", scenario.truth.resolved_commands_path))
    if report:
        targets.append(("report", report))
    return targets


def check_writable(targets: Iterable[Target]) -> None:
    """Raise OutputNotWritableError, worded as the writer would, for the first target that cannot be
    written. Each is tried for real: its missing folders are made and the file is opened for appending
    (an existing file is not changed); whatever this made is removed again, so it leaves no trace."""
    made: list[Path] = []
    try:
        for what, path in targets:
            _try(what, Path(path), made)
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()


def _try(what: str, path: Path, made: list[Path]) -> None:
    try:
        missing = []
        for folder in path.parents:
            if os.path.lexists(folder):
                break
            missing.append(folder)
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
        if os.path.lexists(path):
            mode = os.stat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                # a FIFO or a device: opening it could wait for a reader; ask instead
                if not os.access(path, os.W_OK):
                    raise PermissionError(13, "Permission denied")
                return
            with open(path, "ab"):
                pass
        else:
            with open(path, "xb"):
                pass
            made.append(path)
    except OSError as exc:
        raise not_writable(what, path, exc) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise OutputNotWritableError(f"cannot write {what}{' ' if what else ''}{path}: {exc}") from None
