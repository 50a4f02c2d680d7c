"""The plot recorder's sums, the rendered picture and the optional matplotlib dependency."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from metersim.cli import main
from metersim.errors import ConfigError, MissingDependencyError, OutputNotWritableError
from metersim.plot import PlotRecorder, plot_scenario, render
from metersim.timebase import parse_instant
from tests.conftest import make_scenario, run_to_memory, scenario_dict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _independent_kw(readings: list[dict[str, Any]], commodity: str) -> dict[int, float]:
    """Sum of published interval values per timestamp, as average power [kW] (or flow [m3/h])."""
    totals: dict[int, float] = defaultdict(float)
    for r in readings:
        if r["commodity"] == commodity:
            interval: dict[str, Any] = r["interval"]
            totals[parse_instant(str(r["ts"]))] += float(interval["value"]) * 3600 / int(r["interval_s"])
    return dict(totals)


def test_recorder_aggregates_like_the_published_readings() -> None:
    scenario = make_scenario(duration="6h")
    recorder = PlotRecorder()
    sink = run_to_memory(scenario, observers=[recorder])
    readings = sink.readings()

    for commodity in ("electricity", "gas"):
        expected = _independent_kw(readings, commodity)
        ends, values = recorder.aggregate(commodity)
        assert ends.tolist() == sorted(expected)
        # without PV a meter's interval value is its true consumption, both whole thousandths: equal up to float sums
        np.testing.assert_allclose(values, [expected[t] for t in ends.tolist()], rtol=1e-9, atol=1e-9)
    assert len(recorder.aggregate("electricity")[0]) == 6 * 4
    assert len(recorder.aggregate("gas")[0]) == 6

    samples = recorder.samples()
    assert [s[0] for s in samples] == scenario.fleet[0].meter_ids()[:3] + scenario.fleet[1].meter_ids()[:3]
    assert recorder.temperatures.keys() == {"lahore", "tashkent"}  # lahore: from Asia/Karachi
    assert len(recorder.temperature("tashkent")[0]) == 6
    assert not recorder.has_pv
    assert recorder.timezone == "Asia/Karachi"


def test_groups_with_different_intervals_sum_on_a_common_axis() -> None:
    data = scenario_dict(duration="2h")
    data["fleet"][1] = {**data["fleet"][0], "name": "hourly", "interval_s": 3600, "id_format": "PK-H-{index:06d}"}
    recorder = PlotRecorder(sample_meters=1)
    run_to_memory(make_scenario(data), observers=[recorder])

    fine, coarse = recorder.groups["lahore"].demand, recorder.groups["hourly"].demand
    ends, total = recorder.aggregate("electricity")
    assert len(ends) == 8
    assert ends.tolist() == list(fine.ends_s)
    for k in range(len(ends)):
        # quarter hour k lies inside hourly interval k // 4, whose average holds over the whole hour
        assert total[k] == pytest.approx(fine.values[k] + coarse.values[k // 4])
    # energy is conserved: the mean of the sum equals the sum of the means
    assert total.mean() == pytest.approx(np.mean(fine.values) + np.mean(coarse.values))


def _plot_scenario_dict() -> dict[str, Any]:
    data = scenario_dict(start="2026-06-01T00:00:00+05:00", duration="1d")
    data["fleet"][0]["region"] = "lahore"
    data["fleet"][0]["pv"] = {"fraction": 0.5}
    return data


def test_plot_scenario_writes_a_png(tmp_path: Path) -> None:
    data = _plot_scenario_dict()
    data["outputs"] = [{"type": "mqtt", "url": "mqtt://127.0.0.1:1"}]  # replaced: no broker is needed
    out = tmp_path / "nested" / "fleet.png"
    report = plot_scenario(make_scenario(data), out, name="tiny", progress=False)

    assert report.status == "completed"
    assert report.outputs[0].output == "discard"
    blob = out.read_bytes()
    assert blob[:8] == PNG_MAGIC
    assert len(blob) > 20_000
    width, height = int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big")
    assert (width, height) == (1400, 1000)


def test_recorder_sees_pv_export() -> None:
    recorder = PlotRecorder()
    run_to_memory(make_scenario(_plot_scenario_dict()), observers=[recorder])
    assert recorder.has_pv
    ends, export = recorder.pv_export()
    assert len(ends) == 96
    assert export.max() > 0 and export.min() >= 0
    assert set(recorder.temperatures) == {"lahore", "tashkent"}


def test_render_of_an_empty_recorder_still_draws(tmp_path: Path) -> None:
    render(PlotRecorder(), tmp_path / "empty.png", "nothing")
    assert (tmp_path / "empty.png").read_bytes()[:8] == PNG_MAGIC


def _cannot_write(path: Path) -> str:
    return f"^cannot write the plot {re.escape(str(path))}: \\S.*$"  # then the reason, from the OS


def test_unwritable_plot_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputNotWritableError, match=_cannot_write(blocker / "fleet.png")):
        render(PlotRecorder(), blocker / "fleet.png", "x")


def test_unwritable_picture_raises_from_plot_scenario(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match=_cannot_write(blocker / "fleet.png")) as caught:
        plot_scenario(make_scenario(duration="1h"), blocker / "fleet.png", progress=False)
    assert caught.value.exit_code == 5
    assert blocker.read_text() == "x"


def test_plotting_writes_only_the_picture(tmp_path: Path) -> None:
    data = scenario_dict(duration="1h")
    data["truth"] = {"path": str(tmp_path / "truth.csv")}
    data["outputs"] = [{"type": "file", "path": str(tmp_path / "readings.jsonl")}]
    out = tmp_path / "fleet.png"
    report = plot_scenario(make_scenario(data), out, progress=False)
    assert report.status == "completed"
    assert out.exists()
    assert not (tmp_path / "truth.csv").exists()
    assert not (tmp_path / "readings.jsonl").exists()


MISSING_MATPLOTLIB = r"^plotting needs matplotlib: pip install 'metersim\[plot\]'$"


def test_missing_matplotlib_is_a_missing_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.raises(MissingDependencyError, match=MISSING_MATPLOTLIB) as caught:
        render(PlotRecorder(), tmp_path / "x.png", "x")
    assert caught.value.exit_code == 7
    assert not isinstance(caught.value, ConfigError)
    with pytest.raises(MissingDependencyError, match=MISSING_MATPLOTLIB):
        plot_scenario(make_scenario(duration="1h"), tmp_path / "y.png", progress=False)
    assert not (tmp_path / "x.png").exists()
    assert not (tmp_path / "y.png").exists()

    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(scenario_dict(duration="1h")))
    capsys.readouterr()
    assert main(["plot", str(scenario), "--out", str(tmp_path / "z.png"), "--quiet"]) == 7
    err = capsys.readouterr().err
    assert "metersim: error: plotting needs matplotlib: pip install 'metersim[plot]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "z.png").exists()
