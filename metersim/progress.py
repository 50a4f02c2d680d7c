"""Progress while a run goes: a bar on a terminal, and log lines at a bounded period elsewhere.

Without a terminal (docker compose, CI, nohup) a run logs one line at start and a progress line every
:data:`LOG_EVERY_S` wall seconds, so that ``docker compose logs`` shows life.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from metersim.engine import EngineCounters
from metersim.sinks.base import Sink
from metersim.timebase import format_duration, iso_local, iso_utc

#: wall seconds between two progress lines without a terminal
LOG_EVERY_S = 10.0


class ProgressDisplay:
    """A progress bar over simulated time, with readings/s and messages in flight."""

    def __init__(self, console: Console, start_s: int, end_s: int, sinks: list[Sink]) -> None:
        self._start_s, self._sinks = start_s, sinks
        self._progress = Progress(
            TextColumn("[bold]{task.fields[sim_time]}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[rate]} readings/s"),
            TextColumn("{task.fields[in_flight]} in flight"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "run", total=max(1, end_s - start_s), sim_time=iso_utc(start_s), rate="0", in_flight="0"
        )
        self._began = 0.0

    def __enter__(self) -> ProgressDisplay:
        self._began = time.monotonic()
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, counters: EngineCounters) -> None:
        elapsed = max(time.monotonic() - self._began, 1e-9)
        in_flight = sum(s.stats.in_flight for s in self._sinks)
        self._progress.update(
            self._task,
            completed=counters.simulated_now_s - self._start_s,
            sim_time=iso_utc(counters.simulated_now_s),
            rate=f"{counters.readings_generated / elapsed:,.0f}",
            in_flight=f"{in_flight:,}",
        )


class ProgressLog:
    """Progress as plain log lines: the simulated clock (local), the current rate, published and
    acknowledged counts, and the time left."""

    def __init__(self, log: Callable[[str], None], start_s: int, end_s: int, sinks: list[Sink], timezone: str) -> None:
        self._log, self._start_s, self._end_s, self._sinks, self._tz = log, start_s, end_s, sinks, timezone
        self._began = time.monotonic()
        self._last = (self._began, 0)  # (wall time, readings) of the previous line

    def start(self, meters: int) -> None:
        outputs = ", ".join(s.describe() for s in self._sinks)
        span = f"{iso_local(self._start_s, self._tz)} .. {iso_local(self._end_s, self._tz)}"
        self._log(f"metersim: {meters:,} meters, {span}, into {outputs}")

    def update(self, counters: EngineCounters, force: bool = False) -> None:
        now = time.monotonic()
        wall_then, readings_then = self._last
        if not force and now - wall_then < LOG_EVERY_S:
            return
        rate = (counters.readings_generated - readings_then) / max(now - wall_then, 1e-9)
        self._last = (now, counters.readings_generated)
        accepted = sum(s.stats.accepted for s in self._sinks)
        acknowledged = sum(s.stats.acknowledged for s in self._sinks)
        done = counters.simulated_now_s - self._start_s
        left = self._end_s - counters.simulated_now_s
        sim_rate = done / max(now - self._began, 1e-9) if done > 0 else 0.0
        eta = f", about {format_duration(int(left / sim_rate))} left" if sim_rate > 0 and left > 0 else ""
        self._log(
            f"metersim: at {iso_local(counters.simulated_now_s, self._tz)}: {counters.readings_generated:,} "
            f"readings ({rate:,.0f}/s now), {accepted:,} published, {acknowledged:,} acknowledged{eta}"
        )
