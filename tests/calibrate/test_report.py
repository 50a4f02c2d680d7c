"""The report on series built from the BDEW tables themselves (its answers are then the tables'), and one
small end-to-end run of the verb."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from metersim.calibrate import GroupSeries, format_report, group_report, load_bdew
from metersim.calibrate.references import bdew_seasons
from metersim.cli import calibrate

TABLES = Path(__file__).parent / "bdew_profiles.csv"
START_2025 = 1735689600  # 2025-01-01T00:00:00Z


def _bdew_year(profile: str, meters: int = 2) -> GroupSeries:
    """A year of 15-minute UTC intervals whose every meter draws exactly BDEW ``profile`` (no holidays)."""
    tables = load_bdew(TABLES)
    start = START_2025 + 900 * np.arange(365 * 96, dtype=np.int64)
    dates = (start // 86400).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    mday = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    weekday = (start // 86400 + 3) % 7  # Monday = 0 (1970-01-01 was a Thursday)
    dtype = np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0))
    watts = tables.grid(profile)[bdew_seasons(month, mday), dtype, (start % 86400) // 900]
    load = np.repeat((watts * 0.25 / 1000)[:, None], meters, axis=1).astype(np.float32)  # kWh per 15 min
    return GroupSeries(
        name="g",
        commodity="electricity",
        profile=f"bdew-{profile}",
        interval_s=900,
        timezone="UTC",
        country=None,
        group_count=meters,
        kwp=np.zeros(meters),
        start_s=start,
        load=load,
        temperature_c=np.full(len(start), np.nan),
        generation_kwh=np.zeros(meters),
    )


@pytest.mark.parametrize("profile", ["h0", "g0"])
def test_the_tables_agree_with_themselves(profile: str) -> None:
    report = group_report(_bdew_year(profile), load_bdew(TABLES))
    assert report["reference"]["profile"] == profile
    for cell in report["cells"]:
        assert cell["r"] == pytest.approx(1.0) and cell["mad"] == pytest.approx(0.0, abs=1e-5), cell
    for ratios in report["day_ratios"].values():
        assert ratios["saturday"] == pytest.approx(ratios["bdew_saturday"], abs=1e-4)
        assert ratios["sunday"] == pytest.approx(ratios["bdew_sunday"], abs=1e-4)
    # tables for 1,000 kWh/a over 365 days with no holidays (G0's Sundays weigh little, so without the
    # holidays that BDEW counts as Sundays the year comes to ~1,019 kWh)
    assert report["energy"]["per_meter"] == pytest.approx(1000, rel=0.025)
    assert report["diversity"]["coincidence_factor"] == pytest.approx(1.0)
    assert report["diversity"]["individual_to_fleet_median_r"] == pytest.approx(1.0)
    assert report["temperature"] is None and report["pv"] is None
    text = format_report({"scenario": "t", "start": "a", "end": "b", "days": 365, "groups": [report]})
    assert f"BDEW reference {profile.upper()}" in text


def test_g0_seasonality_is_the_tables() -> None:
    # G0's January (winter) over July (summer): both from the static tables, no dynamisation
    report = group_report(_bdew_year("g0"), load_bdew(TABLES))
    s = report["seasonality"]
    assert s["jan_jul"] == pytest.approx(s["reference_jan_jul"], rel=1e-4)
    assert 1.0 < s["jan_jul"] < 1.2


SCENARIO = """
simulation: {start: "2026-06-01T00:00:00+02:00", duration: 4d, seed: 5, speed: max}
fleet:
  - name: homes
    commodity: electricity
    count: 40
    timezone: Europe/Amsterdam
    region: amsterdam
    interval_s: 900
    annual_kwh: 3000
    pv: {fraction: 0.5, kwp_mean: 4, kwp_sd: 0.5}
  - name: gas
    commodity: gas
    count: 10
    timezone: Europe/Amsterdam
    region: amsterdam
    interval_s: 3600
    annual_m3: 1000
outputs: [{type: discard}]
"""


@pytest.mark.slow
def test_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    parser = argparse.ArgumentParser()
    calibrate.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "r.json"
    args = parser.parse_args(
        ["calibrate", str(path), "--meters", "30", "--json", str(out), "--bdew", str(TABLES), "-q"]
    )
    assert calibrate.main(args, Console(stderr=True)) == 0
    text = capsys.readouterr().out
    assert "homes (electricity" in text and "BDEW reference H0" in text
    report = json.loads(out.read_text())
    homes, gas = report["groups"]
    assert (homes["meters"], homes["group_meters"], gas["meters"]) == (30, 30, 10)  # capped at --meters
    assert homes["days"] == 4
    assert 0 < homes["diversity"]["coincidence_factor"] <= 1
    # PV in June in Amsterdam: above nothing, below a clear-sky bound of ~8 kWh/kWp a day
    assert 0 < homes["pv"]["kwh_per_kwp_fleet"] < 4 * 8
    summer = next(c for c in homes["cells"] if c["season"] == "summer" and c["day"] == "workday")
    assert -1 <= summer["r"] <= 1 and summer["mad"] >= 0
    assert homes["temperature"]["all"]["days"] == 4
    assert gas["gas"]["coldest_day"] is not None and gas["reference"] is None
