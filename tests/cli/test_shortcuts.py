"""Short flags and the shortcuts for the usual overrides, run as a user would."""

from __future__ import annotations

import json

from tests.cli.test_cli import assert_user_error, file_scenario, metersim, write
from tests.conftest import scenario_dict


def one_group(tmp_path, **simulation) -> dict:
    data = file_scenario(tmp_path, **simulation)
    data["fleet"] = data["fleet"][:1]
    return data


def test_short_flags_set_quiet_and_report(tmp_path):
    scenario = write(tmp_path, file_scenario(tmp_path))
    report = tmp_path / "r.json"
    result = metersim("run", str(scenario), "-s", "simulation.duration=1h", "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(report.read_text())
    assert data["simulated_s"] == 3600
    assert data["readings_generated"] == 20 * 4 + 10


def test_duration_seed_speed_and_count_shortcuts(tmp_path):
    scenario = write(tmp_path, one_group(tmp_path))
    report = tmp_path / "r.json"
    args = ("--duration", "2h", "--seed", "7", "--speed", "max", "--count", "5", "-q", "-r", str(report))
    result = metersim("run", str(scenario), *args)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["meters"] == 5 and data["simulated_s"] == 7200
    assert data["readings_generated"] == 5 * 8
    first = (tmp_path / "readings.jsonl").read_bytes()
    # --seed 7 is --set simulation.seed=7: the same readings either way, and others than seed 42's
    again = metersim("run", str(scenario), "-s", "simulation.seed=7", "--duration", "2h", "--count", "5", "-q")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "readings.jsonl").read_bytes() == first
    assert metersim("run", str(scenario), "--duration", "2h", "--count", "5", "-q").returncode == 0
    assert (tmp_path / "readings.jsonl").read_bytes() != first


def test_shortcuts_apply_after_every_set(tmp_path):
    scenario = write(tmp_path, one_group(tmp_path))
    result = metersim("validate", str(scenario), "--count", "3", "-s", "fleet.0.count=9")
    assert result.returncode == 0, result.stderr
    assert "ok (3 meters in 1 group(s))" in result.stderr


def test_count_with_several_groups_is_an_error(tmp_path):
    scenario = write(tmp_path, file_scenario(tmp_path))
    for verb in ("run", "validate"):
        result = metersim(verb, str(scenario), "--count", "5")
        assert_user_error(result, 2, "--count: give --set fleet.K.count=N for a scenario with several groups")
    assert not (tmp_path / "readings.jsonl").exists()


def test_bad_shortcut_values_are_one_line_config_errors(tmp_path):
    scenario = write(tmp_path, one_group(tmp_path))
    result = metersim("run", str(scenario), "--seed", "abc", "--speed", "-1", "--duration", "7x", "--count", "0")
    assert_user_error(result, 2, "simulation.seed: ")  # the wording is the messages module's
    for text in ("simulation.speed:", "simulation.duration:", "'7x'", "fleet[0].count:"):
        assert text in result.stderr
    assert all(line.startswith("metersim: error: ") for line in result.stderr.splitlines())
    assert not (tmp_path / "readings.jsonl").exists()


def test_url_points_every_mqtt_output_at_another_broker(tmp_path):
    data = one_group(tmp_path, duration="1h")
    dead = {"type": "mqtt", "url": "mqtt://127.0.0.1:1", "connect_timeout_s": 5, "topic": "metersim-test/{meter_id}"}
    data["outputs"] += [dead, {**dead, "qos": 0}]
    scenario = write(tmp_path, data)
    report = tmp_path / "r.json"
    result = metersim("run", str(scenario), "--url", "mqtt://127.0.0.1:1883", "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr  # the real Mosquitto took both outputs' readings
    outputs = json.loads(report.read_text())["outputs"]
    assert [o["acknowledged"] for o in outputs] == [20 * 4] * 3
    assert_user_error(metersim("validate", str(scenario), "--url", "http://x"), 2, "outputs[1].url: expected mqtt://")


def test_url_without_an_mqtt_output_is_an_error(tmp_path):
    scenario = write(tmp_path, scenario_dict())
    assert_user_error(metersim("validate", str(scenario), "--url", "mqtt://127.0.0.1"), 2, "no `type: mqtt` output")


def test_bill_and_plot_take_the_short_flags_and_shortcuts(tmp_path):
    data = one_group(tmp_path)
    data["tariffs"] = {"flat": {"bands": [{"name": "all"}], "prices": {"all": 1}}}
    data["fleet"][0]["tariff"] = "flat"
    scenario = write(tmp_path, data)
    bills = tmp_path / "bills.csv"
    result = metersim("bill", str(scenario), "-o", str(bills), "--count", "4", "--duration", "2h", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(bills.read_text().splitlines()) == 1 + 4
    picture = tmp_path / "fleet.png"
    result = metersim("plot", str(scenario), "-o", str(picture), "--duration", "1d", "-s", "fleet.0.count=3", "-q")
    assert result.returncode == 0, result.stderr
    assert picture.stat().st_size > 0


def test_set_reports_a_bad_path_as_before(tmp_path):
    scenario = write(tmp_path, scenario_dict())
    result = metersim("run", str(scenario), "-s", "fleet.5.count=1")
    assert_user_error(result, 2, "scenario.yaml: --set fleet.5.count: fleet.5 is not an item of a list of 2")
    assert_user_error(
        metersim("run", str(scenario), "--set", "nonsense"), 2, "--set 'nonsense': expected dotted.path=value"
    )
