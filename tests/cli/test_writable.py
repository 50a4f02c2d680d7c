"""Every path a run writes is checked before it starts: a bad one fails at once, exit 5, writing nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_user_error, file_scenario, metersim, write


def long_scenario(tmp_path: Path) -> dict:
    """A day at real-time speed: a run that started would take a day."""
    data = file_scenario(tmp_path, duration="1d", speed=1)
    data["truth"] = {"path": str(tmp_path / "truth" / "truth.csv"), "weather_path": str(tmp_path / "weather.csv")}
    return data


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def assert_fails_at_once(tmp_path: Path, args: list[str], text: str) -> None:
    before = tree(tmp_path)
    began = time.monotonic()
    result = metersim(*args, timeout=30)
    elapsed = time.monotonic() - began
    assert_user_error(result, 5, text)
    assert len(result.stderr.splitlines()) == 1
    assert elapsed < 2.0, elapsed  # process start and the check only (about 0.3 s here): nothing ran
    assert tree(tmp_path) == before  # no output, ledger, folder or report was left behind


def test_a_report_under_a_regular_file_fails_before_the_run(tmp_path):
    scenario = write(tmp_path, long_scenario(tmp_path))
    (tmp_path / "blocker").write_text("")
    report = tmp_path / "blocker" / "report.json"
    assert_fails_at_once(tmp_path, ["run", str(scenario), "-r", str(report)], f"cannot write report {report}: ")


def test_output_ledger_and_weather_paths_are_checked_before_the_run(tmp_path):
    (tmp_path / "blocker").write_text("")
    (tmp_path / "a-folder").mkdir()
    bad = {
        "outputs.0.path": ("blocker/readings.jsonl", "cannot write {}: Not a directory"),
        "truth.path": ("a-folder", "cannot write ground truth {}: Is a directory"),
        "truth.weather_path": ("blocker/deeper/weather.csv", "cannot write weather {}: Not a directory"),
    }
    for field, (path, message) in bad.items():
        data = long_scenario(tmp_path)
        scenario = write(tmp_path, data, f"{field}.yaml")
        target = str(tmp_path / path)
        args = ["run", str(scenario), "-s", f"{field}={target}", "-r", str(tmp_path / "new" / "report.json")]
        assert_fails_at_once(tmp_path, args, message.format(target))


def test_an_existing_output_is_not_truncated_by_the_check(tmp_path):
    data = long_scenario(tmp_path)
    (tmp_path / "readings.jsonl").write_text("an earlier run\n")
    (tmp_path / "blocker").write_text("")
    data["truth"]["weather_path"] = str(tmp_path / "blocker" / "weather.csv")
    assert_fails_at_once(tmp_path, ["run", str(write(tmp_path, data))], "cannot write weather")
    assert (tmp_path / "readings.jsonl").read_text() == "an earlier run\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_a_read_only_directory_fails_before_the_run(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    data = long_scenario(tmp_path)
    data["outputs"][0]["path"] = str(locked / "readings.jsonl")
    scenario = write(tmp_path, data)
    locked.chmod(0o500)
    try:
        assert_fails_at_once(tmp_path, ["run", str(scenario)], "Permission denied")
    finally:
        locked.chmod(0o700)


def test_bill_and_plot_check_their_out_before_simulating(tmp_path):
    data = long_scenario(tmp_path)
    data["tariffs"] = {"flat": {"bands": [{"name": "all"}], "prices": {"all": 1}}}
    data["fleet"][0]["tariff"] = "flat"
    data["fleet"][0]["count"] = 50_000  # a day of 50,000 meters: seconds of work if it ran
    scenario = write(tmp_path, data)
    (tmp_path / "blocker").write_text("")
    bills = tmp_path / "blocker" / "bills.csv"
    assert_fails_at_once(tmp_path, ["bill", str(scenario), "-o", str(bills)], f"cannot write bills {bills}")
    picture = tmp_path / "blocker" / "fleet.png"
    assert_fails_at_once(tmp_path, ["plot", str(scenario), "-o", str(picture)], f"cannot write the plot {picture}")


def test_a_good_run_still_creates_its_folders(tmp_path):
    data = file_scenario(tmp_path, duration="1h")
    data["outputs"][0]["path"] = str(tmp_path / "a" / "b" / "readings.jsonl")
    data["truth"] = {"path": str(tmp_path / "c" / "truth.csv")}
    report = tmp_path / "d" / "report.json"
    result = metersim("run", str(write(tmp_path, data)), "-q", "-r", str(report))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "b" / "readings.jsonl").stat().st_size > 0
    assert (tmp_path / "c" / "truth.csv").stat().st_size > 0
    assert report.stat().st_size > 0
