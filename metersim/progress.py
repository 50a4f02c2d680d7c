"""Progress while a run goes: a bar on a terminal, and log lines at a bounded period elsewhere.

Both sample the run on a wall-clock tick (a thread of their own), not on engine events, so they keep
moving while a paced run waits for its next interval and while an output holds the run back. A
:class:`Tracker` takes the samples and derives what is shown:

- the **simulated clock**, in the fleet's local time. While a paced run waits for its next event the clock
  follows the wall clock (the pacing: the instant due now); while the engine works it is where the engine
  got, and when that lags the pacing by more than :data:`LAG_SHOWN_S` wall seconds (catching up a
  backfill, or an output that cannot keep up) the display says by how much. Before a live start the
  clock lies before the window, and the display says when the run starts;
- the **current rate**: readings generated per wall second over the last :data:`RATE_WINDOW_S` seconds;
- messages **published** (accepted by the outputs, summed over them) and **acknowledged**, and **in
  flight**: MQTT messages sent and not yet acknowledged by the broker (a file's lines waiting in its
  buffer are not in flight; without an MQTT output the figure is left out);
- the **time left**: paced runs, until the window's end is due on the wall clock (longer when the engine
  is behind and its current pace says so); full speed, the simulated time left at the current pace.

Without a terminal (docker compose, CI, nohup) a run logs one line at start and a progress line every
:data:`LOG_EVERY_S` wall seconds, so that ``docker compose logs`` shows life.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from metersim.engine import EngineCounters
from metersim.report import in_flight_of
from metersim.sinks.base import Sink
from metersim.timebase import iso_local

#: wall seconds between two progress lines without a terminal
LOG_EVERY_S = 10.0
#: wall seconds between two updates of the bar on a terminal
TICK_S = 0.5
#: the current rate is measured over (at least) this many wall seconds
RATE_WINDOW_S = 5.0
#: a paced run that waited for its next event less than this long ago [wall s] is keeping pace
IDLE_GRACE_S = 0.5
#: a lag behind the pacing is shown once it is worth more than this many wall seconds
LAG_SHOWN_S = 2.0


@dataclass(frozen=True)
class Status:
    """One sample of a running run, and what the samples before it say about its pace."""

    wall_s: float  # when it was taken [monotonic s]
    clock_s: int  # the simulated clock [epoch s]; before ``start_s`` while a live run waits for its start
    start_s: int  # the window [epoch s]
    end_s: int
    generated: int  # readings generated
    published: int  # messages accepted by the outputs
    acknowledged: int  # messages acknowledged (written out, or acknowledged by the broker)
    in_flight: int | None  # MQTT messages sent and not acknowledged; None without an MQTT output
    rate: float  # readings generated per wall second, recently
    behind_s: float = 0.0  # how far the engine lags the pacing [simulated s]; 0 at full speed
    starts_in_s: float = 0.0  # wall seconds until the window starts (a live start still ahead)
    eta_s: float | None = None  # wall seconds left; None while unknown

    @property
    def fraction(self) -> float:
        """How much of the window the simulated clock has passed, 0..1."""
        return min(1.0, max(0.0, (self.clock_s - self.start_s) / max(1, self.end_s - self.start_s)))


class Tracker:
    """Samples a running engine: its counters, its outputs' counters and the pacing, at any wall time.

    Parameters
    ----------
    counters
        The engine's counters (updated in place by the engine as it runs).
    sinks
        The outputs' sinks.
    start_s, end_s
        The window [epoch s].
    speed
        None for a run at full speed, else simulated seconds per wall second.
    anchor
        Paced runs: ``(wall_s, sim_s)``, the simulated instant [epoch s] that is due at monotonic wall
        time ``wall_s`` [s] (default: the window's start, now).
    wall
        The wall clock [s]; tests pass a fake one.
    """

    def __init__(
        self,
        counters: EngineCounters,
        sinks: Sequence[Sink],
        start_s: int,
        end_s: int,
        *,
        speed: float | None = None,
        anchor: tuple[float, float] | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counters, self.sinks, self.start_s, self.end_s, self.speed = counters, sinks, start_s, end_s, speed
        self.wall = wall
        self._anchor = anchor if anchor is not None else (wall(), float(start_s))
        self._idle_at = float("-inf")
        # (wall time, readings generated, engine position) of recent samples, oldest first
        self._samples: deque[tuple[float, int, int]] = deque()

    def idle(self) -> None:
        """The engine waits for its next event: every event due so far has happened (paced runs)."""
        self._idle_at = self.wall()

    def due_s(self, wall_s: float) -> float:
        """Paced runs: the simulated instant [epoch s] due at wall time ``wall_s`` [monotonic s]."""
        assert self.speed is not None
        anchor_wall, anchor_sim = self._anchor
        return anchor_sim + (wall_s - anchor_wall) * self.speed

    def sample(self) -> Status:
        """The run as it is now, with the current rate over the last :data:`RATE_WINDOW_S`."""
        now = self.wall()
        counters = self.counters
        position, generated = counters.simulated_now_s, counters.readings_generated
        samples = self._samples
        samples.append((now, generated, position))
        while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW_S:
            samples.popleft()
        then, generated_then, position_then = samples[0]
        span = now - then
        rate = (generated - generated_then) / span if span > 0 else 0.0
        pace = (position - position_then) / span if span > 0 else 0.0  # simulated s per wall s
        left_s = self.end_s - position
        behind = starts_in = 0.0
        if self.speed is None:
            clock = position
            eta = left_s / pace if pace > 0 else (0.0 if left_s <= 0 else None)
        else:
            due = self.due_s(now)
            if now - self._idle_at <= IDLE_GRACE_S:  # keeping pace: the clock is what is due now
                clock = min(int(due), self.end_s)
            else:
                clock = position
                behind = max(0.0, min(due, self.end_s) - position)
            starts_in = max(0.0, (self.start_s - due) / self.speed)
            eta = max(0.0, (self.end_s - due) / self.speed)
            if behind > 0 and pace > 0:
                eta = max(eta, left_s / pace)
        sinks = self.sinks
        flights = [n for n in (in_flight_of(s) for s in sinks) if n is not None]
        return Status(
            wall_s=now,
            clock_s=clock,
            start_s=self.start_s,
            end_s=self.end_s,
            generated=generated,
            published=sum(s.stats.accepted for s in sinks),
            acknowledged=sum(s.stats.acknowledged for s in sinks),
            in_flight=sum(flights) if flights else None,
            rate=rate,
            behind_s=behind,
            starts_in_s=starts_in,
            eta_s=eta,
        )

    def lag_shown(self, status: Status) -> bool:
        """Whether the engine lags the pacing by more than :data:`LAG_SHOWN_S` wall seconds."""
        return self.speed is not None and status.behind_s > LAG_SHOWN_S * self.speed


def about(seconds: float) -> str:
    """A rounded duration for people: at most its two largest units, e.g. ``"4m12s"``, ``"1d2h"``, ``"0s"``."""
    rest = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n or parts:
            parts.append(f"{n}{unit}" if n else "")
    return "".join(parts[:2]) or "0s"


def start_line(meters: int, start_s: int, end_s: int, timezone: str, sinks: Sequence[Sink]) -> str:
    """The line a run logs as it starts: how many meters, the window (local time), the outputs."""
    outputs = ", ".join(s.describe() for s in sinks)
    window = f"{iso_local(start_s, timezone)} .. {iso_local(end_s, timezone)}"
    return f"metersim: {meters:,} meters, {window}, into {outputs}"


def _note(tracker: Tracker, status: Status) -> str:
    """What the clock alone does not say: a start still ahead, or a lag behind the pacing."""
    if status.starts_in_s > 0:
        return f"starts in {about(status.starts_in_s)}"
    if tracker.lag_shown(status):
        return f"{about(status.behind_s)} behind"
    return ""


def _figures(status: Status) -> list[str]:
    figures = [f"{status.published:,} published", f"{status.acknowledged:,} acknowledged"]
    if status.in_flight is not None:
        figures.append(f"{status.in_flight:,} in flight")
    return figures


def _eta(status: Status) -> str:
    return "ETA ?" if status.eta_s is None else f"ETA {about(status.eta_s)}"


def bar_text(tracker: Tracker, status: Status) -> str:
    """The figures beside the bar: note, rate, counts, time left."""
    note = _note(tracker, status)
    parts = [note] if note else []
    parts += [f"{status.rate:,.0f} readings/s", *_figures(status), _eta(status)]
    return " · ".join(parts)


def log_line(tracker: Tracker, status: Status, timezone: str) -> str:
    """One progress line: the clock (local), the share done, the rate now, counts and the time left."""
    note = _note(tracker, status)
    eta = "" if status.eta_s is None else f", about {about(status.eta_s)} left"
    return (
        f"metersim: at {iso_local(status.clock_s, timezone)} ({100 * status.fraction:.1f}%"
        f"{', ' + note if note else ''}): {status.generated:,} readings ({status.rate:,.0f}/s now), "
        f"{', '.join(_figures(status))}{eta}"
    )


class Ticker:
    """Calls ``tick`` every ``every_s`` wall seconds on a daemon thread, from :meth:`start` to :meth:`stop`."""

    def __init__(self, every_s: float, tick: Callable[[], None]) -> None:
        self.every_s, self._tick = every_s, tick
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metersim-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.every_s):
            self._tick()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class ProgressDisplay:
    """A bar over simulated time on a terminal, with the clock, the note, rate, counts and time left."""

    def __init__(self, console: Console, tracker: Tracker, timezone: str, *, every_s: float = TICK_S) -> None:
        self._tracker, self._tz = tracker, timezone
        self._progress = Progress(
            TextColumn("[bold]{task.fields[clock]}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=False,  # the ticker refreshes
        )
        self._task = self._progress.add_task(
            "run", total=max(1, tracker.end_s - tracker.start_s), clock=iso_local(tracker.start_s, timezone), figures=""
        )
        self._ticker = Ticker(every_s, self.tick)

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        self.tick()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        self._progress.stop()

    def tick(self) -> None:
        """Sample the run and redraw."""
        status = self._tracker.sample()
        self._progress.update(
            self._task,
            completed=status.fraction * max(1, status.end_s - status.start_s),
            clock=iso_local(status.clock_s, self._tz),
            figures=bar_text(self._tracker, status),
        )
        self._progress.refresh()

    def __rich__(self) -> RenderableType:
        return self._progress.get_renderable()


class ProgressLog:
    """Progress as plain log lines, one every :data:`LOG_EVERY_S` wall seconds (sampled every second,
    so that the rate is the current one)."""

    def __init__(
        self, log: Callable[[str], None], tracker: Tracker, timezone: str, *, every_s: float | None = None
    ) -> None:
        self._log, self._tracker, self._tz = log, tracker, timezone
        self.every_s = LOG_EVERY_S if every_s is None else every_s
        self._logged_at = tracker.wall()
        self._ticker = Ticker(min(1.0, self.every_s), self.tick)

    def __enter__(self) -> ProgressLog:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()

    def tick(self) -> None:
        """Sample the run; log a line when :attr:`every_s` has passed since the last one."""
        status = self._tracker.sample()
        if status.wall_s - self._logged_at >= self.every_s:
            self._logged_at = status.wall_s
            self._log(log_line(self._tracker, status, self._tz))
