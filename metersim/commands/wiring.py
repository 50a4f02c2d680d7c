"""Setting up command handling for a run: which output listens, its log, a replay, tariff calendars."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack

from metersim.commands.handler import CommandHandler
from metersim.commands.log import CommandLog, Inbound
from metersim.config import MqttOutput, Scenario
from metersim.config.commands import CommandsConfig
from metersim.config.ids import IdSpace
from metersim.errors import ConfigError
from metersim.faults.meter import MeterFaults
from metersim.group import GroupSimulator
from metersim.parameters import country_of
from metersim.sinks.base import Sink
from metersim.tariffs import BandSchedule

#: how often a paced run looks for commands [wall s]; a run at full speed looks every simulated minute
POLL_WALL_S = 0.02
POLL_FAST_S = 60.0


def listening(scenario: Scenario) -> tuple[int, CommandsConfig] | None:
    """The output that listens for commands (its index and ``commands``), or None."""
    for index, output in enumerate(scenario.outputs):
        if isinstance(output, MqttOutput) and output.commands is not None:
            return index, output.commands
    return None


def open_commands(
    scenario: Scenario,
    simulators: Sequence[GroupSimulator],
    sinks: Sequence[Sink],
    stack: ExitStack,
    *,
    speed: float | None,
    replay: Sequence[Inbound] | None = None,
    config: CommandsConfig | None = None,
    resume: bool = False,
) -> CommandHandler | None:
    """The handler of the scenario's output with ``commands`` (``sinks`` in the order of its outputs),
    listening on it, or fed with the recorded commands ``replay``; None without such an output.

    ``config`` answers a replay with these ``commands`` and no output (answers go nowhere): for
    ``metersim bill``, which runs a scenario without its outputs."""
    found = listening(scenario)
    sink: Sink | None = None
    qos = 0
    if found is not None:
        index, config = found
        sink = sinks[index]
        qos = scenario.outputs[index].qos  # type: ignore[union-attr]
    if config is None:
        if replay is not None:
            raise ConfigError("--replay-commands needs an MQTT output with `commands`")
        return None
    log = None
    if scenario.truth is not None:
        log = stack.enter_context(CommandLog(scenario.truth.resolved_commands_path, append=resume))
    reply, service = _quiet, _nothing
    if sink is not None:
        respond, poll = getattr(sink, "respond", None), getattr(sink, "poll", None)
        if respond is None or poll is None:
            raise ConfigError("commands need an MQTT output with `connections: single`")
        reply, service = respond, poll
    handler = CommandHandler(
        config,
        simulators,
        seed=scenario.simulation.seed,
        reply=reply,
        qos=qos,
        log=log,
        poll_s=POLL_FAST_S if speed is None else POLL_WALL_S * speed,
        replay=replay,
        calendars=[calendars_of(scenario, s) for s in simulators],
        service=service,
        elsewhere=_elsewhere(scenario, simulators),
    )
    if replay is None and sink is not None:
        sink.listen(  # type: ignore[attr-defined]
            handler.topics.filter,
            config.qos if config.qos is not None else qos,
            lambda t, p, r, c: handler.receive(Inbound(t, p, r, c)),
        )
    return handler


def _elsewhere(scenario: Scenario, simulators: Sequence[GroupSimulator]) -> Callable[[str], bool]:
    """Whether a meter id is one of the fleet's meters that this run (a shard) does not hold."""
    held = {s.group.name: s.attributes.meters for s in simulators}
    if all(g.name in held and held[g.name].count == g.count for g in scenario.fleet):
        return lambda meter_id: False
    spaces = [(IdSpace.of(g), held.get(g.name)) for g in scenario.fleet]

    def elsewhere(meter_id: str) -> bool:
        for space, meters in spaces:
            position = space.position_of(meter_id)
            if position is not None:
                return meters is None or not meters.start <= position < meters.stop
        return False

    return elsewhere


def _quiet(topic: str, payload: bytes, qos: int, correlation: bytes | None) -> None:
    return None


def _nothing() -> None:
    return None


def calendars_of(scenario: Scenario, simulator: GroupSimulator) -> dict[str, BandSchedule]:
    """The tariffs a meter of ``simulator`` may switch to: its group's, then every other tariff of its
    commodity with the same bands (its band registers stay those of its group's tariff)."""
    group = simulator.group
    if group.tariff is None:
        return {}
    own = scenario.tariffs[group.tariff]
    climate = scenario.all_regions.get(group.region) if group.region else None
    country = country_of(group, climate)
    names = [group.tariff] + [
        name
        for name, tariff in scenario.tariffs.items()
        if name != group.tariff
        and tariff.commodity == own.commodity
        and [b.name for b in tariff.bands] == [b.name for b in own.bands]
    ]
    return {name: BandSchedule.compile(scenario.tariffs[name], group.timezone, country) for name in names}


def link_clocks(transforms: Sequence[object], handler: CommandHandler) -> None:
    """Let ``time_sync`` reset the clock drift of each group's meter faults, and ``status`` report it."""
    effects = handler.effects
    for k, simulator in enumerate(handler.simulators):
        for transform in transforms:
            if isinstance(transform, MeterFaults) and transform.group == simulator.group.name:
                transform.synced_s = effects.controls[k].synced_s
                effects.clocks[k] = transform
