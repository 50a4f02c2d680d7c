"""sha256 of one simulated day of every shipped config: readings (JSONL), ledger (CSV) and weather log.

    python benchmarks/golden.py [--root DIR] [--out DIR]

Runs ``python -m metersim run`` from ``--root`` (default: this checkout) with every output replaced by
one JSON Lines file, the ledger as CSV, the weather log beside it, and a fixed start where the config
says "now". Comparing the printed hashes of two checkouts proves a refactoring byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXED_START = "2026-07-06T00:00:00+05:00"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


def run_config(root: Path, config: Path, out: Path) -> dict[str, str]:
    text = config.read_text(encoding="utf-8")
    overrides = [
        "simulation.duration=1d",
        "simulation.speed=max",
        f"outputs=[{{type: file, path: {out}/readings.jsonl}}]",
        f"truth={{path: {out}/truth.csv, weather_path: {out}/weather.csv}}",
    ]
    if 'start: "now"' in text or "start: now" in text:
        overrides.append(f"simulation.start={FIXED_START!r}")
    args = [sys.executable, "-m", "metersim", "run", str(config), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run(args, cwd=root, env=env, check=True)
    return {name: digest(out / name) for name in ("readings.jsonl", "truth.csv", "weather.csv")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose metersim runs")
    args = parser.parse_args()
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        with tempfile.TemporaryDirectory() as tmp:
            hashes = run_config(args.root.resolve(), config, Path(tmp))
        for name, value in hashes.items():
            print(f"{value}  {config.name}:{name}")


if __name__ == "__main__":
    main()
