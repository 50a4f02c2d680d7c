"""``--workers N``: N shard processes on one machine under one command.

Worker ``w`` of ``N`` runs shard ``w`` of ``N`` (under ``--shard K/M``: shard ``K * N + w`` of ``M * N``)
in a process of its own, forked from this one, with its own outputs and MQTT connections (file
names and client ids carry its shard, :mod:`metersim.scale.shards`). Every worker runs the same window,
resolved here once (a live start is one instant for all of them).

The parent shows one progress display (the workers' counters summed; the clock is the slowest
worker's), serves the summed metrics, and at the end merges the workers' reports into one
(:func:`~metersim.scale.merge.merge_reports`). Workers run in sessions of their own, so a terminal's
Ctrl-C reaches only the parent, which passes each stop signal (SIGINT, SIGTERM, SIGHUP) on to every
worker: the first stops them and flushes, a second gives up on blocked outputs, as in a single run.

A worker that fails stops the others and fails the run with its reason and exit code; one that dies
without a report (killed, crashed) fails it with :class:`WorkerDiedError` (exit 9). Never a silent
partial run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict
from multiprocessing.connection import Connection, wait
from typing import Any

from rich.console import Console

from metersim.config import Scenario
from metersim.engine import EngineCounters, Window
from metersim.errors import MetersimError
from metersim.metrics import MetricsSnapshot, snapshot_of
from metersim.report import RunReport
from metersim.scale.merge import merge_reports
from metersim.scale.shards import Shard, plan
from metersim.sinks.base import SinkStats

#: how often a worker sends its counters [s]
REPORT_EVERY_S = 0.25
#: how long the parent waits for a stopped worker before it kills it [s]
KILL_AFTER_S = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class WorkerDiedError(MetersimError):
    """A worker process ended without its report (killed by a signal, or crashed)."""

    exit_code = 9


def worker_shards(workers: int, outer: Shard | None) -> list[Shard]:
    """The shard each of ``workers`` runs: shard ``w`` of ``workers``, or inside ``outer``."""
    if outer is None:
        return [Shard(w, workers) for w in range(workers)]
    return [Shard(outer.index * workers + w, outer.count * workers) for w in range(workers)]


class _Worker:
    """The parent's view of one worker process."""

    def __init__(self, shard: Shard, process: Any, pipe: Connection) -> None:
        self.shard, self.process, self.pipe = shard, process, pipe
        self.now_s = 0
        self.snapshot = MetricsSnapshot()
        self.report: RunReport | None = None
        self.failure: tuple[str, int] | None = None  # (message, exit code)
        self.ended = False

    def receive(self) -> None:
        try:
            while self.pipe.poll():
                kind, *body = self.pipe.recv()
                if kind == "progress":
                    self.now_s, self.snapshot = body[0], MetricsSnapshot.from_dict(body[1])
                elif kind == "failed":
                    self.failure = (body[0], body[1])
                elif kind == "report":
                    self.report = RunReport.from_dict(body[0])
        except (EOFError, OSError):
            self.ended = True

    @property
    def name(self) -> str:
        return f"worker {self.shard.index} (shard {self.shard.index}/{self.shard.count})"

    def death(self) -> str | None:
        """Why the worker ended badly without saying why (killed, crashed), or None."""
        code = self.process.exitcode
        if not code or self.failure is not None:
            return None
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"{self.name} died ({how}){'' if self.report is not None else ' without a report'}"


def _work(scenario: Scenario, shard: Shard, window: Window, name: str, replay: str | None, pipe: Connection) -> None:
    """A worker process: run one shard, sending counters while it runs and its report at the end."""
    # A session of its own: Ctrl-C on the terminal reaches the parent only (it passes signals on), and
    # where the kernel groups CPU shares by session (sched_autogroup) each worker gets a share of its own.
    os.setsid()
    for s in STOP_SIGNALS:  # not the parent's handlers: the simulation installs its own as it runs
        signal.signal(s, signal.SIG_DFL)
    from metersim.simulation import Simulation

    console = Console(stderr=True, soft_wrap=True)
    simulation = Simulation(scenario, name=name, shard=shard, window=window, console=console, replay_commands=replay)
    done = threading.Event()

    def progress() -> tuple[str, int, dict[str, Any]]:
        engine = simulation.engine
        now_s = engine.counters.simulated_now_s if engine is not None else window.start_s
        return "progress", now_s, snapshot_of(simulation).to_dict()

    def send_progress() -> None:
        while not done.wait(REPORT_EVERY_S):
            try:
                pipe.send(progress())
            except OSError:  # the parent has gone: the run goes on to its end or its stop signal
                return

    sender = threading.Thread(target=send_progress, name="metersim-worker-progress", daemon=True)
    sender.start()
    code = 0
    try:
        simulation.run()
    except MetersimError as exc:
        pipe.send(("failed", str(exc), exc.exit_code))
        code = exc.exit_code
    finally:
        done.set()
        sender.join()
        try:
            pipe.send(progress())
            pipe.send(("report", asdict(simulation.report)))
            pipe.close()
        except OSError:
            pass
    sys.stdout.flush()
    os._exit(code)  # no atexit handlers of the parent's in a forked child


class Workers:
    """Run ``scenario`` in ``len(shards)`` worker processes; see the module docstring."""

    def __init__(
        self, scenario: Scenario, shards: Sequence[Shard], window: Window, name: str, replay_commands: str | None = None
    ) -> None:
        self.scenario, self.shards, self.window, self.name = scenario, list(shards), window, name
        self.replay_commands = replay_commands  # a command log every worker feeds back (each its own meters')
        self.workers: list[_Worker] = []
        #: the summed counters and outputs, in the shapes the progress display reads
        self.counters = EngineCounters(simulated_now_s=window.start_s)
        self.outputs: list[_OutputView] = []
        self.stopped_by: int | None = None
        self.meters = sum(r.count for s in self.shards for r in plan(scenario, s).values())

    def start(self) -> None:
        context = multiprocessing.get_context("fork")  # the scenario and the imports carry over as they are
        sys.stdout.flush()
        sys.stderr.flush()
        for shard in self.shards:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_work,
                args=(self.scenario, shard, self.window, self.name, self.replay_commands, send),
                name=f"metersim-{shard.tag}",
            )
            process.start()
            send.close()
            self.workers.append(_Worker(shard, process, receive))

    def signal(self, signum: int) -> None:
        """Pass a stop signal on to every worker still running."""
        if self.stopped_by is None:
            self.stopped_by = signum
        for worker in self.workers:
            if worker.process.exitcode is None and worker.process.pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signum)

    def snapshots(self) -> list[MetricsSnapshot]:
        return [w.snapshot for w in self.workers]

    def wait(self, tick: Callable[[], None] = lambda: None) -> tuple[RunReport, MetersimError | None]:
        """Wait for every worker, calling ``tick`` between messages; the merged report and the first failure."""
        failure: MetersimError | None = None
        stopping_since: float | None = None
        while any(w.process.exitcode is None for w in self.workers):
            wait([w.pipe for w in self.workers if not w.ended] + [w.process.sentinel for w in self.workers], 0.2)
            for worker in self.workers:
                worker.receive()
            self._sum()
            tick()
            if failure is None:
                failure = self._failure()
                if failure is not None:  # stop the others: never a partial run that looks whole
                    self.signal(signal.SIGTERM)
                    stopping_since = time.monotonic()
            if stopping_since is not None and time.monotonic() - stopping_since > KILL_AFTER_S:
                for worker in self.workers:
                    if worker.process.exitcode is None:
                        worker.process.kill()
        for worker in self.workers:
            worker.process.join()
            worker.receive()
        self._sum()
        failure = failure or self._failure()
        return self._merged(failure), failure

    def _failure(self) -> MetersimError | None:
        for worker in self.workers:
            if worker.failure is not None:
                message, code = worker.failure
                error = MetersimError(f"{worker.name}: {message}")
                error.exit_code = code
                return error
        for worker in self.workers:
            death = worker.death()
            if death is not None:
                return WorkerDiedError(death)
        return None

    def _merged(self, failure: MetersimError | None) -> RunReport:
        reports = [w.report for w in self.workers if w.report is not None]
        if not reports:
            report = RunReport(scenario=self.name, status="failed", meters=self.meters, start="", end="")
        else:
            report = merge_reports(reports, [w.name for w in self.workers if w.report is not None])
        if failure is not None:
            report.status, report.error_message = "failed", str(failure)
        return report

    def _sum(self) -> None:
        """Sum the workers' latest counters into :attr:`counters` and :attr:`outputs`."""
        total = MetricsSnapshot.total(self.snapshots())
        counters = self.counters
        counters.readings_generated = sum(total.generated_by_kind.values())
        counters.readings_published = total.readings_published
        counters.simulated_now_s = max(self.window.start_s, min(w.now_s for w in self.workers))
        while len(self.outputs) < len(total.outputs):
            self.outputs.append(_OutputView(total.outputs[len(self.outputs)].type))
        for view, metrics in zip(self.outputs, total.outputs):
            view.stats.accepted, view.stats.acknowledged, view.stats.errors = (
                metrics.accepted,
                metrics.acknowledged,
                metrics.errors,
            )


class _OutputView:
    """The summed counters of one output of every worker, shaped like a sink for the progress display."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = SinkStats()


@contextmanager
def passing_signals(workers: Workers) -> Iterator[None]:
    """While inside: the stop signals this process gets go to every worker."""
    previous = {s: signal.signal(s, lambda signum, _frame: workers.signal(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
