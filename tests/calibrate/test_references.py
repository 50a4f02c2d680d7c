"""The BDEW loader on the published tables (demandlib's copy, beside this file), and the season rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metersim.calibrate.references import (
    DEFAULT_PATH,
    at_interval,
    bdew_seasons,
    h0_dynamisation,
    load_bdew,
    reference_for,
)
from metersim.errors import ConfigError

HERE = Path(__file__).parent
TABLES = HERE / "bdew_profiles.csv"


def test_published_values() -> None:
    tables = load_bdew(TABLES)
    assert tables.profiles() == ["g0", "h0", "l0"]
    # VDEW H0, winter workday 00:00-00:15: 67.6 W for 1,000 kWh/a; summer workday 00:00: 86.36 W
    assert tables.cell("h0", "winter", "workday")[0] == pytest.approx(67.6)
    assert tables.cell("h0", "summer", "workday")[0] == pytest.approx(86.36)
    grid = tables.grid("h0")
    assert grid.shape == (3, 3, 96)
    # the H0 figures: Saturday/workday 1.08-1.13, Sunday/workday 1.01-1.05 over the seasons
    days = grid.sum(axis=2)
    sat, sun = days[:, 1] / days[:, 0], days[:, 2] / days[:, 0]
    assert sat.min() == pytest.approx(1.078, abs=1e-3) and sat.max() == pytest.approx(1.129, abs=1e-3)
    assert sun.min() == pytest.approx(1.014, abs=1e-3) and sun.max() == pytest.approx(1.051, abs=1e-3)


def test_package_copy_matches_the_published_one() -> None:
    if not DEFAULT_PATH.exists():
        pytest.skip("metersim/data/bdew/profiles.csv not shipped yet")
    ours, published = load_bdew(), load_bdew(TABLES)
    for p in ("h0", "g0", "l0"):
        np.testing.assert_allclose(ours.grid(p), published.grid(p), atol=0.06)


def test_missing_or_incomplete(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        load_bdew(tmp_path / "none.csv")
    short = tmp_path / "short.csv"
    short.write_text("profile,season,day,slot,watts\nh0,winter,workday,0,1.0\n")
    with pytest.raises(ConfigError, match="lacks"):
        load_bdew(short)


def test_seasons() -> None:
    months = np.array([3, 3, 5, 5, 9, 9, 10, 11, 1])
    days = np.array([20, 21, 14, 15, 14, 15, 31, 1, 1])
    assert bdew_seasons(months, days).tolist() == [0, 2, 2, 1, 1, 2, 2, 0, 0]


def test_dynamisation_and_resampling() -> None:
    # BDEW's polynomial at t = 1: -3.92e-10 + 3.2e-7 - 7.02e-5 + 2.1e-3 + 1.24
    assert h0_dynamisation(np.array([1]))[0] == pytest.approx(1.24 + 2.1e-3 - 7.02e-5 + 3.2e-7 - 3.92e-10)
    assert at_interval(np.arange(96.0), 3600)[:2].tolist() == [1.5, 5.5]
    with pytest.raises(ValueError):
        at_interval(np.arange(96.0), 1000)


def test_reference_choice() -> None:
    assert reference_for("bdew-g0")[0] == "g0"
    assert reference_for("household")[0] == "h0"
    assert reference_for("commercial")[0] == "g0"
    assert reference_for("agricultural")[0] == "l0"
