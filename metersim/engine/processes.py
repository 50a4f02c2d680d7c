"""Process plug-ins: things with a timeline of their own beside the meters' intervals.

A plug-in is any object with ``run(start_s, end_s)``, a generator that yields the epoch instant at
which it next wants to run; the engine resumes it at that simulated instant (an instant not in the
future: once what is due now has run) and it does its work before yielding again. Plug-ins never see
SimPy: the engine turns each yield into a timeout. The weather log is the first plug-in; outages,
communication links and command handling follow the same shape::

    class Hourly:
        def run(self, start_s, end_s):
            hour = start_s - start_s % 3600
            while hour < end_s:
                yield hour          # wait until the top of the hour
                do_something(hour)  # runs at simulated time ``hour``
                hour += 3600
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class Process(Protocol):
    """A timeline of its own (weather observations, outages, comms links, commands)."""

    def run(self, start_s: int, end_s: int) -> Iterator[float]:
        """Yield the next simulated instant [epoch s, fractions allowed] to be resumed at, within
        ``[start_s, end_s]`` [s]."""
