"""One run from start to finish: resolve the window, open the outputs, run the engine, close, report."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from types import FrameType

from rich.console import Console

from metersim.bills import Bill, BillAccumulator, write_bills
from metersim.cohort import CohortSimulator, Environment, IntervalOutcome
from metersim.config import DiscardOutput, FileOutput, MqttOutput, Output, Scenario, StdoutOutput
from metersim.engine import Engine, EngineCounters, Observer, Window
from metersim.errors import MetersimError, OutputNotWritableError
from metersim.fleet import build_fleet
from metersim.model.weather import Weather
from metersim.report import ProgressDisplay, RunReport
from metersim.sinks.base import Sink
from metersim.sinks.discard import DiscardSink
from metersim.sinks.file import FileSink
from metersim.sinks.stdout import StdoutSink
from metersim.streams import group_key
from metersim.tariffs import BandSchedule
from metersim.timebase import iso_utc, now_floored, parse_instant
from metersim.truth import TruthWriter, WeatherLog


@dataclass
class RunOutcome:
    report: RunReport
    error: MetersimError | None = None

    @property
    def interrupted(self) -> bool:
        return self.report.status == "interrupted"


def resolve_window(scenario: Scenario) -> tuple[Window, float]:
    """The simulated window, and how far [s] its start lies behind the wall clock (for "now")."""
    sim = scenario.simulation
    if sim.start == "now":
        # Align to the longest interval so meters report on round clock times, as real ones do.
        start = now_floored(max(g.interval_s for g in scenario.fleet))
        behind = time.time() - start
    else:
        start, behind = parse_instant(sim.start), 0.0
    return Window(start, start + sim.duration_s), behind


def build_simulators(scenario: Scenario, window: Window) -> tuple[list[CohortSimulator], list[tuple[str, Weather]]]:
    """One simulator per group, sharing one Weather per (region, time zone)."""
    seed = scenario.simulation.seed
    weathers: dict[tuple[str, str], Weather] = {}
    simulators = []
    for cohort in build_fleet(scenario):
        group = cohort.group
        climate = scenario.all_regions[group.region] if group.region else None
        weather = None
        if climate is not None and group.region is not None:
            key = (group.region, group.timezone)
            if key not in weathers:
                weathers[key] = Weather(climate, seed, group_key(group.region), group.timezone)
            weather = weathers[key]
        tariff = scenario.tariffs[group.tariff] if group.tariff else None
        simulators.append(CohortSimulator(cohort, Environment(seed, window.start_s, weather, climate, tariff)))
    return simulators, [(region, w) for (region, _), w in weathers.items()]


def open_sink(output: Output, stack: ExitStack, log: Callable[[str], None]) -> Sink:
    """Create and open the sink for one output; ``stack`` closes it (and any embedded broker)."""
    sink: Sink
    if isinstance(output, MqttOutput):
        from metersim.sinks.mqtt import MqttSink  # paho is only imported when MQTT is used

        if output.url == "embedded":
            from metersim.broker import EmbeddedBroker

            broker = stack.enter_context(EmbeddedBroker(output.embedded_port or 0))
            log(f"embedded MQTT broker listening on {broker.url}")
            sink = MqttSink(output, host="127.0.0.1", port=broker.port, log=log)
        else:
            sink = MqttSink(output, log=log)
    elif isinstance(output, FileOutput):
        sink = FileSink(output.path)
    elif isinstance(output, StdoutOutput):
        sink = StdoutSink()
    elif isinstance(output, DiscardOutput):
        sink = DiscardSink()
    else:  # pragma: no cover - the config union is exhaustive
        raise TypeError(f"unknown output {output!r}")
    stack.enter_context(sink)
    return sink


@contextmanager
def _graceful_sigint(request_stop: Callable[[], None]) -> Iterator[None]:
    """First Ctrl-C asks the engine to stop and flush; a second one aborts at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_scenario(
    scenario: Scenario,
    *,
    name: str = "scenario",
    console: Console | None = None,
    progress: bool = True,
    extra_sinks: list[Sink] | None = None,
    observers: Sequence[Observer] = (),
) -> RunOutcome:
    """Run ``scenario`` to the end (or Ctrl-C) and return its report; errors are captured, not raised."""
    console = console or Console(stderr=True)
    window, behind_s = resolve_window(scenario)
    report = RunReport(
        scenario=name,
        status="failed",
        meters=scenario.meter_count,
        start=iso_utc(window.start_s),
        end=iso_utc(window.end_s),
    )
    sinks: list[Sink] = []
    counters = EngineCounters(simulated_now_s=window.start_s)
    speed = scenario.simulation.speed
    outcome = RunOutcome(report)
    began = time.monotonic()

    def log(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    try:
        with ExitStack() as stack:
            for output in scenario.outputs:
                sinks.append(open_sink(output, stack, log))
            for sink in extra_sinks or []:
                sinks.append(stack.enter_context(sink))
            simulators, weather = build_simulators(scenario, window)
            all_observers = list(observers)
            weather_log = None
            if scenario.truth is not None:
                truth = scenario.truth
                all_observers.append(stack.enter_context(TruthWriter(truth.path, truth.resolved_format)))
                if truth.weather_path:
                    weather_log = stack.enter_context(WeatherLog(truth.weather_path))
            engine = Engine(
                simulators,
                sinks,
                window,
                speed=None if speed == "max" else float(speed),
                behind_s=behind_s,
                observers=all_observers,
                weather=weather,
                on_weather=weather_log.record if weather_log is not None else None,
            )
            counters = engine.counters
            display = (
                ProgressDisplay(console, window.start_s, window.end_s, sinks)
                if progress and console.is_terminal
                else nullcontext()
            )
            with _graceful_sigint(engine.stop_requested.set), display as shown:
                if isinstance(shown, ProgressDisplay):
                    engine.on_progress = shown.update
                completed = engine.run()
            report.status = "completed" if completed else "interrupted"
    except MetersimError as exc:
        report.status, report.error_message, outcome.error = "failed", str(exc), exc
    finally:
        report.collect(counters, sinks, time.monotonic() - began, window.start_s)
    return outcome


class BillObserver:
    """Accumulates each tariffed group's true import per billing period and band during a run."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.accumulators: dict[str, BillAccumulator] = {}

    def observe(self, outcome: IntervalOutcome) -> None:
        group = outcome.cohort.group
        if group.tariff is None:
            return
        accumulator = self.accumulators.get(group.name)
        if accumulator is None:
            tariff = self.scenario.tariffs[group.tariff]
            climate = self.scenario.all_regions.get(group.region) if group.region else None
            country = group.country or (climate.country if climate else None)
            schedule = BandSchedule.compile(tariff, group.timezone, country)
            accumulator = BillAccumulator(tariff, schedule, outcome.cohort.ids, group.timezone)
            self.accumulators[group.name] = accumulator
        accumulator.add(outcome.start_s, group.interval_s, outcome.band, outcome.meters.interval_milli)

    def bills(self) -> list[Bill]:
        return [bill for accumulator in self.accumulators.values() for bill in accumulator.bills()]


def without_outputs(scenario: Scenario) -> Scenario:
    """The same scenario with every output and the ledger dropped: it publishes and writes nothing."""
    return scenario.model_copy(update={"outputs": [DiscardOutput(type="discard")], "truth": None})


def bill_scenario(
    scenario: Scenario, out: str, *, name: str = "scenario", console: Console | None = None, progress: bool = True
) -> tuple[RunOutcome, int]:
    """Simulate ``scenario`` (outputs discarded) and write the expected bills of its tariffed meters."""
    observer = BillObserver(scenario)
    outcome = run_scenario(
        without_outputs(scenario), name=name, console=console, progress=progress, observers=[observer]
    )
    if outcome.error is not None:
        return outcome, 0
    bills = observer.bills()
    try:
        write_bills(bills, out)
    except MetersimError as exc:
        outcome.error = exc
    except OSError as exc:
        outcome.error = OutputNotWritableError(f"cannot write bills {out}: {exc.strerror or exc}")
    return outcome, len(bills)
