"""Grid topology (region -> substation -> feeder -> transformer -> meter) and grid-side meters.

Meters are placed on transformers in contiguous blocks of their index, so ids and placement are
deterministic. A grid-side meter measures the energy delivered from upstream::

    transformer = sum(meter import - meter export) + unmetered + losses_t
    feeder      = sum(transformer deliveries)                  + losses_f

Unmetered consumption ("kunda" hooking) is ``unmetered_pct`` of the transformer's metered consumption.
Technical losses grow with the square of the load: ``losses = pct/100 · net² / reference``, where the
reference is the expected mean net load of that transformer or feeder, so at mean load the losses are
``pct`` percent of the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from metersim._array import Array
from metersim.config import GridConfig, MeterGroup
from metersim.timebase import SECONDS_PER_DAY

DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class Topology:
    """Where each meter of a group sits. Index arrays map children to parents."""

    region: str
    config: GridConfig
    substation_ids: list[str]
    feeder_ids: list[str]
    transformer_ids: list[str]
    feeder_substation: Array  # substation index of each feeder
    transformer_feeder: Array  # feeder index of each transformer
    meter_transformer: Array  # transformer index of each meter

    @cached_property
    def meter_fields(self) -> list[dict[str, str]]:
        """``{region, substation, feeder, transformer}`` for each meter."""
        per_transformer = [self._fields(t) for t in range(len(self.transformer_ids))]
        return [per_transformer[t] for t in self.meter_transformer.tolist()]

    @cached_property
    def grid_fields(self) -> list[dict[str, str]]:
        """The same fields for each grid-side meter: transformers first, then feeders."""
        fields = []
        if self.config.transformer_meters:
            fields += [self._fields(t) for t in range(len(self.transformer_ids))]
        if self.config.feeder_meters:
            for f, feeder in enumerate(self.feeder_ids):
                substation = self.substation_ids[int(self.feeder_substation[f])]
                fields.append({"region": self.region, "substation": substation, "feeder": feeder, "transformer": ""})
        return fields

    @cached_property
    def grid_meter_ids(self) -> list[str]:
        ids = []
        if self.config.transformer_meters:
            ids += self.transformer_ids
        if self.config.feeder_meters:
            ids += self.feeder_ids
        return ids

    @cached_property
    def grid_devices(self) -> list[str]:
        return ["transformer"] * len(self.transformer_ids) * self.config.transformer_meters + ["feeder"] * len(
            self.feeder_ids
        ) * self.config.feeder_meters

    def _fields(self, t: int) -> dict[str, str]:
        f = int(self.transformer_feeder[t])
        return {
            "region": self.region,
            "substation": self.substation_ids[int(self.feeder_substation[f])],
            "feeder": self.feeder_ids[f],
            "transformer": self.transformer_ids[t],
        }


def build_topology(group: MeterGroup) -> Topology | None:
    """The group's place in the grid, or None if it has no ``grid`` section."""
    grid = group.grid
    if grid is None:
        return None
    substations = [f"{group.name}-SS{s + 1:02d}" for s in range(grid.substations)]
    feeders, feeder_substation = [], []
    for s, substation in enumerate(substations):
        for f in range(grid.feeders_per_substation):
            feeders.append(f"{substation}-F{f + 1:02d}")
            feeder_substation.append(s)
    transformers, transformer_feeder = [], []
    for f, feeder in enumerate(feeders):
        for t in range(grid.transformers_per_feeder):
            transformers.append(f"{feeder}-T{t + 1:03d}")
            transformer_feeder.append(f)
    n_t = len(transformers)
    meter_transformer = (np.arange(group.count, dtype=np.int64) * n_t) // group.count
    return Topology(
        region=group.region or "",
        config=grid,
        substation_ids=substations,
        feeder_ids=feeders,
        transformer_ids=transformers,
        feeder_substation=np.array(feeder_substation, dtype=np.int64),
        transformer_feeder=np.array(transformer_feeder, dtype=np.int64),
        meter_transformer=meter_transformer,
    )


@dataclass
class GridStep:
    """Grid-side energy for one interval, in thousandths of a kWh, transformers then feeders."""

    delivered_milli: Array
    losses_milli: Array
    unmetered_milli: Array


class GridMeters:
    """Computes what each grid-side meter measures from its downstream meters' true flows."""

    def __init__(self, topology: Topology, group: MeterGroup) -> None:
        self.topology = topology
        cfg = topology.config
        self.n_transformers, self.n_feeders = len(topology.transformer_ids), len(topology.feeder_ids)
        meters_per_transformer = np.bincount(topology.meter_transformer, minlength=self.n_transformers)
        mean_meter_milli = group.annual_amount * 1000 * group.interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR)
        with_unmetered = 1 + cfg.unmetered_pct / 100
        self.reference_t = np.maximum(meters_per_transformer * mean_meter_milli * with_unmetered, 1.0)
        meters_per_feeder = np.bincount(
            topology.transformer_feeder, weights=meters_per_transformer, minlength=self.n_feeders
        )
        self.reference_f = np.maximum(meters_per_feeder * mean_meter_milli * with_unmetered, 1.0)

    def step(self, load_milli: Array, import_milli: Array, export_milli: Array | None) -> GridStep:
        """Energy delivered to each transformer and feeder [Wh], from the meters' true flows [Wh]."""
        topo, cfg = self.topology, self.topology.config
        net = import_milli if export_milli is None else import_milli - export_milli
        metered_t = _sum_by(topo.meter_transformer, net, self.n_transformers)
        unmetered_t = np.rint(
            _sum_by(topo.meter_transformer, load_milli, self.n_transformers) * (cfg.unmetered_pct / 100)
        ).astype(np.int64)
        flow_t = metered_t + unmetered_t
        losses_t = _losses(flow_t, self.reference_t, cfg.transformer_losses_pct)
        delivered_t = flow_t + losses_t
        flow_f = _sum_by(topo.transformer_feeder, delivered_t, self.n_feeders)
        losses_f = _losses(flow_f, self.reference_f, cfg.feeder_losses_pct)
        unmetered_f = _sum_by(topo.transformer_feeder, unmetered_t, self.n_feeders)
        parts = [
            (delivered_t, losses_t, unmetered_t, cfg.transformer_meters),
            (flow_f + losses_f, losses_f, unmetered_f, cfg.feeder_meters),
        ]
        chosen = [p for p in parts if p[3]]
        if not chosen:
            empty = np.zeros(0, dtype=np.int64)
            return GridStep(empty, empty, empty)
        return GridStep(*(np.concatenate([p[k] for p in chosen]) for k in range(3)))


def _sum_by(index: Array, values: Array, size: int) -> Array:
    """Integer sums of ``values`` grouped by ``index`` (exact below 2**53 thousandths)."""
    sums: Array = np.rint(np.bincount(index, weights=values, minlength=size)).astype(np.int64)
    return sums


def _losses(flow_milli: Array, reference_milli: Array, pct: float) -> Array:
    losses: Array = np.rint(pct / 100 * flow_milli.astype(float) ** 2 / reference_milli).astype(np.int64)
    return losses
