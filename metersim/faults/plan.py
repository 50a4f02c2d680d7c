"""The transforms a scenario asks for, built once per run over the simulated groups."""

from __future__ import annotations

from collections.abc import Sequence

from metersim.engine import Transform, Window
from metersim.errors import ConfigError
from metersim.faults.comms import CommsFaults, comms_params
from metersim.fleet.concentrators import build_paths
from metersim.group import GroupSimulator


def scenario_transforms(simulators: Sequence[GroupSimulator], seed: int, window: Window) -> list[Transform]:
    """One :class:`CommsFaults` per group with a ``comms`` section (after any other fault: it decides
    when a reading leaves, so it must see the final reading)."""
    transforms: list[Transform] = []
    for simulator in simulators:
        group = simulator.group
        if group.comms is None:
            continue
        try:
            paths = build_paths(group, group.concentrator, simulator.attributes.topology)
            params = comms_params(group.comms, paths)
        except ValueError as exc:
            raise ConfigError(f"fleet group {group.name!r}: {exc}") from None
        supply = simulator.supply
        faults = CommsFaults(
            params,
            seed=seed,
            group=group.name,
            paths=paths,
            meters=simulator.attributes.meters,
            window=(window.start_s, window.end_s),
            restored_at=supply.schedule.restored_at if supply is not None else None,
        )
        if not faults.idle:
            transforms.append(faults)
    return transforms
