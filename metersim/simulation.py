"""The public embedding API: build a run from a scenario, run it, get its report.

::

    from metersim import Simulation, load_scenario

    simulation = Simulation(load_scenario("configs/quickstart.yaml"))
    report = simulation.run()  # raises a MetersimError subclass on failure; .report holds it anyway

A :class:`Simulation` opens the scenario's outputs (plus any ``sinks`` given), builds one
:class:`~metersim.group.GroupSimulator` per group (or per given range of a group's chunks), adds the
ledger and the weather log when the scenario asks for them, and runs the engine with the given
transforms, observers and process plug-ins.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from types import FrameType

from rich.console import Console

from metersim.config import Climate, DiscardOutput, MqttOutput, Scenario
from metersim.engine import Engine, Observer, Process, Transform, Window
from metersim.errors import MetersimError
from metersim.fleet import build_attributes
from metersim.group import GroupSimulator
from metersim.ledger.truth import TruthWriter
from metersim.ledger.weather import WeatherLog
from metersim.model.weather import Weather
from metersim.outputs import Output, Outputs
from metersim.parameters import climate_params
from metersim.progress import ProgressDisplay, ProgressLog
from metersim.report import RunReport
from metersim.sinks.base import Interrupted, Sink
from metersim.sinks.factory import open_sink
from metersim.state import StateWriter, load_state
from metersim.streams import MeterRange, group_key
from metersim.timebase import iso_utc, now_floored


def resolve_window(scenario: Scenario) -> tuple[Window, float]:
    """The simulated window, and how far [s] its start lies behind the wall clock (for "now")."""
    sim = scenario.simulation
    if sim.start_s is None:
        # Align to the longest interval so meters report on round clock times, as real ones do.
        start = now_floored(max(g.interval_s for g in scenario.fleet))
        behind = time.time() - start
    else:
        start, behind = sim.start_s, 0.0
    return Window(start, start + sim.duration_s), behind


def build_groups(
    scenario: Scenario, window: Window, meters: Mapping[str, MeterRange] | None = None
) -> list[GroupSimulator]:
    """One simulator per group (its whole fleet, or the range ``meters[name]``), sharing one Weather per region."""
    seed = scenario.simulation.seed
    weathers: dict[str, Weather] = {}
    simulators = []
    for group in scenario.fleet:
        climate: Climate | None = scenario.all_regions[group.region] if group.region else None
        weather = None
        if climate is not None and group.region is not None:
            weather = weathers.get(group.region)
            if weather is None:
                zone = scenario.region_timezone(group.region)
                weather = weathers[group.region] = Weather(climate_params(climate), seed, group_key(group.region), zone)
        tariff = scenario.tariffs[group.tariff] if group.tariff else None
        attributes = build_attributes(group, seed, (meters or {}).get(group.name))
        simulators.append(
            GroupSimulator(
                attributes, seed=seed, start_s=window.start_s, weather=weather, climate=climate, tariff=tariff
            )
        )
    return simulators


def regions_of(simulators: Sequence[GroupSimulator]) -> list[tuple[str, Weather]]:
    """Each region used by the simulators once, in order of first use."""
    seen: dict[str, Weather] = {}
    for simulator in simulators:
        if simulator.weather is not None:
            seen.setdefault(simulator.group.region or "", simulator.weather)
    return list(seen.items())


class Simulation:
    """One run of a scenario.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`metersim.load_scenario`).
    name
        Shown in the report and the summary.
    sinks
        Extra sinks (e.g. a MemorySink) that receive JSON payload v1 besides the scenario's outputs.
    transforms, observers, processes
        Plug-ins for the engine pipeline (see :mod:`metersim.engine`).
    meters
        Run only these ranges of chunks of the named groups (default: every meter).
    console, progress
        Where log lines go, and whether to show a progress bar on a terminal.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        name: str = "scenario",
        sinks: Sequence[Sink] = (),
        transforms: Sequence[Transform] = (),
        observers: Sequence[Observer] = (),
        processes: Sequence[Process] = (),
        meters: Mapping[str, MeterRange] | None = None,
        console: Console | None = None,
        progress: bool = False,
    ) -> None:
        self.scenario, self.name = scenario, name
        self.extra_sinks, self.transforms, self.observers, self.processes = sinks, transforms, observers, processes
        self.meters = meters
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.report = RunReport(scenario=name, status="pending", meters=scenario.meter_count, start="", end="")
        self._stop = threading.Event()
        #: the signal that stopped the run (SIGINT, SIGTERM or SIGHUP), None otherwise
        self.stopped_by: int | None = None
        self._sinks: list[Sink] = []
        self._grace: threading.Timer | None = None

    def stop(self) -> None:
        """Ask a running simulation to stop at the next event and flush (safe from any thread)."""
        self._stop.set()

    def _on_signal(self, signum: int) -> None:
        """First stop signal: stop and flush, and if the outputs are still blocked after
        :data:`GRACE_S` (a broker that is away), give up on them; a second one gives up at once."""
        if self.stopped_by is None:
            self.stopped_by = signum
            self.stop()
            self._grace = threading.Timer(GRACE_S, self._interrupt_sinks)
            self._grace.daemon = True
            self._grace.start()
        else:
            self._interrupt_sinks()

    def _interrupt_sinks(self) -> None:
        for sink in self._sinks:
            sink.interrupt()

    def run(self) -> RunReport:
        """Run to the end of the window (or a stop request) and return the report.

        Raises a :class:`~metersim.errors.MetersimError` subclass on failure; :attr:`report` then
        holds the failed run's report, with everything counted up to the failure.
        """
        scenario = self.scenario
        state_path = Path(scenario.simulation.state_path) if scenario.simulation.state_path else None
        saved = load_state(state_path, scenario) if state_path is not None else None
        window, behind_s = resolve_window(scenario)
        if saved is not None:
            window, behind_s = saved[0], max(0.0, time.time() - saved[0].start_s)
        report = self.report
        report.start, report.end, report.status = iso_utc(window.start_s), iso_utc(window.end_s), "failed"
        outputs = Outputs([])
        engine: Engine | None = None
        began = time.monotonic()
        try:
            with _graceful_signals(self._on_signal), ExitStack() as stack:
                outputs = Outputs(self._open_outputs(stack, resume=saved is not None))
                simulators = build_groups(scenario, window, self.meters)
                observers, processes = list(self.observers), list(self.processes)
                if saved is not None:
                    for simulator in simulators:
                        simulator.restore(saved[1][simulator.group.name])
                if state_path is not None:
                    state = StateWriter(state_path, scenario, window, simulators, outputs.flush)
                    observers.append(stack.enter_context(state))
                if scenario.truth is not None:
                    truth = scenario.truth
                    ledger = TruthWriter(truth.path, truth.resolved_format, append=saved is not None)
                    observers.append(stack.enter_context(ledger))
                    if truth.weather_path:
                        log = stack.enter_context(WeatherLog(truth.weather_path, regions_of(simulators)))
                        processes += log.processes()
                speed = scenario.simulation.speed
                engine = Engine(
                    simulators,
                    outputs.emit,
                    window,
                    speed=None if speed == "max" else float(speed),
                    behind_s=behind_s,
                    transforms=self.transforms,
                    observers=observers,
                    processes=processes,
                    idle=outputs.poll,
                    stop=self._stop,
                )
                display = (
                    ProgressDisplay(self.console, window.start_s, window.end_s, outputs.sinks)
                    if self.progress and self.console.is_terminal
                    else nullcontext()
                )
                if self.progress and not self.console.is_terminal:
                    zone = scenario.fleet[0].timezone
                    lines = ProgressLog(self._log, window.start_s, window.end_s, outputs.sinks, zone)
                    lines.start(sum(s.meter_set.count for s in simulators))
                    engine.on_progress = lines.update
                with display as shown:
                    if isinstance(shown, ProgressDisplay):
                        engine.on_progress = shown.update
                    completed = engine.run()
                report.status = "completed" if completed else "interrupted"
        except Interrupted:  # an output gave up on delivery after a stop signal; what it lost is counted
            report.status = "interrupted"
        except MetersimError as exc:
            report.status, report.error_message = "failed", str(exc)
            raise
        finally:
            if self._grace is not None:
                self._grace.cancel()
            report.collect(engine.counters if engine else None, outputs, time.monotonic() - began, window.start_s)
        return report

    @property
    def interrupted(self) -> bool:
        return self.report.status == "interrupted"

    def _open_outputs(self, stack: ExitStack, resume: bool) -> list[Output]:
        outputs = []
        for output in self.scenario.outputs:
            sink = open_sink(output, stack, self._log, resume=resume)
            self._sinks.append(sink)
            topic = output.topic if isinstance(output, MqttOutput) else None
            fmt = "json" if isinstance(output, DiscardOutput) else output.format
            outputs.append(Output(sink, fmt, topic))
        for sink in self.extra_sinks:
            self._sinks.append(sink)
            # An extra sink renders topics from its own template (a MemorySink's or MqttSink's ``topic``).
            outputs.append(Output(stack.enter_context(sink), "json", getattr(sink, "topic", None)))
        return outputs

    def _log(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


#: signals that stop a run gracefully: the first flushes and reports, a second one gives up on delivery
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
#: how long [s] the outputs may take to deliver what they hold after a stop signal, before they give up
GRACE_S = 3.0


@contextmanager
def _graceful_signals(on_signal: Callable[[int], None]) -> Iterator[None]:
    """SIGINT (Ctrl-C), SIGTERM (``docker stop``, Kubernetes) and SIGHUP stop the run, for as long as it
    runs, including the final flush.

    ``on_signal`` gets the first two; a third restores the default action (SIGINT raises
    KeyboardInterrupt, the others end the process). Only the main thread can install handlers;
    elsewhere the caller stops the run itself (:meth:`Simulation.stop`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    seen = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal seen
        seen += 1
        on_signal(signum)
        if seen >= 2:
            for other in STOP_SIGNALS:
                signal.signal(other, signal.default_int_handler if other == signal.SIGINT else signal.SIG_DFL)

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
