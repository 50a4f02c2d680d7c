"""A picture of a run: fleet demand per commodity, a few sample meters, regional temperature and PV export.

:class:`PlotRecorder` is an engine observer that keeps small time series while the run goes on;
:func:`render` draws them with matplotlib (an optional dependency, imported only when drawing).

Units: electricity as average power over the interval [kW], gas as average flow [m3/h]; both are
the interval's energy or volume (thousandths of kWh or m3) divided by the interval length.

Groups with different intervals: each group keeps its own series, a piecewise-constant function of
time that holds the interval's average over ``(start, end]``. A fleet total is their sum, evaluated
on the union of every group's interval ends, so it stays exact (no resampling) whatever the mix of
intervals. Memory is a few floats per group and interval (a year of 15-minute data for a handful of
groups is a few MB); no per-meter arrays are kept beyond the first ``sample_meters`` of each group.
"""

from __future__ import annotations

import importlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metersim._array import Array
from metersim.config import Scenario
from metersim.engine import Observer
from metersim.errors import MissingDependencyError, not_writable
from metersim.records import Observation
from metersim.report import RunReport
from metersim.timebase import format_duration, iso_local, parse_instant, zone

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PlotRecorder", "Series", "plot_scenario", "render"]

_RATE_UNIT = {"electricity": "kW", "gas": "m3/h"}
_QUANTITY = {"electricity": "demand", "gas": "flow"}


@dataclass
class Series:
    """One piecewise-constant series: ``values[i]`` holds over ``(ends_s[i] - interval_s, ends_s[i]]``."""

    interval_s: int
    ends_s: array[int] = field(default_factory=lambda: array("q"))  # [epoch s]
    values: array[float] = field(default_factory=lambda: array("d"))

    def append(self, end_s: int, value: float) -> None:
        self.ends_s.append(end_s)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.ends_s)


@dataclass
class _GroupRecord:
    name: str
    commodity: str
    timezone: str
    region: str | None
    demand: Series  # sum of true consumption [kW or m3/h]
    export: Series | None  # sum of PV export [kW]; None without PV
    sample_ids: list[str]
    samples: list[Series]  # one per sample meter [kW or m3/h]


class PlotRecorder(Observer):
    """Engine observer: aggregate demand per group, a few sample meters, temperature per region, PV export."""

    def __init__(self, sample_meters: int = 3) -> None:
        if sample_meters < 0:
            raise ValueError("sample_meters must be >= 0")
        self.sample_meters = sample_meters
        self.groups: dict[str, _GroupRecord] = {}
        #: region name -> {interval middle [epoch s]: temperature [degC]}
        self.temperatures: dict[str, dict[int, float]] = {}

    def observe(self, observation: Observation) -> None:
        true = observation.true
        batch, meters = true.meters, true.meters.meters
        interval_s = true.end_s - true.start_s
        record = self.groups.get(meters.group)
        if record is None:
            sample_ids = meters.ids[: self.sample_meters]
            record = _GroupRecord(
                name=meters.group,
                commodity=meters.commodity,
                timezone=meters.timezone,
                region=meters.region or None,
                demand=Series(interval_s),
                export=Series(interval_s) if batch.export_milli is not None else None,
                sample_ids=list(sample_ids),
                samples=[Series(interval_s) for _ in sample_ids],
            )
            self.groups[meters.group] = record
        per_hour = 3600 / interval_s / 1000  # thousandths per interval -> units per hour
        load = batch.true_milli
        record.demand.append(true.end_s, float(load.sum()) * per_hour)
        for k, series in enumerate(record.samples):
            series.append(true.end_s, float(load[k]) * per_hour)
        export = batch.export_milli
        if record.export is not None and export is not None:
            record.export.append(true.end_s, float(export.sum()) * per_hour)
        temperature_c, _ = observation.region_at_middle()
        if record.region is not None and temperature_c is not None:
            middle = (true.start_s + true.end_s) // 2
            self.temperatures.setdefault(record.region, {})[middle] = temperature_c

    # --- views for drawing and tests ----------------------------------------------------------------

    @property
    def commodities(self) -> list[str]:
        """Commodities seen, electricity first."""
        seen = {r.commodity for r in self.groups.values() if len(r.demand)}
        return [c for c in ("electricity", "gas") if c in seen] + sorted(seen - {"electricity", "gas"})

    @property
    def timezone(self) -> str:
        """The first group's time zone (the one the picture's time axis is shown in)."""
        return next(iter(self.groups.values())).timezone if self.groups else "UTC"

    @property
    def has_pv(self) -> bool:
        return any(r.export is not None for r in self.groups.values())

    def aggregate(self, commodity: str) -> tuple[Array, Array]:
        """Fleet demand of one commodity: (interval ends [epoch s], average power [kW] or flow [m3/h])."""
        return _sum_series([r.demand for r in self.groups.values() if r.commodity == commodity])

    def pv_export(self) -> tuple[Array, Array]:
        """Fleet PV export: (interval ends [epoch s], average power [kW]); empty without PV."""
        return _sum_series([r.export for r in self.groups.values() if r.export is not None])

    def samples(self) -> list[tuple[str, str, Array, Array]]:
        """(meter id, commodity, interval ends [epoch s], kW or m3/h) for each sample meter."""
        out = []
        for record in self.groups.values():
            for meter_id, series in zip(record.sample_ids, record.samples):
                out.append((meter_id, record.commodity, _ends(series), _values(series)))
        return out

    def temperature(self, region: str) -> tuple[Array, Array]:
        """(interval middles [epoch s], temperature [degC]) of one region, in time order."""
        points = sorted(self.temperatures.get(region, {}).items())
        return np.array([t for t, _ in points], dtype=np.int64), np.array([v for _, v in points], dtype=float)


def _ends(series: Series) -> Array:
    return np.array(series.ends_s, dtype=np.int64)  # a copy: the recorder's arrays may still grow


def _values(series: Series) -> Array:
    return np.array(series.values, dtype=float)


def _sum_series(parts: list[Series]) -> tuple[Array, Array]:
    """Sum piecewise-constant series on the union of their interval ends, up to the shortest one's end."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    last = min(p.ends_s[-1] for p in parts)
    grid = np.unique(np.concatenate([_ends(p) for p in parts]))
    grid = grid[grid <= last]
    total = np.zeros(len(grid))
    for p in parts:
        ends, values = _ends(p), _values(p)
        # The interval of ``p`` that contains the sub-interval ending at each grid point: the first end >= t.
        total += values[np.searchsorted(ends, grid, side="left")]
    return grid, total


# --- drawing -------------------------------------------------------------------------------------


def _import_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("plotting", "matplotlib", "plot") from None
    return matplotlib


def _steps(ends_s: Array, values: Array, interval_s: int | None = None) -> tuple[Array, Array]:
    """Points for a ``steps-pre`` line that also draws the first interval (from its start)."""
    if len(ends_s) == 0:
        return np.zeros(0, dtype="datetime64[s]"), values
    first = ends_s[0] - (interval_s if interval_s is not None else (ends_s[1] - ends_s[0] if len(ends_s) > 1 else 0))
    times = np.concatenate([[first], ends_s]).astype("datetime64[s]")
    return times, np.concatenate([[values[0]], values])


def render(recorder: PlotRecorder, path: str | Path, title: str) -> None:
    """Draw the recorded run as a PNG (or any format matplotlib infers from ``path``), ~1400x1000 px."""
    matplotlib = _import_matplotlib()
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    mdates: Any = importlib.import_module("matplotlib.dates")  # its locators are untyped

    tz_name = recorder.timezone
    tz = zone(tz_name)

    fig = Figure(figsize=(14, 10), dpi=100)
    axes = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.5, 1.5]})
    ax_demand, ax_samples, ax_temp, ax_pv = axes
    fig.suptitle(title, fontsize=14)
    elec_color, gas_color = "tab:blue", "tab:red"

    # (1) aggregate demand: electricity on the left axis, gas on a twin right axis (or the left one if alone)
    commodities = recorder.commodities
    handles: list[Any] = []
    for commodity in commodities:
        ends, values = recorder.aggregate(commodity)
        times, ys = _steps(ends, values, _finest_interval(recorder, commodity))
        axis = ax_demand.twinx() if commodity != commodities[0] else ax_demand
        color = gas_color if commodity == "gas" else elec_color
        axis.set_ylabel(f"{commodity} {_QUANTITY.get(commodity, '')} [{_RATE_UNIT.get(commodity, '?')}]", color=color)
        axis.tick_params(axis="y", labelcolor=color)
        groups = sum(1 for r in recorder.groups.values() if r.commodity == commodity)
        label = f"{commodity}, fleet total ({groups} group{'s' * (groups != 1)})"
        (line,) = axis.plot(times, ys, drawstyle="steps-pre", color=color, linewidth=1.4, label=label)
        handles.append(line)
    _from_zero({line.axes for line in handles})
    if handles:
        ax_demand.legend(handles=handles, loc="upper left", fontsize=9)
    else:
        _note(ax_demand, "no intervals recorded")
    ax_demand.set_title("aggregate true demand", fontsize=11, loc="left")

    # (2) sample meters: the first commodity solid on the left axis, the other dashed on a twin right axis
    samples = recorder.samples()
    twin: Any = None
    handles = []
    for meter_id, commodity, ends, values in samples:
        axis, style = ax_samples, "-"
        if commodity != samples[0][1]:
            if twin is None:
                twin = ax_samples.twinx()
                twin.set_ylabel(f"{commodity} [{_RATE_UNIT.get(commodity, '?')}]")
            axis, style = twin, "--"
        times, ys = _steps(ends, values)
        label = f"{meter_id} [{_RATE_UNIT.get(commodity, '?')}]"
        (line,) = axis.plot(times, ys, style, drawstyle="steps-pre", linewidth=1.0, label=label)
        handles.append(line)
    _from_zero({line.axes for line in handles})
    if handles:
        first = samples[0][1]
        ax_samples.set_ylabel(f"{first} [{_RATE_UNIT.get(first, '?')}]")
        ax_samples.legend(handles=handles, loc="upper left", fontsize=8, ncol=min(3, len(handles)))
    else:
        _note(ax_samples, "no sample meters")
    ax_samples.set_title("sample meters (true consumption)", fontsize=11, loc="left")

    # (3) temperature per region
    plotted = False
    for region in sorted(recorder.temperatures):
        middles, temps = recorder.temperature(region)
        ax_temp.plot(middles.astype("datetime64[s]"), temps, linewidth=1.2, label=region)
        plotted = True
    ax_temp.set_ylabel("air temperature [°C]")
    if plotted:
        ax_temp.legend(loc="upper left", fontsize=9)
    else:
        _note(ax_temp, "no weather region in this scenario")
    ax_temp.set_title("temperature per region", fontsize=11, loc="left")

    # (4) PV export
    if recorder.has_pv:
        ends, values = recorder.pv_export()
        times, ys = _steps(ends, values, _finest_export_interval(recorder))
        ax_pv.fill_between(times, ys, step="pre", color="goldenrod", alpha=0.35)
        ax_pv.plot(times, ys, drawstyle="steps-pre", color="darkgoldenrod", linewidth=1.2, label="fleet PV export")
        _from_zero({ax_pv})
        ax_pv.legend(loc="upper left", fontsize=9)
    else:
        _note(ax_pv, "no PV in this scenario")
    ax_pv.set_ylabel("PV export [kW]")
    ax_pv.set_title("PV export to the grid", fontsize=11, loc="left")

    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=12)
    ax_pv.xaxis.set_major_locator(locator)
    ax_pv.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    ax_pv.set_xlabel(f"time ({tz_name})")
    for axis in axes:
        axis.grid(True, alpha=0.3)
    fig.tight_layout()

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # into a file of our own: matplotlib's savefig(path) swallows a write error (a full disk)
        with open(target, "wb") as handle:
            fig.savefig(handle, dpi=100, format=target.suffix.lstrip(".").lower() or None)
    except OSError as exc:
        raise not_writable("the plot", target, exc) from None


def _finest_interval(recorder: PlotRecorder, commodity: str) -> int | None:
    intervals = [r.demand.interval_s for r in recorder.groups.values() if r.commodity == commodity]
    return min(intervals) if intervals else None


def _finest_export_interval(recorder: PlotRecorder) -> int | None:
    intervals = [r.export.interval_s for r in recorder.groups.values() if r.export is not None]
    return min(intervals) if intervals else None


def _from_zero(axes: set[Any], headroom: float = 1.2) -> None:
    """Start the y axes at 0 (once everything is drawn) and leave room at the top for the legend."""
    for axis in axes:
        top = axis.get_ylim()[1]
        axis.set_ylim(0, top * headroom if top > 0 else 1)


def _note(axis: Any, text: str) -> None:
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", fontsize=11, color="gray")
    axis.set_yticks([])


# --- one call: run and draw ----------------------------------------------------------------------


def plot_scenario(
    scenario: Scenario,
    out: str | Path,
    *,
    name: str = "scenario",
    console: Console | None = None,
    progress: bool = True,
    sample_meters: int = 3,
) -> RunReport:
    """Run ``scenario`` into a discard output (no broker, no files) at full speed and draw it to ``out``.

    Missing matplotlib raises :class:`MissingDependencyError` before anything runs; a failed run or a
    plot that cannot be written raises its MetersimError. An interrupted run is drawn as far as it got.
    """
    from metersim.simulation import Simulation

    _import_matplotlib()
    quiet = scenario.without_outputs().model_copy(
        update={"simulation": scenario.simulation.model_copy(update={"speed": "max"})}
    )
    recorder = PlotRecorder(sample_meters)
    report = Simulation(quiet, name=name, console=console, progress=progress, observers=[recorder]).run()
    start, end = parse_instant(report.start), parse_instant(report.end)
    local_start = iso_local(start, scenario.fleet[0].timezone)
    title = f"{name}: {scenario.meter_count:,} meters, {format_duration(end - start)} from {local_start}"
    render(recorder, out, title)
    return report
