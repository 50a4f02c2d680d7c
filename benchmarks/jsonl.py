"""JSON Lines throughput, measured side by side in one process. Prints figures and ratios; asserts nothing.

    python benchmarks/jsonl.py [--repeats 3] [--meters 100000] [--duration 1d]

1. readings/s of a plain fleet (100,000 electricity meters, one day at 15 minutes: 9.6 M readings)
   into a JSON Lines file and into ``discard``, the runs alternating, and their ratio: what the
   encoder and the file sink cost on top of the model;
2. the encoder alone, in ns/reading [CPU time], on the batches of the first intervals of the same
   fleet cut into its report slots as the engine emits them: ``encode`` (one payload per reading, for
   MQTT) and ``lines`` (JSON Lines blocks, for a file).

Figures are medians over ``--repeats`` runs; these machines are noisy (other jobs share the cores), so
compare the ratio, measured side by side, more than the absolute rates.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metersim.config import Scenario, parse_scenario  # noqa: E402
from metersim.encoders.json import JsonEncoder  # noqa: E402
from metersim.engine.core import Observer  # noqa: E402
from metersim.errors import MetersimError  # noqa: E402
from metersim.records import Observation, ReadingBatch  # noqa: E402
from metersim.simulation import Simulation  # noqa: E402

SHM = "/dev/shm"
PLAIN: dict[str, Any] = {
    "simulation": {"start": "2026-01-01T00:00:00+05:00", "duration": "1d", "seed": 1, "speed": "max"},
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


def scenario(meters: int, duration: str, output: dict[str, Any]) -> Scenario:
    data = copy.deepcopy(PLAIN)
    data["fleet"][0]["count"] = meters
    data["simulation"]["duration"] = duration
    data["outputs"] = [output]
    return parse_scenario(data)


def rate(s: Scenario) -> tuple[float, float]:
    """Readings/s of one in-process run, by the wall clock and per CPU second [user + system, all
    threads], failing loudly on errors."""
    cpu = time.process_time()
    try:
        report = Simulation(s).run()
    except MetersimError as exc:
        raise SystemExit(f"benchmark run failed: {exc}") from None
    cpu = time.process_time() - cpu
    return report.readings_generated / report.wall_s, report.readings_generated / cpu


class _Batches(Observer):
    """Keeps the published batches of the first ``intervals`` intervals."""

    def __init__(self, intervals: int) -> None:
        self.intervals = intervals
        self.batches: list[ReadingBatch] = []

    def observe(self, observation: Observation) -> None:
        if self.intervals > 0:
            self.intervals -= 1
            self.batches += observation.published.batches()


def emissions(meters: int, intervals: int) -> list[ReadingBatch]:
    """The batches the engine hands to the outputs: each interval's rows cut by the instant they leave."""
    keep = _Batches(intervals)
    Simulation(scenario(meters, f"{intervals * 900}s", {"type": "discard"}), observers=[keep]).run()
    out = []
    for batch in keep.batches:
        _, inverse = np.unique(batch.sent_s, return_inverse=True)
        out += [batch.take(np.flatnonzero(inverse == k)) for k in range(int(inverse.max()) + 1)]
    return out


def ns_per_reading(work: Callable[[ReadingBatch], object], batches: list[ReadingBatch], repeats: int) -> float:
    """Median CPU time [ns] per reading of ``work`` over every batch (CPU time: others share the cores)."""
    readings = sum(len(b) for b in batches)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for batch in batches:
            work(batch)
        times.append(time.process_time() - start)
    return statistics.median(times) / readings * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is printed")
    parser.add_argument("--meters", type=int, default=100_000, help="meters of the plain fleet")
    parser.add_argument("--duration", default="1d", help="simulated time of each end-to-end run")
    parser.add_argument(
        "--dir", default=SHM if Path(SHM).is_dir() else None, help=f"where the file goes (default: {SHM}, a tmpfs)"
    )
    args = parser.parse_args()

    files, discards = [], []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        into_file = scenario(args.meters, args.duration, {"type": "file", "path": f"{tmp}/readings.jsonl"})
        into_discard = scenario(args.meters, args.duration, {"type": "discard"})
        for _ in range(args.repeats):  # alternating, so that both see the same load on the machine
            files.append(rate(into_file))
            discards.append(rate(into_discard))
    print(f"{args.meters:,} meters x {args.duration} into {args.dir or 'the temporary directory'}, "
          f"medians of {args.repeats} runs:")  # fmt: skip
    for clock, k in (("wall", 0), ("CPU", 1)):
        file_rate, discard_rate = statistics.median(r[k] for r in files), statistics.median(r[k] for r in discards)
        print(
            f"  by {clock} time: JSONL file {file_rate / 1e6:5.2f} M readings/s, discard {discard_rate / 1e6:5.2f} M/s,"
            f" ratio {file_rate / discard_rate:.2f}; encoding + writing {(1 / file_rate - 1 / discard_rate) * 1e9:.0f}"
            " ns/reading"
        )

    batches = emissions(args.meters, intervals=4)
    encoder = JsonEncoder()
    encoder.encode(batches[0])  # the meter set's ids are rendered once, before timing
    readings = sum(len(b) for b in batches)
    print(f"encoder alone, {readings:,} readings in {len(batches)} emissions, CPU time:")
    print(f"  encode (a payload per reading)  {ns_per_reading(encoder.encode, batches, args.repeats):5.0f} ns/reading")
    print(f"  lines (JSON Lines blocks)       {ns_per_reading(encoder.lines, batches, args.repeats):5.0f} ns/reading")


if __name__ == "__main__":
    main()
