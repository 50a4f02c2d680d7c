"""Grid topology: region -> substation -> feeder -> transformer -> meter.

Meters are placed on transformers in contiguous blocks of their index, so ids and placement are
deterministic, and no feeder straddles a chunk boundary (:data:`~metersim.streams.CHUNK`) unless it
spans whole chunks: with at least as many feeders as chunks each chunk holds whole feeders (as many
as its share of the meters, at least one), else each feeder holds whole chunks. A shard of whole
chunks can therefore own whole feeders (:mod:`metersim.scale.shards`). Inside such a segment the
transformers share its meters as evenly as possible; a group of one chunk is one segment.

A range of meters holds some transformers and feeders whole: only those get a grid-side meter in a
run over that range, so that every grid-side meter still balances. What a grid-side meter measures
is :mod:`metersim.model.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from metersim._array import Array
from metersim.config import GridConfig, MeterGroup
from metersim.streams import CHUNK, MeterRange


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
    #: the position of each transformer's first meter, then the group's count (transformers + 1 entries);
    #: a transformer without meters starts where the next one does
    transformer_start: Array

    def transformer_of(self, positions: Array) -> Array:
        """Transformer index of the meters at ``positions`` (in the group) [int64]."""
        out: Array = np.searchsorted(self.transformer_start, positions, side="right") - 1
        return out

    def meter_transformer(self, meters: MeterRange) -> Array:
        """Transformer index of each meter of the range."""
        return self.transformer_of(np.arange(meters.start, meters.stop, dtype=np.int64))

    @cached_property
    def meters_per_transformer(self) -> Array:
        out: Array = np.diff(self.transformer_start)
        return out

    @cached_property
    def feeder_start(self) -> Array:
        """The position of each feeder's first meter, then the group's count (feeders + 1 entries)."""
        out: Array = self.transformer_start[:: self.config.transformers_per_feeder]
        return out

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
        transformer_start=_placement(group.count, len(feeders), grid.transformers_per_feeder),
        region=group.region or "",
        config=grid,
        count=group.count,
        substation_ids=substations,
        feeder_ids=feeders,
        transformer_ids=transformers,
        feeder_substation=np.array(feeder_substation, dtype=np.int64),
        transformer_feeder=np.array(transformer_feeder, dtype=np.int64),
    )


def _placement(count: int, feeders: int, per_feeder: int) -> Array:
    """Each transformer's first meter, then ``count``: segments of whole chunks that hold whole feeders,
    and in each segment its transformers' meters as even as possible (see the module's docstring)."""
    chunks = max(1, -(-count // CHUNK))
    chunk_end = np.minimum(np.arange(1, chunks + 1, dtype=np.int64) * CHUNK, count)
    segments: list[tuple[int, int, int, int]] = []  # (first meter, end, first feeder, end)
    if feeders >= chunks:
        ideal = np.rint(feeders * chunk_end / count).astype(np.int64)
        lo = first = 0
        for c in range(chunks):
            end = max(first + 1, min(int(ideal[c]), feeders - (chunks - 1 - c)))
            segments.append((lo, int(chunk_end[c]), first, end))
            lo, first = int(chunk_end[c]), end
    else:
        bounds = np.minimum(np.arange(feeders + 1, dtype=np.int64) * chunks // feeders * CHUNK, count)
        segments = [(int(bounds[f]), int(bounds[f + 1]), f, f + 1) for f in range(feeders)]
    starts = []
    for lo, hi, first, end in segments:
        n = (end - first) * per_feeder
        starts.append(lo + -(-np.arange(n, dtype=np.int64) * (hi - lo) // n))  # ceil: p * n // (hi - lo) == t
    return np.concatenate([*starts, np.array([count], dtype=np.int64)])
