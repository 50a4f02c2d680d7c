"""The transforms a scenario asks for, built once per run over the simulated groups."""

from __future__ import annotations

from collections.abc import Sequence

from metersim.config import Scenario
from metersim.engine import Transform, Window
from metersim.errors import ConfigError
from metersim.faults.comms import CommsFaults, comms_params
from metersim.faults.meter import MeterFaults
from metersim.faults.theft import Hooking, Theft
from metersim.fleet.concentrators import build_paths
from metersim.fleet.grid import build_topology
from metersim.group import GroupSimulator
from metersim.parameters import supply_params
from metersim.uploads import Uploads


def scenario_transforms(simulators: Sequence[GroupSimulator], seed: int, window: Window) -> list[Transform]:
    """Per group: its meter faults, its theft (and hooking), its concentrators' upload schedule, then its
    communication faults (last: they decide when a reading leaves, so they must see the final reading)."""
    transforms: list[Transform] = []
    for simulator in simulators:
        group = simulator.group
        span = (window.start_s, window.end_s)
        wrap_milli = 10**group.register_digits * 1000
        meters = simulator.attributes.meters
        # what the meter registers goes wrong first, then theft changes what it is made to register
        for config, kind in ((group.faults, MeterFaults), (group.theft, Theft)):
            if config is None:
                continue
            fault = kind(
                config,  # type: ignore[arg-type]  # each kind gets its own section
                seed=seed,
                group=group.name,
                count=group.count,
                window=span,
                meters=meters,
                wrap_milli=wrap_milli,
            )
            transforms += [] if fault.idle else [fault]
        if group.grid is not None and group.grid.unmetered_pct > 0:
            transforms.append(Hooking(group.name, group.grid.unmetered_pct, span))
        if group.comms is None and (group.concentrator is None or group.concentrator.upload_every_s is None):
            continue
        try:
            paths = build_paths(group, group.concentrator, simulator.attributes.topology)
            params = comms_params(group.comms, paths) if group.comms is not None else None
        except ValueError as exc:
            raise ConfigError(f"fleet group {group.name!r}: {exc}") from None
        if group.concentrator is not None and group.concentrator.upload_every_s is not None:
            # before the comms faults: a link outage holds an upload back like any reading
            transforms.append(Uploads(paths, group.concentrator.upload_every_s, seed=seed, meters=meters))
        if params is None:
            continue
        supply = simulator.supply
        comms = CommsFaults(
            params,
            seed=seed,
            group=group.name,
            paths=paths,
            meters=meters,
            window=span,
            restored_at=supply.schedule.restored_at if supply is not None else None,
        )
        transforms += [] if comms.idle else [comms]
    return transforms


def reference_problems(scenario: Scenario) -> list[str]:
    """What names an id the fleet does not have (a feeder to shed, a path or meter of a comms outage or
    target), one line each, as a run would report it at its start: for ``metersim validate``."""
    problems = []
    for group in scenario.fleet:
        if group.supply is None and group.comms is None:
            continue
        topology = build_topology(group)
        try:
            if group.supply is not None:
                feeders = topology.feeder_ids if topology is not None else []
                try:
                    supply_params(group.supply, feeders, scenario.simulation.seed, group.name)
                except ValueError as exc:
                    raise ValueError(f"supply.{exc}") from None
            if group.comms is not None:
                comms_params(group.comms, build_paths(group, group.concentrator, topology))
        except ValueError as exc:
            problems.append(f"fleet group {group.name!r}: {exc}")
    return problems
