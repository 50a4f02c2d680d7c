"""Several scenario files merged in order, and `-` for standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from metersim.config.load import merge_scenarios
from tests.cli.test_cli import assert_user_error, file_scenario, metersim, write
from tests.conftest import ROOT, scenario_dict


def metersim_stdin(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metersim", *args],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_merging_deep_merges_mappings_and_replaces_lists():
    base = {
        "simulation": {"duration": "1d", "seed": 1},
        "fleet": [{"name": "a"}, {"name": "b"}],
        "truth": {"path": "t"},
    }
    overlay = {"simulation": {"seed": 2}, "fleet": [{"name": "c"}], "truth": None}
    merged = merge_scenarios(base, overlay)
    assert merged == {"simulation": {"duration": "1d", "seed": 2}, "fleet": [{"name": "c"}], "truth": None}
    assert base["simulation"]["seed"] == 1  # neither input is changed


def test_run_merges_scenario_files_in_order(tmp_path):
    base = write(tmp_path, file_scenario(tmp_path), "base.yaml")
    readings = tmp_path / "local.jsonl"
    local = {"simulation": {"duration": "2h"}, "outputs": [{"type": "file", "path": str(readings)}]}
    local_path = write(tmp_path, local, "local.yaml")
    count = write(tmp_path, {"fleet": [{**scenario_dict()["fleet"][0], "count": 3}]}, "count.yaml")
    report = tmp_path / "r.json"
    result = metersim("run", str(base), str(local_path), str(count), "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["scenario"] == "base.yaml+local.yaml+count.yaml"
    assert data["meters"] == 3  # the later fleet list replaced the whole earlier one
    assert data["simulated_s"] == 7200  # simulation: merged key by key, start and seed kept from base.yaml
    assert len(readings.read_text().splitlines()) == 3 * 8
    assert not (tmp_path / "readings.jsonl").exists()  # the outputs list was replaced, not extended


def test_an_error_after_merging_names_the_merged_files(tmp_path):
    base = write(tmp_path, scenario_dict(), "base.yaml")
    bad = write(tmp_path, {"simulation": {"seed": -1}}, "bad.yaml")
    result = metersim("run", str(base), str(bad))
    assert_user_error(result, 2, f"{base} + {bad}: simulation.seed:")
    missing = tmp_path / "missing.yaml"
    assert_user_error(metersim("run", str(base), str(missing)), 2, f"metersim: error: {missing}: cannot read")


def test_a_dash_reads_the_scenario_from_standard_input(tmp_path):
    text = yaml.safe_dump(file_scenario(tmp_path, duration="1h"))
    report = tmp_path / "r.json"
    result = metersim_stdin(text, "run", "-", "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["scenario"] == "stdin"
    assert len((tmp_path / "readings.jsonl").read_text().splitlines()) == 20 * 4 + 10
    overlay = write(tmp_path, {"simulation": {"duration": "2h"}}, "overlay.yaml")
    result = metersim_stdin(text, "run", "-", str(overlay), "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["simulated_s"] == 7200


def test_standard_input_errors_name_it(tmp_path):
    assert_user_error(metersim_stdin("simulation: [1, 2\n", "run", "-"), 2, "<stdin>: invalid YAML: line")
    result = metersim_stdin(yaml.safe_dump(scenario_dict()), "validate", "-")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "<stdin>: ok (30 meters in 2 group(s))\n"


def test_validate_checks_each_file_on_its_own(tmp_path):
    good = write(tmp_path, scenario_dict(), "good.yaml")
    partial = write(tmp_path, {"simulation": {"duration": "2h"}}, "partial.yaml")  # valid only merged
    result = metersim("validate", str(good), str(partial))
    assert result.returncode == 2
    assert f"{good}: ok (30 meters in 2 group(s))" in result.stderr
    assert f"{partial}: fleet: " in result.stderr  # required (in whatever words the messages use)


def test_run_help_documents_merging():
    result = metersim("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # whatever the width argparse wraps at
    assert "SCENARIO [SCENARIO ...]" in text
    assert "lists are not concatenated" in text
    assert "- reads standard input" in text
