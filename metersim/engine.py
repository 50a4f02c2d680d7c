"""The SimPy engine: one process per cohort ticks its meters with numpy and hands outboxes to sinks.

Only this module imports simpy. The clock is integer epoch seconds (UTC). ``speed="max"`` runs as
fast as the sinks accept; a number paces the run against the wall clock (simulated s per wall s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy
import simpy.rt

from metersim.encoders.json import IntervalReadings, encode
from metersim.fleet import Cohort
from metersim.model.household import IntervalContext, LoadModel, interval_amounts
from metersim.sinks.base import Outbox, Sink
from metersim.streams import Stream, draw, group_key
from metersim.timebase import iso_local, utc_offset_s

_PACING_SLICE_S = 0.1  # longest uninterrupted sleep, so that a stop request is honoured promptly
_PROGRESS_EVERY_S = 0.2


class Stopped(Exception):
    """Raised inside the event loop when a stop was requested (e.g. Ctrl-C)."""


@dataclass(frozen=True)
class Window:
    """The simulated span: intervals that end inside ``(start_s, end_s]`` are reported."""

    start_s: int  # [epoch s]
    end_s: int  # [epoch s]


class _FastEnvironment(simpy.Environment):
    def __init__(self, initial_time: int, stop: threading.Event) -> None:
        super().__init__(initial_time)
        self._stop = stop

    def step(self) -> None:
        if self._stop.is_set():
            raise Stopped
        super().step()


class _PacedEnvironment(simpy.rt.RealtimeEnvironment):
    """Wall-clock pacing that sleeps in short slices so a stop request is seen within 0.1 s."""

    def __init__(self, initial_time: int, factor: float, stop: threading.Event, behind_s: float = 0.0) -> None:
        super().__init__(initial_time, factor=factor, strict=False)
        self._stop = stop
        # A run that starts in the past catches up at full speed before it settles on the wall clock.
        self.real_start -= behind_s * factor

    def step(self) -> None:
        due = self.real_start + (self.peek() - self.env_start) * self.factor
        while True:
            if self._stop.is_set():
                raise Stopped
            delay = due - time.monotonic()
            if delay <= 0:
                break
            time.sleep(min(delay, _PACING_SLICE_S))
        simpy.Environment.step(self)


@dataclass
class EngineCounters:
    readings_generated: int = 0
    simulated_now_s: int = 0  # [epoch s]


class Engine:
    """Runs a fleet over a window and feeds every reading to every sink, in a deterministic order."""

    def __init__(
        self,
        cohorts: Sequence[Cohort],
        sinks: Sequence[Sink],
        window: Window,
        *,
        seed: int,
        speed: float | None = None,
        behind_s: float = 0.0,
        model: LoadModel = interval_amounts,
        on_progress: Callable[[EngineCounters], None] | None = None,
    ) -> None:
        self.cohorts = cohorts
        self.sinks = sinks
        self.window = window
        self.seed = seed
        self.model = model
        self.counters = EngineCounters(simulated_now_s=window.start_s)
        self.stop_requested = threading.Event()
        self.on_progress = on_progress
        self._last_progress = 0.0
        self.env: simpy.Environment
        if speed is None:
            self.env = _FastEnvironment(window.start_s, self.stop_requested)
        else:
            self.env = _PacedEnvironment(window.start_s, 1.0 / speed, self.stop_requested, behind_s)

    def run(self) -> bool:
        """Run to the end of the window and drain. Returns False if stopped early."""
        processes = [self.env.process(self._tick(c)) for c in self.cohorts]
        try:
            self.env.run(until=self.env.all_of(processes))
        except Stopped:
            return False
        finally:
            self._progress(force=True)
        return True

    def _tick(self, cohort: Cohort) -> Generator[simpy.Event, None, None]:
        """Each interval: compute the whole cohort at its end, then report slot by slot."""
        group, env = cohort.group, self.env
        interval_s, tz = group.interval_s, group.timezone
        order = np.argsort(cohort.offset_s, kind="stable")
        offsets, firsts = np.unique(cohort.offset_s[order], return_index=True)
        slot_ends = [*firsts[1:].tolist(), cohort.count]
        slots = [(int(o), order[a:b]) for o, a, b in zip(offsets.tolist(), firsts.tolist(), slot_ends)]
        register = cohort.initial_milli
        key = group_key(group.name)
        sigma = group.noise_sigma
        n_intervals = (self.window.end_s - self.window.start_s) // interval_s

        def lognormal_noise(rng: np.random.Generator, k: int) -> np.ndarray:
            return rng.lognormal(-sigma * sigma / 2, sigma, k)

        for seq in range(n_intervals):
            end = self.window.start_s + (seq + 1) * interval_s
            yield env.timeout(end - env.now)
            start = end - interval_s
            noise = draw(self.seed, Stream.NOISE, key, cohort.count, end // interval_s, lognormal_noise)
            ctx = IntervalContext(interval_s=interval_s, local_start_s=start + utc_offset_s(tz, start))
            amounts = self.model(group.commodity, group.annual_amount, ctx, cohort.scale, noise)
            interval_milli = np.rint(amounts * 1000).astype(np.int64)
            register = register + interval_milli
            readings = IntervalReadings(cohort, seq, iso_local(end, tz), interval_milli, register)
            for offset, positions in slots:
                if end + offset > env.now:
                    yield env.timeout(end + offset - env.now)
                self._emit(readings, positions, iso_local(end + offset, tz))

    def _emit(self, readings: IntervalReadings, positions: np.ndarray, sent_at: str) -> None:
        topics_of = readings.cohort.topics

        def topics(template: str) -> list[str]:
            per_meter = topics_of(template)
            return [per_meter[p] for p in positions.tolist()]

        outbox = Outbox(len(positions), lambda: encode(readings, positions, sent_at), topics)
        self.counters.readings_generated += len(positions)
        for sink in self.sinks:
            sink.send(outbox)
        self._progress()

    def _progress(self, force: bool = False) -> None:
        self.counters.simulated_now_s = min(int(self.env.now), self.window.end_s)
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= _PROGRESS_EVERY_S:
            self._last_progress = now
            self.on_progress(self.counters)
