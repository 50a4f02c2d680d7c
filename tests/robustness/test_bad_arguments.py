"""The adversarial catalogue, part 1: bad command lines, for every verb.

Each case is a command line with placeholders (``{scenario}``: a valid tiny scenario; ``{tariffed}``: the
same with a tariff, for ``bill``; ``{tmp}``: the case's own folder; ``{file}``: a regular file there),
the documented exit code and a text that the message must contain; no traceback, a few lines at most
(argparse: its usage, then one error line). Cases run in-process; those marked ``child`` also as the
real command in a child process, at least one per category.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.robustness.cli_cases import (
    BASE,
    CONFIG,
    NOT_WRITABLE,
    OK,
    assert_clear,
    base_yaml,
    metersim_child,
    metersim_in_process,
    variant,
)

HAS_DEV_FULL = Path("/dev/full").exists()
needs_dev_full = pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full")
TWO_GROUPS = variant(("fleet", [BASE["fleet"][0], {**BASE["fleet"][0], "name": "more", "id_format": "M-{index}"}]))
TARIFFED = variant(
    (
        "tariffs",
        {"flat": {"commodity": "electricity", "currency": "PKR", "bands": [{"name": "all"}], "prices": {"all": 1}}},
    ),
    ("fleet.0.tariff", "flat"),
)
MQTT = variant(("outputs", [{"type": "mqtt", "url": "embedded"}]))


def laughs() -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    return (base_yaml() + "\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class ArgCase:
    id: str
    argv: tuple[str, ...]
    code: int
    text: str = ""
    stdin: bytes | None = None
    scenario: dict[str, Any] | None = None  # what {scenario} holds, default BASE
    child: bool = False
    marks: tuple[Any, ...] = ()

    def param(self) -> Any:
        return pytest.param(self, id=self.id, marks=self.marks)


def arg_case(id: str, *argv: str, code: int = CONFIG, text: str = "", **options: Any) -> ArgCase:
    return ArgCase(id, argv, code, text, **options)


CASES = [
    # --- argparse: usage, then one error line -----------------------------------------------------------
    arg_case("usage/no-command", text="the following arguments are required: COMMAND", child=True),
    arg_case("usage/unknown-command", "frobnicate", text="invalid choice: 'frobnicate'"),
    arg_case("usage/run-without-scenario", "run", text="the following arguments are required: SCENARIO"),
    arg_case("usage/unknown-option", "run", "{scenario}", "--bogus", text="unrecognized arguments: --bogus"),
    arg_case("usage/set-without-value", "run", "{scenario}", "--set", text="expected one argument"),
    arg_case("usage/plot-without-out", "plot", "{scenario}", text="the following arguments are required: -o/--out"),
    arg_case("usage/unknown-example", "init", "--example", "nope", text="invalid choice: 'nope'"),
    arg_case("usage/schema-extra", "schema", "extra", text="unrecognized arguments: extra"),
    # --- --set ---------------------------------------------------------------------------------------------
    arg_case(
        "set/no-equals", "run", "{scenario}", "--set", "nonsense", text="--set 'nonsense': expected dotted.path=value"
    ),
    arg_case("set/no-path", "validate", "{scenario}", "--set", "=5", text="expected dotted.path=value", child=True),
    arg_case(
        "set/no-such-item", "run", "{scenario}", "-s", "fleet.5.count=1", text="fleet.5 is not an item of a list of 1"
    ),
    arg_case("set/not-an-index", "run", "{scenario}", "-s", "fleet.x.count=1", text="fleet.x is not an item"),
    arg_case(
        "set/into-a-value",
        "run",
        "{scenario}",
        "-s",
        "simulation.seed.x=1",
        text="simulation.seed is a value, not a mapping or list",
    ),
    arg_case("set/unknown-key", "validate", "{scenario}", "-s", "simulation.sed=1", text="did you mean 'seed'?"),
    arg_case(
        "set/long-path-is-cut",
        "run",
        "{scenario}",
        "-s",
        "x" * 100_000,
        text="--set 'xxxxxxxxxx",
    ),
    # --- the shortcuts -------------------------------------------------------------------------------------
    arg_case(
        "shortcut/count-with-two-groups",
        "run",
        "{scenario}",
        "--count",
        "5",
        scenario=TWO_GROUPS,
        text="--count: give --set fleet.K.count=N for a scenario with several groups",
        child=True,
    ),
    arg_case("shortcut/count-text", "run", "{scenario}", "--count", "abc", text="must be a whole number, not 'abc'"),
    arg_case(
        "shortcut/count-float", "run", "{scenario}", "--count", "1.0", text="fleet[0].count: must be a whole number"
    ),
    arg_case(
        "shortcut/count-1e3", "run", "{scenario}", "--count", "1e3", text="fleet[0].count: must be a whole number"
    ),
    arg_case("shortcut/count-true", "run", "{scenario}", "--count", "true", text="must be a number, not true/false"),
    arg_case("shortcut/count-huge", "validate", "{scenario}", "--count", "9" * 40, text="must be at most 50000000"),
    arg_case("shortcut/duration-unit", "run", "{scenario}", "--duration", "5x", text="not a duration"),
    arg_case("shortcut/duration-0", "run", "{scenario}", "--duration", "0", text="duration must be positive"),
    arg_case(
        "shortcut/duration-deep", "run", "{scenario}", "--duration", "[" * 5000, text="--duration: the value nested"
    ),
    arg_case("shortcut/seed-negative", "run", "{scenario}", "--seed", "-1", text="simulation.seed: must be at least 0"),
    arg_case("shortcut/speed-0", "run", "{scenario}", "--speed", "0", text='must be "max" or a number > 0'),
    arg_case("shortcut/speed-text", "run", "{scenario}", "--speed", "slow", text='must be "max" or a number > 0'),
    arg_case("shortcut/url-bad", "run", "{scenario}", "--url", "http://x", scenario=MQTT, text="expected mqtt://"),
    arg_case("shortcut/url-no-mqtt", "run", "{scenario}", "--url", "mqtt://x", text="--url: the scenario has no"),
    # --- scenario arguments --------------------------------------------------------------------------------
    arg_case("scenario/missing", "run", "{tmp}/missing.yaml", text="missing.yaml: cannot read: No such file"),
    arg_case(
        "scenario/one-of-two-missing",
        "validate",
        "{scenario}",
        "{tmp}/missing.yaml",
        text="missing.yaml: cannot read",
        child=True,
    ),
    arg_case(
        "scenario/merged-one-missing", "run", "{scenario}", "{tmp}/missing.yaml", text="missing.yaml: cannot read"
    ),
    arg_case("scenario/stdin-binary", "run", "-", stdin=bytes(range(256)), text="<stdin>: cannot read: not text"),
    arg_case("scenario/stdin-empty", "run", "-", stdin=b"", text="<stdin>: the scenario must be a YAML mapping"),
    arg_case("scenario/stdin-latin-1", "validate", "-", stdin="a: caf\u00e9\n".encode("latin-1"), text="not UTF-8"),
    arg_case(
        "scenario/stdin-zeros",
        "validate",
        "-",
        stdin=b"\0" * (5 * 2**20),
        text="<stdin>: cannot read: larger than 4 MiB",
    ),
    arg_case("scenario/stdin-bomb", "run", "-", stdin=laughs(), text="<stdin>: holds more than 200,000 values"),
    arg_case(
        "scenario/name-not-utf-8",  # a file name that is not UTF-8 arrives with surrogates
        "validate",
        os.fsdecode(b"\xff.yaml"),
        text=".yaml: cannot read: No such file or directory",  # shown as \udcff.yaml
        child=True,
    ),
    # --- files the commands write --------------------------------------------------------------------------
    arg_case(
        "out/report-dev-full",
        "run",
        "{scenario}",
        "-q",
        "-r",
        "/dev/full",
        code=NOT_WRITABLE,
        text="cannot write report /dev/full: No space left on device",
        child=True,
        marks=(needs_dev_full,),
    ),
    arg_case(
        "out/report-under-a-file",
        "run",
        "{scenario}",
        "-q",
        "-r",
        "{file}/r.json",
        code=NOT_WRITABLE,
        text="Not a directory",
    ),
    arg_case(
        "out/report-is-a-folder", "run", "{scenario}", "-q", "-r", "{tmp}", code=NOT_WRITABLE, text="Is a directory"
    ),
    arg_case(
        "out/plot-unknown-format",  # was: simulated first, then a ValueError traceback from matplotlib
        "plot",
        "{scenario}",
        "-q",
        "--out",
        "{tmp}/fleet.xyz",
        text="matplotlib cannot write .xyz pictures; use one of",
        child=True,
    ),
    arg_case(
        "out/plot-under-a-file", "plot", "{scenario}", "-q", "-o", "{file}/p.png", code=NOT_WRITABLE, text="Not a"
    ),
    arg_case(
        "out/bill-dev-full",
        "bill",
        "{scenario}",
        "-q",
        "-o",
        "/dev/full",
        scenario=TARIFFED,
        code=NOT_WRITABLE,
        text="cannot write bills /dev/full: No space left on device",
        marks=(needs_dev_full,),
    ),
    arg_case("out/bill-no-tariff", "bill", "{scenario}", "-q", "-o", "{tmp}/b.csv", text="nothing to bill"),
    arg_case("out/init-exists", "init", "{file}", code=NOT_WRITABLE, text="exists; give --force to overwrite it"),
    arg_case(
        "out/init-dev-full",
        "init",
        "/dev/full",
        "--force",
        code=NOT_WRITABLE,
        text="cannot write /dev/full: No space left on device",
        marks=(needs_dev_full,),
    ),
    arg_case("out/init-under-a-file", "init", "{file}/x.yaml", code=NOT_WRITABLE, text="Not a directory"),
]


def command_line(case: ArgCase, folder: Path) -> list[str]:
    scenario = folder / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(case.scenario or BASE, sort_keys=False))
    plain = folder / "plain"
    plain.write_text("x")
    places = {"{scenario}": str(scenario), "{tmp}": str(folder), "{file}": str(plain)}
    out = []
    for arg in case.argv:
        for key, value in places.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_arguments_are_refused_clearly(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `init` and relative paths write here
    result = metersim_in_process(command_line(case, tmp_path), stdin=case.stdin)
    assert_clear(result, case.code, case.text, case.id)


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.child])
def test_the_real_command_refuses_them_alike(case, tmp_path):
    result = metersim_child(command_line(case, tmp_path), stdin=case.stdin, cwd=tmp_path)
    assert_clear(result, case.code, case.text, case.id)


def test_every_category_has_a_case_for_the_real_command():
    categories = {c.id.split("/")[0] for c in CASES}
    assert categories == {c.id.split("/")[0] for c in CASES if c.child}


def test_the_catalogue_has_unique_ids():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_a_valid_scenario_passes_every_verb(tmp_path, monkeypatch):
    """The baseline the cases bend: with it, every verb succeeds."""
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(TARIFFED))
    for argv in (
        ["validate", str(scenario)],
        ["run", str(scenario), "-q", "-r", str(tmp_path / "report.json")],
        ["bill", str(scenario), "-q", "-o", str(tmp_path / "bills.csv")],
    ):
        assert_clear(metersim_in_process(argv), OK, what=" ".join(argv))


@needs_dev_full
def test_a_plot_onto_a_full_disk_fails_with_exit_5(tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(BASE))
    result = metersim_in_process(["plot", str(scenario), "-q", "--out", "/dev/full"])
    assert_clear(result, NOT_WRITABLE, "cannot write the plot /dev/full: No space left on device")
