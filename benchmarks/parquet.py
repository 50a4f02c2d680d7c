"""The Parquet output against ``discard``, side by side. Prints figures and ratios; asserts nothing.

    python benchmarks/parquet.py [--repeats 3] [--meters 100000] [--days 7] [--keep DIR]

100,000 electricity meters x 7 days at 15 minutes (67.2 M readings), plain fleet, into ``parquet`` and
into ``discard``, each run in a child process (so its peak RSS is its own), runs alternating.
Per output: readings/s of the whole run (median of ``--repeats``), peak RSS of the child [MB], and for
Parquet the CPU time the sink costs (CPU, not wall, so that other work on a shared machine counts less):
on the simulation's thread (inside ``send_batch`` and ``close``) and on the sink's writer thread, as ns
per reading and as the
readings/s the sink alone would take, so that the model's cost (which ``discard`` shows) and the
writer's are told apart. Acceptance (issue 4): >= 10 M readings/s per core into Parquet, peak RSS
under 1.5 GB whatever the duration.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metersim.config import parse_scenario  # noqa: E402
from metersim.simulation import Simulation  # noqa: E402

#: one run's longest wall time [s]; a child past it is killed (the loop stays bounded)
CHILD_TIMEOUT_S = 1800


def scenario_data(meters: int, days: int, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": f"{days}d", "seed": 1, "speed": "max"},
        "fleet": [
            {
                "name": "bench",
                "commodity": "electricity",
                "count": meters,
                "id_format": "BENCH-{index:07d}",
                "timezone": "Asia/Karachi",
                "interval_s": 900,
                "annual_kwh": 2400,
            }
        ],
        "outputs": [output],
    }


def child(meters: int, days: int, kind: str, folder: str) -> None:
    """One run in this process; prints one JSON line of figures."""
    from metersim.sinks.parquet import ParquetSink

    spent = [0.0, 0.0]  # CPU [s] of the simulation's thread inside the sink; of the sink's writer thread

    def timed(method: Any) -> Any:
        def wrapper(self: Any, *args: Any) -> Any:
            began = time.thread_time()
            try:
                return method(self, *args)
            finally:
                spent[0] += time.thread_time() - began
                spent[1] = self.writer_cpu_s

        return wrapper

    ParquetSink.send_batch = timed(ParquetSink.send_batch)  # type: ignore[method-assign]
    ParquetSink.close = timed(ParquetSink.close)  # type: ignore[method-assign]
    output = {"type": "parquet", "path": folder} if kind == "parquet" else {"type": "discard"}
    report = Simulation(parse_scenario(scenario_data(meters, days, output))).run()
    size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet")) if kind == "parquet" else 0
    figures = {
        "readings": report.readings_generated,
        "wall_s": report.wall_s,
        "sink_s": spent[0],
        "writer_s": spent[1],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": size,
    }
    print(json.dumps(figures))


def run_child(meters: int, days: int, kind: str, folder: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--meters", str(meters), "--days", str(days)]
    command += ["--keep", folder]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--keep", help="write the Parquet partitions here (default: a temporary directory)")
    parser.add_argument("--child", choices=("parquet", "discard"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.meters, args.days, args.child, args.keep)
        return

    print(f"metersim parquet, {args.meters:,} meters x {args.days} days @15 min, medians of {args.repeats} runs, "
          f"{os.cpu_count()} cores")  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {"parquet": [], "discard": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or f"{tmp}/parquet"
        for _ in range(args.repeats):
            for kind in runs:  # alternating, so that both see the same machine load
                runs[kind].append(run_child(args.meters, args.days, kind, folder))

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    def rate(kind: str) -> float:
        return statistics.median(r["readings"] / r["wall_s"] for r in runs[kind])

    readings = median("parquet", "readings")
    sink_ns = statistics.median(r["sink_s"] / r["readings"] * 1e9 for r in runs["parquet"])
    writer_ns = statistics.median(r["writer_s"] / r["readings"] * 1e9 for r in runs["parquet"])
    both_ns = statistics.median((r["sink_s"] + r["writer_s"]) / r["readings"] * 1e9 for r in runs["parquet"])
    print(f"readings per run:             {readings:>14,.0f}")
    print(f"discard  readings/s:          {rate('discard'):>14,.0f}   peak RSS {median('discard', 'rss_mb'):>7,.0f} MB")
    print(f"parquet  readings/s:          {rate('parquet'):>14,.0f}   peak RSS {median('parquet', 'rss_mb'):>7,.0f} MB")
    print(f"parquet / discard:            {rate('parquet') / rate('discard'):>14.2f}")
    print(f"sink, simulation's thread:    {sink_ns:>14.1f} ns/reading = {1e9 / sink_ns:,.0f} readings/s")
    print(f"sink, writer thread:          {writer_ns:>14.1f} ns/reading = {1e9 / writer_ns:,.0f} readings/s")
    print(f"sink, both (CPU per reading): {both_ns:>14.1f} ns/reading = {1e9 / both_ns:,.0f} readings/s per core "
          "(target >= 10,000,000)")  # fmt: skip
    print(f"parquet bytes per reading:    {median('parquet', 'bytes') / readings:>14.2f}")


if __name__ == "__main__":
    main()
