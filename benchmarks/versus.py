"""Two checkouts side by side in one run: readings/s into ``discard`` and into a JSON Lines file.

    python benchmarks/versus.py OLD_ROOT [NEW_ROOT] [--repeats 5]

Each case runs ``python -m metersim run`` in a child process from each checkout, alternating
old and new, and reads ``readings_per_s`` from the run report (the engine's own wall time, without
interpreter start-up). Prints the medians and the ratio new / old. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GROUP = (
    "{name: bench, commodity: electricity, count: %d, id_format: 'BENCH-{index:07d}', timezone: Asia/Karachi,"
    " annual_kwh: 2400%s}"
)
RICH = (
    ", region: lahore, tariff: tou, pv: {fraction: 0.15, kwp_mean: 5}, solar_water_heater: {fraction: 0.2},"
    " instantaneous: {phases: 1}, grid: {substations: 2, feeders_per_substation: 5, transformers_per_feeder: 20}"
)
TOU = (
    "{tou: {bands: [{name: peak, windows: [{start: '17:00', end: '21:00'}]}, {name: off-peak}],"
    " prices: {peak: 49.35, off-peak: 33.02}}}"
)
CASES = {
    "discard, 100,000 meters x 1 day": (100_000, "", "{type: discard}"),
    "discard, same, realistic model on": (100_000, RICH, "{type: discard}"),
    "JSONL file, 10,000 meters x 1 day": (10_000, "", "{type: file, path: %s/r.jsonl}"),
}


def rate(root: Path, meters: int, extra: str, output: str, tmp: str) -> float:
    scenario = Path(tmp) / "bench.yaml"
    scenario.write_text(
        "simulation: {start: '2026-01-01T00:00:00+05:00', duration: 1d, seed: 1}\n"
        f"tariffs: {TOU}\nfleet: [{GROUP % (meters, extra)}]\n"
        f"outputs: [{output % tmp if '%s' in output else output}]\n",
        encoding="utf-8",
    )
    report = Path(tmp) / "report.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "metersim", "run", str(scenario), "--quiet", "--report", str(report)]
    subprocess.run(args, cwd=root, env=env, check=True)
    return float(json.loads(report.read_text(encoding="utf-8"))["readings_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"old {args.old}  vs  new {args.new}, medians of {args.repeats} alternating runs")
    for label, (meters, extra, output) in CASES.items():
        old, new = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                old.append(rate(args.old.resolve(), meters, extra, output, tmp))
                new.append(rate(args.new.resolve(), meters, extra, output, tmp))
        a, b = statistics.median(old), statistics.median(new)
        print(f"{label:<38} old {a:>12,.0f}  new {b:>12,.0f} readings/s  ratio new/old {b / a:.3f}")


if __name__ == "__main__":
    main()
