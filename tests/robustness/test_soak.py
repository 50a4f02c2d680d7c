"""A paced soak: a real ``metersim run`` at wall-clock pace for a minute (``METERSIM_SOAK_S``, e.g. 300),
publishing 2,000 readings/s over MQTT (QoS 1, a broker at stock limits) and into a file, while its
resident memory (VmRSS from ``/proc``) is sampled twice a second.

After the warm-up (the first quarter of the soak, at least 15 s) the RSS must stay within
:data:`GROWTH_BOUND_MIB` of what it was at the end of the warm-up: a leak of one object per reading
(~2,000/s) would pass that within seconds. The run must end normally, deliver every reading, and keep
pace (the report's ``lateness``). The figures are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.robustness.brokers import (
    Lab,
    Run,
    check_delivered,
    check_result,
    expected_readings,
    fleet_scenario,
    new_prefix,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: length of the soak [s] of wall time
SOAK_S = int(os.environ.get("METERSIM_SOAK_S", "60"))
METERS = 2_000
INTERVAL_S = 900
#: simulated seconds per wall second: one interval of every meter per second, 2,000 readings/s
SPEED = INTERVAL_S
#: largest RSS growth after the warm-up [MiB]
GROWTH_BOUND_MIB = 16.0
SAMPLE_EVERY_S = 0.5


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path) as made:
        yield made


def rss_mib(pid: int) -> float | None:
    """Resident set size of ``pid`` [MiB], None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Sample a process's RSS every :data:`SAMPLE_EVERY_S` in a thread: (seconds since start, MiB)."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, float]] = []
        self._pid = pid
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = rss_mib(self._pid)
            if rss is None:
                return
            self.samples.append((time.monotonic() - self._started, rss))
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_paced_soak_keeps_its_memory_flat_and_delivers_everything(lab: Lab, tmp_path: Path) -> None:
    broker = lab.broker(stock_limits=True)
    prefix = new_prefix()
    sub = lab.subscriber(broker, prefix)
    intervals = SOAK_S
    outputs = [
        {"type": "mqtt", "url": broker.url, "qos": 1},
        {"type": "file", "path": str(tmp_path / "soak.jsonl")},
    ]
    scenario = fleet_scenario(
        tmp_path, prefix, meters=METERS, duration=f"{intervals * INTERVAL_S}s", speed=SPEED, outputs=outputs
    )
    started = Run(scenario)
    sampler = RssSampler(started.pid)
    try:
        result = started.wait(SOAK_S + 120)
    finally:
        sampler.stop()
        started.kill()
    check_result(result, 0, status="completed")
    check_delivered(sub, result, expected_readings(prefix, METERS, intervals))

    # The run's clock starts after its imports and set-up: measure from its first second of readings.
    samples = sampler.samples
    assert samples, "no RSS sample"
    first = next((t for t, _ in samples if t >= result.wall_s - SOAK_S), 0.0)
    warm_up_s = max(15.0, SOAK_S / 4)
    warm = [rss for t, rss in samples if t <= first + warm_up_s]
    after = [rss for t, rss in samples if t > first + warm_up_s]
    assert warm and after, samples
    baseline, peak, last = warm[-1], max(after), after[-1]
    print(
        f"\nsoak {SOAK_S} s at {METERS * SPEED // INTERVAL_S:,} readings/s: RSS at start {samples[0][1]:.1f} MiB, "
        f"after {warm_up_s:.0f} s warm-up {baseline:.1f} MiB, peak after warm-up {peak:.1f} MiB, "
        f"at the end {last:.1f} MiB (growth {peak - baseline:+.1f} MiB, bound {GROWTH_BOUND_MIB:g}); "
        f"lateness {result.report and result.report.get('lateness')}"
    )
    assert peak - baseline <= GROWTH_BOUND_MIB, (baseline, peak, samples)
    lateness = (result.report or {}).get("lateness") or {}
    assert lateness.get("p99_ms", 0) < 1_000, lateness  # it kept pace
