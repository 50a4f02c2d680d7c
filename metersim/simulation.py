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

import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path

from rich.console import Console

from metersim.commands.handler import CommandHandler
from metersim.commands.log import read_log
from metersim.commands.wiring import link_clocks, listening, open_commands
from metersim.config import Climate, DiscardOutput, MqttOutput, ParquetOutput, Scenario
from metersim.config.commands import CommandsConfig
from metersim.config.formats import SENDERS, encoder_options
from metersim.encoders import Encoder, encoder_for
from metersim.encoders.sparkplug import SparkplugEncoder
from metersim.engine import Engine, Observer, Process, Transform, Window
from metersim.errors import ConfigError, MetersimError
from metersim.faults.plan import scenario_transforms
from metersim.fleet import build_attributes
from metersim.group import GroupSimulator
from metersim.ledger.labels import LabelWriter
from metersim.ledger.truth import TruthWriter
from metersim.ledger.weather import WeatherLog
from metersim.model.weather import Weather
from metersim.outputs import EncoderKey, Output, Outputs, encoder_key
from metersim.parameters import climate_params
from metersim.progress import ProgressDisplay, ProgressLog, Tracker, start_line
from metersim.report import RunReport
from metersim.scale.shards import Shard, plan, shard_scenario
from metersim.signals import GRACE_S, graceful_signals
from metersim.sinks.base import Interrupted, Sink
from metersim.sinks.factory import open_sink
from metersim.state import StateWriter, load_state, restore_transforms
from metersim.streams import MeterRange, group_key
from metersim.timebase import iso_utc
from metersim.windows import reference_group, resolve_window, start_notes


def build_groups(
    scenario: Scenario, window: Window, meters: Mapping[str, MeterRange] | None = None
) -> list[GroupSimulator]:
    """One simulator per group, sharing one Weather per region: each group whole, or, given ``meters``,
    only the groups named there, each its range ``meters[name]``."""
    seed = scenario.simulation.seed
    weathers: dict[str, Weather] = {}
    simulators = []
    for group in scenario.fleet:
        if meters is not None and group.name not in meters:
            continue
        climate: Climate | None = scenario.all_regions[group.region] if group.region else None
        weather = None
        if climate is not None and group.region is not None:
            weather = weathers.get(group.region)
            if weather is None:
                zone = scenario.region_timezone(group.region)
                weather = weathers[group.region] = Weather(climate_params(climate), seed, group_key(group.region), zone)
        tariff = scenario.tariffs[group.tariff] if group.tariff else None
        attributes = build_attributes(group, seed, meters[group.name] if meters is not None else None)
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
        Run only the named groups, each only this range of its chunks (default: every meter).
    shard
        Run only this shard (:mod:`metersim.scale.shards`): its meters, its file names and client ids.
    window
        The window to run (default: the scenario's, resolved as the run starts; workers get theirs).
    console, progress
        Where log lines go, and whether to show a progress bar on a terminal.
    replay_commands
        A command log (:mod:`metersim.commands.log`) to feed back at its simulated times.
    commands
        Answer the replayed commands with this config where no output listens (answers go nowhere).
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
        shard: Shard | None = None,
        window: Window | None = None,
        console: Console | None = None,
        progress: bool = False,
        replay_commands: str | None = None,
        commands: CommandsConfig | None = None,
    ) -> None:
        if shard is not None:
            scenario, meters = shard_scenario(scenario, shard), plan(scenario, shard)
        self.scenario, self.name, self.shard, self.window = scenario, name, shard, window
        self.extra_sinks, self.transforms, self.observers, self.processes = sinks, transforms, observers, processes
        self.meters = meters
        self.replay_commands = replay_commands  # a command log to feed back instead of live commands
        self.commands = commands
        self.console = console or Console(stderr=True)
        self.progress = progress
        count = scenario.meter_count if meters is None else sum(r.count for r in meters.values())
        self.report = RunReport(scenario=name, status="pending", meters=count, start="", end="")
        self._stop = threading.Event()
        #: the signal that stopped the run (SIGINT, SIGTERM or SIGHUP), None otherwise
        self.stopped_by: int | None = None
        self._sinks: list[Sink] = []
        self._grace: threading.Timer | None = None
        #: while running: the engine (its live counters) and the outputs (their sinks' stats), for metrics
        self.engine: Engine | None = None
        self.outputs: Outputs | None = None

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
        if self.window is not None:
            window = self.window
        if saved is not None:
            window = saved[0]
        report = self.report
        report.start, report.end, report.status = iso_utc(window.start_s), iso_utc(window.end_s), "failed"
        outputs = Outputs([])
        engine: Engine | None = None
        tracker: Tracker | None = None
        commands: CommandHandler | None = None
        began = time.monotonic()
        # read (and refused) before any output is opened: a bad log must not truncate a file
        recorded = read_log(self.replay_commands) if self.replay_commands is not None else None
        if recorded is not None and listening(scenario) is None and self.commands is None:
            raise ConfigError("--replay-commands needs an MQTT output with `commands`")

        def idle() -> None:  # a paced run waits for its next event
            outputs.poll()
            if tracker is not None:
                tracker.idle()

        try:
            with graceful_signals(self._on_signal), ExitStack() as stack:
                outputs = self.outputs = self._open_outputs(stack, resume=saved is not None)
                simulators = build_groups(scenario, window, self.meters)
                observers, processes = list(self.observers), list(self.processes)
                transforms = [*self.transforms, *scenario_transforms(simulators, scenario.simulation.seed, window)]
                speed = None if scenario.simulation.speed == "max" else float(scenario.simulation.speed)
                sinks = self._sinks[: len(scenario.outputs)]
                commands = open_commands(
                    scenario,
                    simulators,
                    sinks,
                    stack,
                    speed=speed,
                    replay=recorded,
                    config=self.commands,
                    resume=saved is not None,
                )
                if commands is not None:  # before a restore: the meters' controls are in the state
                    observers.append(commands)
                    processes.append(commands)
                    transforms.append(commands.effects.hold)
                    link_clocks(transforms, commands)
                if saved is not None:
                    for simulator in simulators:
                        simulator.restore(saved[1][simulator.group.name])
                        restore_transforms(transforms, simulator.group.name, saved[1][simulator.group.name])
                if state_path is not None:
                    state = StateWriter(state_path, scenario, window, simulators, outputs.flush, transforms)
                    observers.append(stack.enter_context(state))
                if scenario.truth is not None:
                    truth, shard = scenario.truth, self.shard.index if self.shard is not None else 0
                    ledger = TruthWriter(truth.path, truth.resolved_format, append=saved is not None, shard=shard)
                    observers.append(stack.enter_context(ledger))
                    labels = LabelWriter(truth.resolved_labels_path, truth.resolved_format, append=saved is not None)
                    observers.append(stack.enter_context(labels))
                    if truth.weather_path:
                        log = stack.enter_context(WeatherLog(truth.weather_path, regions_of(simulators)))
                        processes += log.processes()
                # Measured again now that the outputs are open (connecting can take a while): the
                # paced clock maps "now" onto the wall clock as the engine starts.
                if scenario.simulation.starts_now:
                    behind_s = time.time() - window.start_s
                elif saved is not None:
                    behind_s = max(0.0, time.time() - window.start_s)
                paced_from = time.monotonic()
                engine = self.engine = Engine(
                    simulators,
                    outputs.emit,
                    window,
                    speed=speed,
                    behind_s=behind_s,
                    transforms=transforms,
                    observers=observers,
                    processes=processes,
                    idle=idle,
                    stop=self._stop,
                    emit_events=outputs.emit_events,
                    join_deferred=any(o.format == "batch" for o in outputs.outputs),
                )
                if commands is not None:
                    commands.clock = lambda: float(engine.env.now) if engine is not None else 0.0
                display: AbstractContextManager[object] = nullcontext()
                if self.progress:
                    zone = reference_group(scenario).timezone
                    tracker = Tracker(
                        engine.counters,
                        outputs.sinks,
                        window.start_s,
                        window.end_s,
                        speed=speed,
                        anchor=(paced_from, window.start_s + behind_s),
                    )
                    meters = sum(s.meter_set.count for s in simulators)
                    self._log(start_line(meters, window.start_s, window.end_s, zone, outputs.sinks))
                    for note in start_notes(scenario, window, behind_s) if saved is None else ():
                        self._log(f"metersim: {note}")
                    if self.console.is_terminal:
                        display = ProgressDisplay(self.console, tracker, zone)
                    else:
                        display = ProgressLog(self._log, tracker, zone)
                with display:
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
            report.commands = commands.summary() if commands is not None else None
        return report

    @property
    def interrupted(self) -> bool:
        return self.report.status == "interrupted"

    def _open_outputs(self, stack: ExitStack, resume: bool) -> Outputs:
        outputs: list[Output] = []
        encoders: dict[EncoderKey, Encoder] = {}
        for output in self.scenario.outputs:
            fmt = "json" if isinstance(output, (DiscardOutput, ParquetOutput)) else output.format
            options = encoder_options(self.scenario.fleet, output)
            key = encoder_key(fmt, options)
            if key not in encoders:  # made here, once: the sink needs its content type (Sparkplug, its session)
                encoders[key] = encoder_for(fmt, **dict(options))
            encoder = encoders[key]
            session = None
            if isinstance(output, MqttOutput) and isinstance(encoder, SparkplugEncoder):
                from metersim.sessions import SparkplugSession  # imports paho: only for Sparkplug outputs

                sparkplug = dict(options)
                session = SparkplugSession(encoder, sparkplug["group_id"], sparkplug["edge_node"])
            shard = self.shard.index if self.shard is not None else 0
            sink = open_sink(
                output, stack, self._log, resume=resume, content_type=encoder.content_type, session=session, shard=shard
            )
            self._sinks.append(sink)
            if isinstance(output, MqttOutput):
                senders = SENDERS[output.connections]
                discovery = None
                if output.homeassistant is not None:  # entities are available while the connection is up
                    client_id = getattr(sink, "client_id", None)
                    status = output.status_topic_of(client_id) if client_id and senders is None else None
                    discovery = (output.homeassistant.prefix, status)
                outputs.append(Output(sink, fmt, output.topic, output.events_topic, options, senders, discovery))
            else:
                outputs.append(Output(sink, fmt, options=options))
        for sink in self.extra_sinks:
            self._sinks.append(sink)
            # An extra sink renders topics from its own template (a MemorySink's or MqttSink's ``topic``).
            topics = getattr(sink, "topic", None), getattr(sink, "events_topic", None)
            fmt, options = getattr(sink, "format", "json"), getattr(sink, "options", ())
            outputs.append(Output(stack.enter_context(sink), fmt, *topics, options=options))
        return Outputs(outputs, encoders)

    def _log(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
