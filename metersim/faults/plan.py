"""The transforms a scenario asks for, built once per run over the simulated groups."""

from __future__ import annotations

from collections.abc import Sequence

from metersim.engine import Transform, Window
from metersim.errors import ConfigError
from metersim.faults.comms import CommsFaults, comms_params
from metersim.faults.meter import MeterFaults
from metersim.faults.theft import Theft
from metersim.fleet.concentrators import build_paths
from metersim.group import GroupSimulator


def scenario_transforms(simulators: Sequence[GroupSimulator], seed: int, window: Window) -> list[Transform]:
    """Per group: its meter faults, its theft, then its communication faults (last: they decide when
    a reading leaves, so they must see the final reading)."""
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
        if group.comms is None:
            continue
        try:
            paths = build_paths(group, group.concentrator, simulator.attributes.topology)
            params = comms_params(group.comms, paths)
        except ValueError as exc:
            raise ConfigError(f"fleet group {group.name!r}: {exc}") from None
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
