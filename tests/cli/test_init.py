"""`metersim init`: a commented starter scenario, or a shipped example; the examples are configs/*.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from metersim.config import parse_scenario
from tests.cli.test_cli import CONFIGS, assert_user_error, metersim
from tests.conftest import ROOT

EXAMPLES = ROOT / "metersim" / "examples"


def test_the_packaged_examples_are_the_configs_byte_for_byte():
    # metersim/examples/ ships configs/*.yaml in the wheel (package data); copy configs/ there after a change.
    assert [p.name for p in sorted(EXAMPLES.glob("*.yaml"))] == [p.name for p in CONFIGS]
    for config in CONFIGS:
        assert (EXAMPLES / config.name).read_bytes() == config.read_bytes(), f"cp configs/{config.name} {EXAMPLES}/"


def test_the_package_data_section_ships_the_examples_and_the_bdew_tables():
    assert 'metersim = ["examples/*.yaml", "data/bdew/*.csv"]' in (ROOT / "pyproject.toml").read_text()


def test_init_writes_a_commented_starter_that_validates(tmp_path):
    result = metersim("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    starter = tmp_path / "metersim.yaml"
    text = starter.read_text()
    assert text.count("\n# ") >= 5 and "metersim schema" in text  # commented, and points to the reference
    for section in ("simulation:", "fleet:", "outputs:"):
        assert f"\n{section}" in text
    assert "metersim run metersim.yaml" in result.stderr
    result = metersim("validate", str(starter))
    assert result.returncode == 0, result.stderr
    assert ": ok (" in result.stderr
    result = metersim("run", str(starter), "--duration", "1h", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "readings.jsonl").stat().st_size > 0


def test_the_starters_commented_out_examples_are_valid_too(tmp_path):
    assert metersim("init", str(tmp_path / "s.yaml")).returncode == 0
    head, body = (tmp_path / "s.yaml").read_text().split("\nfleet:\n")
    lines = []
    for line in ("fleet:\n" + body).splitlines():
        if line.startswith("#   ") or re.match(r"# (tariffs|truth):", line):
            line = line[2:]  # the optional top-level sections
        line = re.sub(r"^(\s+)# (pv:|- type: stdout)", r"\1\2", line)  # the optional lines inside sections
        lines.append(line)
    data = yaml.safe_load(head + "\n" + "\n".join(lines))
    data["fleet"][0]["tariff"] = "flat"
    scenario = parse_scenario(data)
    assert scenario.truth is not None and scenario.fleet[0].pv is not None and len(scenario.outputs) == 3


def test_init_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "mine.yaml"
    target.write_text("keep me\n")
    assert_user_error(metersim("init", str(target)), 5, f"{target} exists; give --force to overwrite it")
    assert target.read_text() == "keep me\n"
    result = metersim("init", "--force", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_text().startswith("# A metersim scenario")


def test_init_writes_a_shipped_example(tmp_path):
    target = tmp_path / "sub" / "feeder.yaml"
    result = metersim("init", "--example", "lahore-feeder", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == (ROOT / "configs" / "lahore-feeder.yaml").read_bytes()
    result = metersim("init", "--example", "no-such-place", str(tmp_path / "x.yaml"))
    assert result.returncode == 2
    assert "invalid choice: 'no-such-place'" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_init_lists_the_examples_and_writes_to_standard_output():
    result = metersim("init", "--list")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [p.stem for p in CONFIGS]
    assert "quickstart" in result.stdout and "embedded broker" in result.stdout
    result = metersim("init", "--example", "quickstart", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "configs" / "quickstart.yaml").read_text()
    starter = metersim("init", "-")
    assert starter.stdout.startswith("# A metersim scenario")


def test_every_example_written_by_init_validates(tmp_path: Path):
    paths = []
    for config in CONFIGS:
        paths.append(str(tmp_path / config.name))
        assert metersim("init", "--example", config.stem, paths[-1]).returncode == 0
    result = metersim("validate", *paths)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(": ok (") == len(CONFIGS)
