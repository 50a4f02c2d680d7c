"""The SimPy environments the engine runs in: as fast as possible, or paced against the wall clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import simpy
import simpy.rt

_PACING_SLICE_S = 0.1  # longest uninterrupted sleep, so that a stop request is honoured promptly


class Stopped(Exception):
    """Raised inside the event loop when a stop was requested (e.g. Ctrl-C)."""


class FastEnvironment(simpy.Environment):
    """As fast as the outputs accept; a stop request ends it at the next event."""

    def __init__(self, initial_time: int, stop: threading.Event) -> None:
        super().__init__(initial_time)
        self._stop = stop

    def step(self) -> None:
        if self._stop.is_set():
            raise Stopped
        super().step()


class PacedEnvironment(simpy.rt.RealtimeEnvironment):
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
        self.began = time.monotonic()
        # A run that starts in the past catches up at full speed before it settles on the wall clock.
        self.real_start -= behind_s * factor

    def wall_time_of(self, sim_s: float) -> float:
        """The monotonic wall time [s] at which simulated instant ``sim_s`` is due."""
        return float(self.real_start + (sim_s - self.env_start) * self.factor)

    def step(self) -> None:
        due = self.wall_time_of(self.peek())
        while True:
            if self._stop.is_set():
                raise Stopped
            delay = due - time.monotonic()
            if delay <= 0:
                break
            time.sleep(min(delay, _PACING_SLICE_S))
            self._idle()
        simpy.Environment.step(self)
