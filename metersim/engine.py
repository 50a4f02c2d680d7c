"""The SimPy engine: one process per cohort ticks its meters with numpy and hands outboxes to sinks.

Weather regions get processes of their own (hourly observations); observers see every interval's
outcome (ground truth, bills, plots) before its readings are sent.

Only this module imports simpy. The clock is integer epoch seconds (UTC). ``speed="max"`` runs as
fast as the sinks accept; a number paces the run against the wall clock (simulated s per wall s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import simpy
import simpy.rt

from metersim._array import Array
from metersim.cohort import CohortSimulator, IntervalOutcome
from metersim.encoders.json import ReadingBlock, encode
from metersim.model.weather import Weather
from metersim.sinks.base import Outbox, Sink
from metersim.timebase import iso_local

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

    def __init__(
        self,
        initial_time: int,
        factor: float,
        stop: threading.Event,
        behind_s: float = 0.0,
        idle: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(initial_time, factor=factor, strict=False)
        self._stop, self._idle = stop, idle
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
            self._idle()
        simpy.Environment.step(self)


@dataclass
class EngineCounters:
    readings_generated: int = 0
    simulated_now_s: int = 0  # [epoch s]


class Observer(Protocol):
    """Receives every interval's outcome (ground truth, bills, plots) in simulation order."""

    def observe(self, outcome: IntervalOutcome) -> None: ...


class Engine:
    """Runs a fleet over a window and feeds every reading to every sink, in a deterministic order."""

    def __init__(
        self,
        simulators: Sequence[CohortSimulator],
        sinks: Sequence[Sink],
        window: Window,
        *,
        speed: float | None = None,
        behind_s: float = 0.0,
        observers: Sequence[Observer] = (),
        weather: Sequence[tuple[str, Weather]] = (),
        on_weather: Callable[[str, int, Weather], None] | None = None,
        on_progress: Callable[[EngineCounters], None] | None = None,
    ) -> None:
        self.simulators = simulators
        self.sinks = sinks
        self.window = window
        self.observers = observers
        self.weather, self.on_weather = weather, on_weather
        self.counters = EngineCounters(simulated_now_s=window.start_s)
        self.stop_requested = threading.Event()
        self.on_progress = on_progress
        self._last_progress = 0.0
        self.env: simpy.Environment
        if speed is None:
            self.env = _FastEnvironment(window.start_s, self.stop_requested)
        else:
            self.env = _PacedEnvironment(window.start_s, 1.0 / speed, self.stop_requested, behind_s, self._poll)

    def _poll(self) -> None:
        for sink in self.sinks:
            sink.poll()

    def run(self) -> bool:
        """Run to the end of the window and drain. Returns False if stopped early."""
        processes = [self.env.process(self._tick(s)) for s in self.simulators]
        if self.on_weather is not None:
            processes += [self.env.process(self._weather(name, w)) for name, w in self.weather]
        try:
            self.env.run(until=self.env.all_of(processes))
        except Stopped:
            return False
        finally:
            self._progress(force=True)
        return True

    def _weather(self, name: str, weather: Weather) -> Generator[simpy.Event, None, None]:
        """Each region's weather has its own timeline: hourly observations for the ledger."""
        assert self.on_weather is not None
        hour = self.window.start_s - self.window.start_s % 3600
        while hour < self.window.end_s:
            if hour > self.env.now:
                yield self.env.timeout(hour - self.env.now)
            if hour >= self.window.start_s:
                self.on_weather(name, hour, weather)
            hour += 3600

    def _tick(self, simulator: CohortSimulator) -> Generator[simpy.Event, None, None]:
        """Each interval: compute the whole cohort at its end, then report slot by slot."""
        cohort, env = simulator.cohort, self.env
        interval_s, tz = cohort.group.interval_s, cohort.group.timezone
        order = np.argsort(cohort.offset_s, kind="stable")
        offsets, firsts = np.unique(cohort.offset_s[order], return_index=True)
        slot_ends = [*firsts[1:].tolist(), cohort.count]
        slots = [(int(o), order[a:b]) for o, a, b in zip(offsets.tolist(), firsts.tolist(), slot_ends)]
        n_intervals = (self.window.end_s - self.window.start_s) // interval_s
        meter_topics = cohort.topics
        grid_positions = np.arange(len(simulator.grid_ids))

        def grid_topics(template: str) -> list[str]:
            return cohort.topics(template, simulator.grid_ids, simulator.grid_places)

        for seq in range(n_intervals):
            end = self.window.start_s + (seq + 1) * interval_s
            yield env.timeout(end - env.now)
            outcome = simulator.step(seq, end)
            for observer in self.observers:
                observer.observe(outcome)
            if outcome.grid is not None:
                self._emit(outcome.grid, grid_positions, iso_local(end, tz), grid_topics)
            for offset, positions in slots:
                if end + offset > env.now:
                    yield env.timeout(end + offset - env.now)
                self._emit(outcome.meters, positions, iso_local(end + offset, tz), meter_topics)

    def _emit(self, block: ReadingBlock, positions: Array, sent_at: str, topics_of: Callable[[str], list[str]]) -> None:
        def topics(template: str) -> list[str]:
            per_meter = topics_of(template)
            return [per_meter[p] for p in positions.tolist()]

        outbox = Outbox(len(positions), lambda: encode(block, positions, sent_at), topics)
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
