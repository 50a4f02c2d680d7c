"""The SimPy engine: one process per group ticks its meters; each interval runs an ordered pipeline.

Per group and interval, at its start: **step** (numbers for every meter) -> **transforms** (pure
functions that change what is published and say why, as labels) -> **observers** (ground truth, bills,
plots: they see the true and the published values) -> **emit** (the meter events at the instants they
happen, grid-side meters at the interval end, then the meters slot by slot at their report offsets).
Process plug-ins (:mod:`metersim.engine.processes`) run on timelines of their own. A reading that a
transform sends later than its slot (a larger ``sent_s``: a comms backlog, a delay) or twice
(``resend_s``) goes out when the clock reaches that instant (:mod:`metersim.engine.deferred`).

The clock is integer epoch seconds (UTC). ``speed=None`` runs as fast as the outputs accept; a number
paces the run against the wall clock (simulated s per wall s), and every emission's lateness
against its scheduled wall time is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from metersim._array import Array
from metersim.engine.clocks import FastEnvironment, PacedEnvironment, Stopped
from metersim.engine.deferred import Deferred, Entry, Interval
from metersim.engine.lateness import Lateness
from metersim.engine.processes import Process
from metersim.group import GroupSimulator
from metersim.records import EventBatch, GroupInterval, Label, Observation, ReadingBatch, Sent

_PROGRESS_EVERY_S = 0.2

#: a pure function over a batch: the changed batch (a copy) and labels for what it changed
Transform = Callable[[ReadingBatch], tuple[ReadingBatch, list[Label]]]


@dataclass(frozen=True)
class Window:
    """The simulated span: intervals that end inside ``(start_s, end_s]`` are reported."""

    start_s: int  # [epoch s]
    end_s: int  # [epoch s]


@dataclass
class EngineCounters:
    """Readings counted at each engine step."""

    readings_generated: int = 0  # whose report time came (meters and grid-side meters)
    #: readings generated per kind of meter: "electricity", "gas", "grid-side"
    generated_by_kind: dict[str, int] = field(default_factory=dict)
    readings_published: int = 0  # handed to the outputs after the transforms
    readings_duplicated: int = 0  # second copies a transform asked for (``resend_s``), not in the above
    labels: int = 0  # produced by the steps (supply interruptions) and the transforms
    events_published: int = 0  # meter events (power down/up, ...) handed to the outputs
    simulated_now_s: int = 0  # [epoch s]
    lateness: Lateness | None = None  # paced runs only
    behind_s: float = 0.0  # paced runs: how far the start lay behind the wall clock [s]
    progress_at: float = field(default=0.0, repr=False)


class Observer:
    """Receives every group interval, after the transforms, in simulation order (a base to subclass).

    ``observe`` runs when the interval is stepped, before its readings go out; ``sent`` runs once they
    all have (``observation.sent`` says which rows went out, also for a run stopped mid-interval).
    """

    def observe(self, observation: Observation) -> None:
        raise NotImplementedError

    def sent(self, observation: Observation) -> None:
        return None


Emit = Callable[[ReadingBatch, Array], None]
EmitEvents = Callable[[EventBatch], None]


class Engine:
    """Runs groups over a window; hands every published reading to ``emit`` in a deterministic order.

    Parameters
    ----------
    simulators
        One per group (or range of a group), in scenario order.
    emit
        Receives each emission: a batch and the rows of it to send now.
    emit_events
        Receives the meter events of each interval when it is stepped (None: events are not sent).
    window
        The simulated span.
    speed
        None for as fast as possible, else simulated seconds per wall second.
    behind_s
        Paced runs: how far the window's start lies behind the wall clock [s] (caught up at full speed).
    transforms, observers, processes
        The pipeline's plug-ins, applied in order.
    idle
        Called while a paced run waits (outputs service their connections).
    on_progress
        Called with the counters at most every 0.2 s wall.
    stop
        Set it (from any thread) to stop the run at the next event; default: a new one.
    """

    def __init__(
        self,
        simulators: Sequence[GroupSimulator],
        emit: Emit,
        window: Window,
        *,
        speed: float | None = None,
        behind_s: float = 0.0,
        transforms: Sequence[Transform] = (),
        observers: Sequence[Observer] = (),
        processes: Sequence[Process] = (),
        idle: Callable[[], None] = lambda: None,
        on_progress: Callable[[EngineCounters], None] | None = None,
        stop: threading.Event | None = None,
        emit_events: EmitEvents | None = None,
        join_deferred: bool = False,
    ) -> None:
        """``join_deferred``: emit the deferred readings that leave together (of one meter set) as one
        batch, for an output that makes one message of them (``format: batch``); else one by one."""
        self.simulators, self.emit, self.window = simulators, emit, window
        self.emit_events, self.join_deferred = emit_events, join_deferred
        self.transforms, self.observers, self.processes = transforms, observers, processes
        self.counters = EngineCounters(simulated_now_s=window.start_s)
        self.deferred = Deferred()
        self._wake: simpy.Event | None = None  # set while the release loop waits
        self._ticking = 0  # group processes still ticking
        self.stop_requested = stop or threading.Event()
        self.on_progress = on_progress
        self.env: simpy.Environment
        if speed is None:
            self.env = FastEnvironment(window.start_s, self.stop_requested)
        else:
            self.env = PacedEnvironment(window.start_s, 1.0 / speed, self.stop_requested, behind_s, idle)
            self.counters.lateness = Lateness()
            self.counters.behind_s = behind_s

    def run(self) -> bool:
        """Run to the end of the window. Returns False if stopped early."""
        processes = [self.env.process(self._tick(s)) for s in self.simulators]
        self._ticking = len(processes)
        if self.transforms:  # only a transform can make a reading leave late or twice
            processes.append(self.env.process(self._release_deferred()))
        processes += [self.env.process(self._plugin(p)) for p in self.processes]
        try:
            self.env.run(until=self.env.all_of(processes))
        except Stopped:
            return False
        finally:
            self._progress(force=True)
        return True

    def _plugin(self, process: Process) -> Generator[simpy.Event, None, None]:
        for wake_s in process.run(self.window.start_s, self.window.end_s):
            yield self.env.timeout(max(0.0, wake_s - self.env.now))  # now: after what is already due

    def _tick(self, simulator: GroupSimulator) -> Generator[simpy.Event, None, None]:
        """Each interval: step the whole group at its start, send its events as they happen, report slot by slot."""
        env, interval_s = self.env, simulator.interval_s
        offsets_s = simulator.report_offsets_s
        order = np.argsort(offsets_s, kind="stable")
        offsets, firsts = np.unique(offsets_s[order], return_index=True)
        slot_ends = [*firsts[1:].tolist(), len(offsets_s)]
        slots = [(int(o), order[a:b]) for o, a, b in zip(offsets.tolist(), firsts.tolist(), slot_ends)]
        n_intervals = (self.window.end_s - self.window.start_s) // interval_s
        for seq in range(simulator.first_seq, n_intervals):
            end = self.window.start_s + (seq + 1) * interval_s
            # Stepped at its start (or once the last report slot of the one before has gone; the model is
            # addressable, so nothing depends on when), so that the events logged during the interval (a
            # last gasp) leave when they happen, not at its end.
            if end - interval_s > env.now:
                yield env.timeout(end - interval_s - env.now)
            observation = self._observe(simulator.step(seq, end), simulator)
            published, sent = observation.published, observation.sent
            assert sent is not None
            interval = Interval(observation)
            events = published.events
            sending = None
            if events is not None and len(events) and self.emit_events is not None:
                sending = env.process(self._send_events(events))
            if end > env.now:
                yield env.timeout(end - env.now)
            # once per interval: whether a transform moved or doubled a reading (else none is deferred)
            defer = published is not observation.true and any(
                b is not t and (b.resend_s is not None or bool((b.sent_s != t.sent_s).any()))
                for b, t in zip(published.batches(), observation.true.batches())
            )
            if published.grid is not None:
                grid = published.grid
                self._emit(grid, np.arange(len(grid)), sent.grid, bool(grid.published.all()), interval, defer)
            meters = published.meters
            every = bool(meters.published.all())  # once per interval: no transform withheld a reading
            for offset, rows in slots:
                if end + offset > env.now:
                    yield env.timeout(end + offset - env.now)
                self._emit(meters, rows, sent.meters, every, interval, defer)
            if sending is not None and not sending.triggered:
                yield sending  # its last events are due by the interval end
            interval.ticked = True
            self._finish(interval)
        self._ticking -= 1
        self._wake_release()

    def _send_events(self, events: EventBatch) -> Generator[simpy.Event, None, None]:
        """Hand each of an interval's events to the outputs at its ``sent_s`` (in time order)."""
        assert self.emit_events is not None
        events = events.take(np.argsort(events.sent_s, kind="stable"))
        times, first = np.unique(events.sent_s, return_index=True)
        bounds = [*first[1:].tolist(), len(events)]
        for time_s, a, b in zip(times.tolist(), first.tolist(), bounds):
            if time_s > self.env.now:
                yield self.env.timeout(time_s - self.env.now)
            self.emit_events(events.take(np.arange(a, b)))
            self.counters.events_published += b - a

    def _finish(self, interval: Interval) -> None:
        """Tell the observers once every reading of an interval has gone out."""
        if interval.done:
            observation = interval.observation
            assert observation.sent is not None
            observation.sent.complete = True
            for observer in self.observers:
                observer.sent(observation)

    def _release_deferred(self) -> Generator[simpy.Event, None, None]:
        """Emit deferred rows when they are due; ends once every group has ticked and nothing is left."""
        env = self.env
        while True:
            due_s = self.deferred.next_due_s()
            if due_s is None and not self._ticking:
                return
            if due_s is None or due_s > env.now:
                # (no nested Condition here: SimPy disarms a condition nested in one that fires)
                self._wake = env.event()
                waits = [self._wake] if due_s is None else [self._wake, env.timeout(due_s - env.now)]
                yield env.any_of(waits)
                self._wake = None
                continue
            for entries in self.deferred.pop_due(int(env.now)):
                self._release(entries)

    def _wake_release(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _release(self, entries: list[Entry]) -> None:
        """Emit deferred entries (of one meter set, all copies or none) together: a concentrator's upload
        carries the readings of several intervals in one emission, in the order they were deferred."""
        if len(entries) > 1 and self.join_deferred:  # (joining costs copies: only when a format uses it)
            joined = ReadingBatch.join([e.batch.take(e.rows) for e in entries])
            self.emit(joined, np.arange(len(joined)))
        else:
            for entry in entries:
                self.emit(entry.batch, entry.rows)
        count = sum(len(e.rows) for e in entries)
        if entries[0].copy:
            self.counters.readings_duplicated += count
        else:
            self.counters.readings_published += count
            for entry in entries:
                batch, rows, interval = entry.batch, entry.rows, entry.interval
                assert interval.observation.sent is not None
                sent = interval.observation.sent.grid if batch.meters.grid_side else interval.observation.sent.meters
                sent.append(rows)
                self._schedule_copies(batch, rows, interval)
                interval.outstanding -= 1
                self._finish(interval)
        self._progress()

    def _defer(self, due_s: Array, batch: ReadingBatch, rows: Array, interval: Interval, copy: bool = False) -> None:
        """Store ``rows`` of ``batch`` to go out at ``due_s`` (one instant per row) [epoch s]."""
        times, groups = np.unique(due_s, return_inverse=True)
        for k, time_s in enumerate(times.tolist()):
            self.deferred.push(int(time_s), batch, rows[groups == k], interval, copy=copy)
        self._wake_release()

    def _schedule_copies(self, batch: ReadingBatch, rows: Array, interval: Interval) -> None:
        if batch.resend_s is None:
            return
        again = batch.resend_s[rows] >= 0
        if again.any():
            due = np.maximum(batch.resend_s[rows][again], int(self.env.now))
            self._defer(due, batch, rows[again], interval, copy=True)

    def _observe(self, true: GroupInterval, simulator: GroupSimulator) -> Observation:
        """Run the transforms over each batch of the interval, then every observer."""
        published = true
        labels: tuple[Label, ...] = ()
        if self.transforms:
            batches, found = [], []
            events = [true.events] if true.events is not None else []
            for batch in true.batches():
                for transform in self.transforms:
                    batch, new = transform(batch)
                    found += new
                    logged = getattr(transform, "events", None)  # a fault that logs meter events (tamper)
                    if logged is not None and not batch.meters.grid_side:
                        rows, time_s, code = logged(batch)
                        if len(rows):
                            events.append(EventBatch(batch.meters, batch.meters_at[rows], time_s, code, time_s))
                batches.append(batch)
            grid = batches[1] if len(batches) > 1 else None
            published = GroupInterval(true.start_s, true.end_s, true.seq, batches[0], grid, _merged(events))
            labels = tuple(found)
        labels = true.labels + labels
        self.counters.labels += len(labels)
        observation = Observation(true, published, labels, simulator.weather, Sent())
        for observer in self.observers:
            observer.observe(observation)
        return observation

    def _emit(
        self, batch: ReadingBatch, due: Array, sent: list[Array], every: bool, interval: Interval, defer: bool
    ) -> None:
        """Hand the rows ``due`` now to the outputs, except those a transform withheld or sends later.

        ``every``: whether the batch publishes every row; ``defer``: whether any row of the interval
        leaves late or twice (both checked once per interval, not per slot).
        """
        counters = self.counters
        kind = "grid-side" if batch.meters.devices is not None else batch.meters.commodity
        counters.generated_by_kind[kind] = counters.generated_by_kind.get(kind, 0) + len(due)
        counters.readings_generated += len(due)
        rows = due if every else due[batch.published[due]]
        if defer and len(rows):
            later = batch.sent_s[rows] > self.env.now
            if later.any():
                self._defer(batch.sent_s[rows][later], batch, rows[later], interval)
                rows = rows[~later]
        if len(rows):
            counters.readings_published += len(rows)  # handed over, even if an output then fails
            self.emit(batch, rows)
            sent.append(rows)
            if defer:
                self._schedule_copies(batch, rows, interval)
        lateness, env = self.counters.lateness, self.env
        if lateness is not None and isinstance(env, PacedEnvironment):
            due_at = env.wall_time_of(env.now)
            if due_at >= env.began:  # backfill of a start in the past is not late, it is catching up
                lateness.record(time.monotonic() - due_at)
        self._progress()

    def _progress(self, force: bool = False) -> None:
        counters = self.counters
        counters.simulated_now_s = min(int(self.env.now), self.window.end_s)
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - counters.progress_at >= _PROGRESS_EVERY_S:
            counters.progress_at = now
            self.on_progress(counters)


def _merged(parts: list[EventBatch]) -> EventBatch | None:
    """The events of one interval (all about one meter set), in time order (stable)."""
    if len(parts) < 2:
        return parts[0] if parts else None
    first = parts[0]
    merged = EventBatch(
        first.meters,
        np.concatenate([p.meters_at for p in parts]),
        np.concatenate([p.time_s for p in parts]),
        np.concatenate([p.code for p in parts]).astype(np.int16),
        np.concatenate([p.sent_s for p in parts]),
    )
    return merged.take(np.argsort(merged.time_s, kind="stable"))
