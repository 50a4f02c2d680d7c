"""Communication paths: the way each meter reaches the head-end, directly or through a data concentrator.

Without concentrators every meter is its own path (path index = the meter's position in its group, path
id = its meter id). With ``per: transformer`` there is one concentrator (DCU) per grid transformer; with
``meters: N`` the group's meters go in contiguous blocks of N by position. Either way the meters of one
path are contiguous in position, so a path is a span ``lo .. hi - 1`` of positions and a range of
meters (:class:`~metersim.streams.MeterRange`) holds a contiguous run of paths. Concentrator ids come
from ``id_format`` with ``{group}``, ``{index}`` (from 1) and ``{transformer}`` (the id of the
concentrator's transformer; for ``meters: N`` that of the block's first meter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from metersim._array import Array
from metersim.config import MeterGroup
from metersim.config.base import format_fields
from metersim.config.events import ConcentratorConfig
from metersim.config.ids import IdSpace
from metersim.fleet.grid import Topology, build_topology
from metersim.streams import MeterRange

PATH_FIELDS = ("group", "index", "transformer")


@dataclass(frozen=True, eq=False)
class Paths:
    """The communication paths of one group of ``meters`` meters (``count`` paths).

    ``block`` is the number of meters per path for contiguous blocks (1: each meter is its own path);
    0 for one path per transformer, where path ``t`` holds the meters of transformer ``t``
    (:attr:`~metersim.fleet.grid.Topology.transformer_start`).
    """

    group: str
    meters: int  # meters in the group
    count: int  # paths in the group
    block: int
    concentrators: bool  # whether paths are concentrators (else meters)
    make_id: Callable[[int], str] = field(repr=False)  # path index -> path id
    meter_position: Callable[[str], int | None] = field(repr=False)  # meter id -> position in the group
    #: ``block == 0``: each transformer's first meter, then ``meters`` (Topology.transformer_start)
    transformer_start: Array | None = field(default=None, repr=False)

    def path_of(self, positions: Array) -> Array:
        """The path index of each meter at ``positions`` (in the group) [int64]."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.block == 1:
            return positions
        if self.block:
            blocks: Array = positions // self.block
            return blocks
        assert self.transformer_start is not None
        out: Array = np.searchsorted(self.transformer_start, positions, side="right") - 1
        return out

    def of_range(self, meters: MeterRange) -> Array:
        """The path index of each meter of the range [int64]."""
        return self.path_of(np.arange(meters.start, meters.stop, dtype=np.int64))

    def span(self, path: int) -> tuple[int, int]:
        """The positions ``lo .. hi - 1`` of the meters of ``path`` (empty where a transformer has none)."""
        lo, hi = self.spans(np.array([path]))
        return int(lo[0]), int(hi[0])

    def spans(self, paths: Array) -> tuple[Array, Array]:
        """:meth:`span` of each of ``paths``: ``(lo, hi)`` [int64]."""
        paths = np.asarray(paths, dtype=np.int64)
        if self.block:
            return paths * self.block, np.minimum((paths + 1) * self.block, self.meters)
        assert self.transformer_start is not None
        return self.transformer_start[paths], self.transformer_start[paths + 1]

    def paths_of_range(self, meters: MeterRange) -> tuple[int, int]:
        """The paths ``lo .. hi - 1`` that hold the range's meters (the first and last may hold others too)."""
        ends = self.path_of(np.array([meters.start, meters.stop - 1]))
        return int(ends[0]), int(ends[1]) + 1

    def path_id(self, path: int) -> str:
        return self.make_id(path)

    @cached_property
    def _index(self) -> dict[str, int]:
        index = {self.make_id(p): p for p in range(self.count)}
        if len(index) != self.count:
            raise ValueError(f"{self.group}: concentrator ids are not unique (use {{index}} in `id_format`)")
        return index

    def index_of(self, path_id: str) -> int | None:
        """The path index of a path id (a concentrator id, or a meter id without concentrators), or None."""
        return self._index.get(path_id) if self.concentrators else self.meter_position(path_id)

    def locate(self, some_id: str) -> tuple[str, int] | None:
        """``("path", index)`` for a path id, ``("meter", position)`` for a meter id, else None."""
        path = self.index_of(some_id)
        if path is not None:
            return "path", path
        position = self.meter_position(some_id)
        return ("meter", position) if position is not None else None


def concentrator_ids(paths: Paths, meters: MeterRange) -> list[str]:
    """The path id (concentrator id) of each meter of the range, each id made once."""
    index = paths.of_range(meters)
    first = int(index[0]) if len(index) else 0
    ids = [paths.path_id(p) for p in range(first, int(index[-1]) + 1)] if len(index) else []
    return [ids[p - first] for p in index.tolist()]


def build_paths(
    group: MeterGroup, concentrators: ConcentratorConfig | None = None, topology: Topology | None = None
) -> Paths:
    """The paths of ``group``: its concentrators (default: none, each meter its own path).

    ``topology`` defaults to the group's grid; ``per: transformer`` and ``{transformer}`` need one.
    Raises ValueError for a config that cannot be honoured.
    """
    space = IdSpace.of(group)
    if concentrators is None:
        return Paths(group.name, group.count, group.count, 1, False, space.id_at, space.position_of)
    fmt = concentrators.id_format
    unknown = sorted(format_fields(fmt) - set(PATH_FIELDS))
    if unknown:
        raise ValueError(f"{group.name}: concentrator `id_format` has unknown field(s) {unknown}")
    topology = topology or build_topology(group)
    uses_transformer = "transformer" in format_fields(fmt)
    if topology is None and (concentrators.per == "transformer" or uses_transformer):
        raise ValueError(f"{group.name}: `per: transformer` and {{transformer}} need the group's `grid`")
    if concentrators.per == "transformer":
        assert topology is not None
        block, count = 0, len(topology.transformer_ids)
    else:
        assert concentrators.meters is not None
        block = concentrators.meters
        count = -(-group.count // block)
    transformers = topology.transformer_ids if topology is not None else []
    meters, name = group.count, group.name

    def make_id(path: int) -> str:
        if not uses_transformer:
            return fmt.format(group=name, index=path + 1, transformer="")
        assert topology is not None
        t = path if not block else int(topology.transformer_of(np.array([path * block]))[0])
        return fmt.format(group=name, index=path + 1, transformer=transformers[t])

    try:
        make_id(0)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise ValueError(f"{name}: concentrator `id_format` cannot be formatted: {exc}") from None
    starts = topology.transformer_start if topology is not None and not block else None
    return Paths(name, meters, count, block, True, make_id, space.position_of, starts)
