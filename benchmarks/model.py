"""Speed of the model's hot path: readings/s into ``discard``. Prints figures and ratios; asserts nothing.

    python benchmarks/model.py [--repeats 3] [--meters 100000] [--days 7] [--baseline PATH]

1. a plain fleet (defaults, no region, no PV), ``--meters`` x ``--days`` at 15 minutes (issue 11's
   bulk-history case: 100,000 x 7 days = 67.2 M readings);
2. the realistic model fully on (region, time-of-use bands, PV on 15 % of roofs, solar water
   heaters, instantaneous values, grid-side meters), ``--meters`` x 1 day.

Each run is a fresh ``python -m metersim run`` (as a user runs it: no cache carried over from an
earlier run), and its figure is the run report's ``readings_per_s`` (readings over the wall time of
``Simulation.run``: building the fleet and the models included, imports not). Figures are medians over
``--repeats`` runs. ``--baseline PATH`` also runs the ``metersim`` package found in PATH (a checkout
of an older commit, say), alternating with this one, and prints the ratio: on a shared, noisy
machine the ratio of runs side by side means more than either figure.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PLAIN: dict[str, Any] = {
    "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "7d", "seed": 1, "speed": "max"},
    "fleet": [
        {
            "name": "bench",
            "commodity": "electricity",
            "count": 100_000,
            "id_format": "BENCH-{index:07d}",
            "timezone": "Asia/Karachi",
            "interval_s": 900,
            "annual_kwh": 2400,
        }
    ],
    "outputs": [{"type": "discard"}],
}
# as benchmarks/throughput.py's realistic run
RICH_GROUP: dict[str, Any] = {
    "region": "lahore",
    "tariff": "tou",
    "pv": {"fraction": 0.15, "kwp_mean": 5},
    "solar_water_heater": {"fraction": 0.2},
    "instantaneous": {"phases": 1},
    "grid": {"substations": 2, "feeders_per_substation": 5, "transformers_per_feeder": 20},
}
TOU = {
    "bands": [{"name": "peak", "windows": [{"start": "17:00", "end": "21:00"}]}, {"name": "off-peak"}],
    "prices": {"peak": 49.35, "off-peak": 33.02},
}


def scenario(meters: int, days: int, rich: bool) -> dict[str, Any]:
    """The benchmark scenario as plain data (JSON is YAML)."""
    data = copy.deepcopy(PLAIN)
    data["fleet"][0]["count"] = meters
    data["simulation"]["duration"] = f"{days}d"
    if rich:
        data["fleet"][0].update(RICH_GROUP)
        data["tariffs"] = {"tou": TOU}
    return data


def rate(package_root: Path, scenario_path: Path, report_path: Path) -> float:
    """readings/s of one fresh run of the metersim package under ``package_root``."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    command = [sys.executable, "-m", "metersim", "run", str(scenario_path), "-q", "-r", str(report_path)]
    done = subprocess.run(command, env=env, cwd=scenario_path.parent, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed ({package_root}): {done.stderr.strip()}")
    report = json.loads(report_path.read_text())
    return float(report["readings_per_s"])


def compare(name: str, data: dict[str, Any], repeats: int, baseline: Path | None, tmp: Path) -> None:
    """Print the median readings/s of this tree (and of ``baseline``, with the ratio) for one scenario."""
    path = tmp / f"{name}.yaml"
    path.write_text(json.dumps(data))
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeats):  # alternate, so that both see the same spells of load
        ours.append(rate(ROOT, path, tmp / "ours.json"))
        if baseline is not None:
            theirs.append(rate(baseline, path, tmp / "theirs.json"))
    line = f"{name:<10} {statistics.median(ours):>14,.0f} readings/s"
    if theirs:
        median = statistics.median(theirs)
        line += f"   baseline {median:>14,.0f} readings/s   ratio {statistics.median(ours) / median:.2f}x"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7, help="days of the plain run (the realistic one runs 1)")
    parser.add_argument("--baseline", type=Path, help="a directory holding another metersim package to compare")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "metersim" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {args.baseline}: no metersim package there")
    print(f"metersim model speed into discard, medians of {args.repeats} fresh runs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        plain = scenario(args.meters, args.days, rich=False)
        compare(f"plain {args.days}d", plain, args.repeats, args.baseline, Path(tmp))
        compare("rich 1d", scenario(args.meters, 1, rich=True), args.repeats, args.baseline, Path(tmp))


if __name__ == "__main__":
    main()
