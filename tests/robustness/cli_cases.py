"""Helpers of the adversarial catalogue of bad scenarios and bad arguments (part 1 of the hardening issue).

A :class:`Case` is one adversarial input: a scenario (a mapping, raw bytes or text, or a path such as
``/dev/zero``), extra arguments, and what ``metersim validate`` and ``metersim run`` must do with it:
the exit code of each (README, "Exit codes") and a text that the message must contain. Every case is
checked by :func:`check`: the exit code, no Python traceback, a message of at most a few lines that
contains the text, and that ``validate`` and ``run`` agree (a scenario that ``validate`` refuses, ``run``
refuses with the same problems; one that ``validate`` accepts, ``run`` runs or fails with a documented
exit code other than 2, never a traceback).

Commands run in-process by default (:func:`metersim_in_process`: ``metersim.cli.main`` with standard
output and error captured, any exception that escapes it kept as a traceback) and, for at least one
case of each category, as the real command in a child process (:func:`metersim_child`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: the scenario every case starts from: valid, tiny, fast, and it writes nothing
BASE: dict[str, Any] = {
    "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "1h", "seed": 1},
    "fleet": [
        {
            "name": "homes",
            "commodity": "electricity",
            "count": 2,
            "id_format": "PK-{index:06d}",
            "timezone": "Asia/Karachi",
            "interval_s": 900,
            "annual_kwh": 2400,
        }
    ],
    "outputs": [{"type": "discard"}],
}

#: the most lines a refusal may print (each problem is one line; a case has one or two problems)
MAX_LINES = 4
#: exit codes (README, "Exit codes")
OK, CONFIG, BROKER, TLS, NOT_WRITABLE = 0, 2, 3, 4, 5


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Case:
    """One adversarial input and what ``validate`` and ``run`` must do with it.

    ``scenario``: a mapping (written as YAML), ``bytes`` or ``str`` (written as they are), a callable
    that makes the file in a folder and returns its path (or a ``str`` such as ``"/dev/zero"``), or None
    (the arguments alone). ``args``: after the scenario (``--set``...). ``validate`` and ``run``: the
    exit codes; ``run=None`` means the same as ``validate`` where that is an error, 0 where it is not;
    ``run=SKIP`` does not run (a scenario too big to run in a test). ``text``: in every message.
    """

    id: str
    scenario: Any
    args: tuple[str, ...] = ()
    validate: int = CONFIG
    run: int | None = None
    text: str | tuple[str, ...] = ""  # or one of several
    child: bool = False  # also run the real command in a child process
    marks: tuple[Any, ...] = ()

    @property
    def run_code(self) -> int:
        if self.run is not None:
            return self.run
        return self.validate

    def param(self) -> Any:
        return pytest.param(self, id=self.id, marks=self.marks)


SKIP = -1


def variant(*changes: tuple[str, Any], drop: Sequence[str] = ()) -> dict[str, Any]:
    """:data:`BASE` with each ``(dotted.path, value)`` set (list items by index) and ``drop`` removed."""
    data = copy.deepcopy(BASE)
    for path, value in changes:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    for path in drop:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]
    return data


def base_yaml(extra: str = "") -> str:
    """:data:`BASE` as YAML text, with ``extra`` lines after it."""
    return yaml.safe_dump(BASE, sort_keys=False) + extra


def scenario_path(case: Case, folder: Path) -> list[str]:
    """The scenario argument(s) of ``case``, made in ``folder``."""
    scenario = case.scenario
    if scenario is None:
        return []
    if callable(scenario):
        return [str(scenario(folder))]
    if isinstance(scenario, str) and scenario.startswith("/"):
        return [scenario]
    path = folder / "scenario.yaml"
    if isinstance(scenario, dict):
        path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    elif isinstance(scenario, bytes):
        path.write_bytes(scenario)
    else:
        path.write_text(scenario, encoding="utf-8")
    return [str(path)]


# --- running the command ---------------------------------------------------------------------------------


def metersim_in_process(argv: Sequence[str], stdin: bytes | None = None) -> Result:
    """``metersim ARGV`` through :func:`metersim.cli.main`, output captured; an exception that escapes
    it becomes exit code 1 and its traceback the standard error, as the real command would print."""
    from metersim.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc(file=err)
                code = 1
    finally:
        sys.stdin = saved_stdin
    return Result(code, out.getvalue(), err.getvalue())


def metersim_child(
    argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60, cwd: Path | None = None
) -> Result:
    """The real ``python -m metersim ARGV`` in a child process."""
    process = subprocess.run(
        [sys.executable, "-m", "metersim", *argv],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return Result(
        process.returncode,
        process.stdout.decode("utf-8", "replace"),
        process.stderr.decode("utf-8", "backslashreplace"),
    )


def measured_child(argv: Sequence[str], timeout: float = 60) -> tuple[Result, float, float]:
    """The real command in a child process, with its wall time [s] and its own peak memory [MB]."""
    script = (
        "import sys, time\n"
        "began = time.perf_counter()\n"
        "from metersim.cli import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "elapsed = time.perf_counter() - began\n"
        # VmHWM is this process's own peak: ru_maxrss would carry over the forking parent's (pytest's)
        "peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024\n"
        "print(f'{elapsed} {peak}')\n"
        "sys.exit(code)\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    elapsed, peak = (float(x) for x in process.stdout.split()[-2:])
    return Result(process.returncode, process.stdout, process.stderr), elapsed, peak


# --- what every case must show --------------------------------------------------------------------------


def message_lines(result: Result) -> list[str]:
    """The lines of stderr, argparse's usage synopsis (``usage: ...`` and its indented continuation) as one."""
    lines: list[str] = []
    for line in result.stderr.splitlines():
        if not line.strip():
            continue
        if lines and lines[-1].startswith("usage:") and line.startswith(" "):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def assert_clear(result: Result, code: int, text: str | tuple[str, ...] = "", what: str = "") -> None:
    """Exit ``code``; no traceback; a refusal is a few lines that contain ``text`` (or one of them)."""
    shown = f"{what}\nexit {result.code}\n--- stderr ---\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, shown
    assert result.code == code, shown
    lines = message_lines(result)
    if code != OK:
        assert 1 <= len(lines) <= MAX_LINES, shown
        assert all(len(line) < 2_000 for line in lines), shown  # no value dumped whole
    if text:
        texts = (text,) if isinstance(text, str) else text
        assert any(t in result.stderr for t in texts), shown


def problems_of(result: Result) -> list[str]:
    """The problems a refusal names, without the ``metersim: error:`` prefix of ``run``."""
    return [line.removeprefix("metersim: error: ") for line in message_lines(result)]


Runner = Callable[..., Result]


def check(case: Case, folder: Path, runner: Runner = metersim_in_process) -> None:
    """Validate and run ``case`` with ``runner``; both as the case says, and agreeing."""
    scenario = scenario_path(case, folder)
    validated = runner(["validate", *scenario, *case.args])
    assert_clear(validated, case.validate, case.text if case.validate != OK else "", f"validate {case.id}")
    if case.run == SKIP:
        return
    ran = runner(["run", *scenario, *case.args, "--quiet"])
    assert_clear(ran, case.run_code, case.text if case.run_code != OK else "", f"run {case.id}")
    if case.validate == CONFIG and case.run_code == CONFIG:
        assert problems_of(ran) == problems_of(validated), (validated.stderr, ran.stderr)
    if case.validate == OK:
        assert case.run_code != CONFIG  # what validate accepts, run never refuses as invalid
