"""Grid topology: region -> substation -> feeder -> transformer -> meter.

Meters are placed on transformers in contiguous blocks of their index, so ids and placement are
deterministic. A range of meters (a shard) holds some transformers and feeders whole: only those
get a grid-side meter in a run over that range, so that every grid-side meter still balances. What
a grid-side meter measures is :mod:`metersim.model.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from metersim._array import Array
from metersim.config import GridConfig, MeterGroup
from metersim.streams import MeterRange


@dataclass(frozen=True)
class Topology:
    """Where each meter of a group sits. Index arrays map children to parents."""

    region: str
    config: GridConfig
    count: int  # meters in the group
    substation_ids: list[str]
    feeder_ids: list[str]
    transformer_ids: list[str]
    feeder_substation: Array  # substation index of each feeder
    transformer_feeder: Array  # feeder index of each transformer

    def meter_transformer(self, meters: MeterRange) -> Array:
        """Transformer index of each meter of the range."""
        positions = np.arange(meters.start, meters.stop, dtype=np.int64)
        out: Array = (positions * len(self.transformer_ids)) // self.count
        return out

    @cached_property
    def meters_per_transformer(self) -> Array:
        return np.bincount(self.meter_transformer(MeterRange.whole(self.count)), minlength=len(self.transformer_ids))

    def meter_fields(self, meters: MeterRange) -> list[dict[str, str]]:
        """``{region, substation, feeder, transformer}`` for each meter of the range."""
        per_transformer = [self._fields(t) for t in range(len(self.transformer_ids))]
        return [per_transformer[t] for t in self.meter_transformer(meters).tolist()]

    def whole(self, meters: MeterRange) -> tuple[Array, Array]:
        """Which transformers and which feeders the range holds whole [bool]."""
        n_t = len(self.transformer_ids)
        inside = np.bincount(self.meter_transformer(meters), minlength=n_t)
        transformers = inside == self.meters_per_transformer
        partial_feeders = np.bincount(self.transformer_feeder, weights=~transformers, minlength=len(self.feeder_ids))
        return transformers, partial_feeders == 0

    def grid_meters(self, meters: MeterRange) -> tuple[Array, Array, list[str], list[str], list[dict[str, str]]]:
        """The grid-side meters of a range: transformers first, then feeders.

        Returns which transformers and feeders publish [bool], and the ids, devices and places of
        those grid-side meters in order.
        """
        whole_t, whole_f = self.whole(meters)
        publish_t = whole_t & self.config.transformer_meters
        publish_f = whole_f & self.config.feeder_meters
        ids: list[str] = []
        devices: list[str] = []
        places: list[dict[str, str]] = []
        for t in np.flatnonzero(publish_t).tolist():
            ids.append(self.transformer_ids[t])
            devices.append("transformer")
            places.append(self._fields(t))
        for f in np.flatnonzero(publish_f).tolist():
            substation = self.substation_ids[int(self.feeder_substation[f])]
            ids.append(self.feeder_ids[f])
            devices.append("feeder")
            places.append(
                {"region": self.region, "substation": substation, "feeder": self.feeder_ids[f], "transformer": ""}
            )
        return publish_t, publish_f, ids, devices, places

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
    return Topology(
        region=group.region or "",
        config=grid,
        count=group.count,
        substation_ids=substations,
        feeder_ids=feeders,
        transformer_ids=transformers,
        feeder_substation=np.array(feeder_substation, dtype=np.int64),
        transformer_feeder=np.array(transformer_feeder, dtype=np.int64),
    )
