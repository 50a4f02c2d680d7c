"""Shards: split one scenario into N runs whose union is the single run, exactly.

A shard owns whole chunks (:data:`~metersim.streams.CHUNK` meters) of every group, and where a group
has a grid, whole feeders too: it may cut a group only at a chunk boundary where a feeder starts (the
grid places feeders so that such boundaries exist, :mod:`metersim.fleet.grid`). Because every random
number is keyed by chunk (:mod:`metersim.streams`), a shard's meters behave exactly as they do in the
whole run, and its grid-side meters balance against its own customers.

The pieces between cuts are dealt out in fleet order, contiguous and balanced by meter count: piece
``i`` goes to the shard ``floor(N * m / M)``, where ``m`` is the meter count before the piece's middle
and ``M`` the fleet's; a gas group paired with homes (``gas_group``) follows them. A shard gets at
most one contiguous range of each group (maybe none: fewer pieces than shards leave some empty).

Everything a shard writes carries the shard, so that N shards can share a folder and a broker: a file
``out/x.jsonl`` becomes ``out/x.shard-3-of-7.jsonl`` (truth, labels, weather, command log, state, report
too), an explicit MQTT client id and a Sparkplug edge node get ``-shard3``, and Parquet outputs (and a
partitioned Parquet ledger) write ``shard=3`` partitions into the one folder they share.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metersim.config import FileOutput, MeterGroup, MqttOutput, Scenario
from metersim.errors import ConfigError
from metersim.fleet.grid import build_topology
from metersim.streams import CHUNK, MeterRange

#: the variable a Kubernetes Indexed Job sets to the pod's index
INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
#: the most shards one scenario can be split into (a sanity bound, not a limit of the design)
MAX_SHARDS = 100_000

_SHARD = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 0) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 0 <= self.index < self.count:
            raise ConfigError(f"shard {self.index}/{self.count}: needs 0 <= K < N <= {MAX_SHARDS:,}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"``, as ``--shard`` takes it."""
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 0/4 (shards are numbered from 0)")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def from_environment(cls, count: int, environ: os._Environ[str] | dict[str, str] | None = None) -> Shard:
        """Shard ``$JOB_COMPLETION_INDEX`` of ``count``, as ``--shards N`` takes it."""
        value = (os.environ if environ is None else environ).get(INDEX_VARIABLE)
        if value is None or not value.strip().isdigit():
            shown = "not set" if value is None else f"{value!r}"
            raise ConfigError(f"--shards {count} takes the shard from ${INDEX_VARIABLE}, which is {shown}")
        if int(value) >= count:
            raise ConfigError(f"--shards {count}: ${INDEX_VARIABLE} is {int(value)}, beyond the last shard {count - 1}")
        return cls(int(value), count)

    @property
    def tag(self) -> str:
        """``shard-K-of-N``, as file names carry it."""
        return f"shard-{self.index}-of-{self.count}"

    def path(self, path: str) -> str:
        """``path`` with the shard before its suffix: ``out/x.jsonl`` -> ``out/x.shard-3-of-7.jsonl``."""
        p = Path(path)
        suffix = p.suffix if p.suffix and p.stem else ""
        return str(p.with_name(f"{p.name[: len(p.name) - len(suffix)]}.{self.tag}{suffix}"))

    def name(self, name: str) -> str:
        """An id (client id, edge node) with the shard: ``name-shardK``."""
        return f"{name}-shard{self.index}"


def cuts(group: MeterGroup) -> list[int]:
    """The positions where a shard may begin inside ``group``: chunk boundaries (with a grid, those
    where a feeder begins), from 0; the group's count ends the last piece."""
    boundaries = list(range(0, group.count, CHUNK))
    topology = build_topology(group)
    if topology is None:
        return boundaries
    feeder_starts = set(topology.feeder_start.tolist())
    return [b for b in boundaries if b in feeder_starts]


def plan(scenario: Scenario, shard: Shard) -> dict[str, MeterRange]:
    """The range of each group that ``shard`` owns (groups it owns nothing of are left out).

    A gas group paired with an electricity group (``gas_group``: meter k in the home of meter k) takes
    the same range as its homes, so that a DSMR telegram finds its gas meter in its own shard.
    """
    paired = {g.gas_group: g.name for g in scenario.fleet if g.gas_group is not None}
    dealt = [g for g in scenario.fleet if g.name not in paired]
    total = sum(g.count for g in dealt)
    owned: dict[str, MeterRange] = {}
    before = 0
    for group in dealt:
        starts = cuts(group)
        mine = []
        for lo, hi in zip(starts, [*starts[1:], group.count]):
            middle2 = 2 * before + lo + hi  # twice the meters before the piece's middle: integers only
            if min(shard.count - 1, shard.count * middle2 // (2 * total)) == shard.index:
                mine.append((lo, hi))
        before += group.count
        if mine:
            owned[group.name] = MeterRange(mine[0][0], mine[-1][1])
    for group in scenario.fleet:
        homes = owned.get(paired.get(group.name, ""))
        if homes is not None and homes.start < group.count:
            owned[group.name] = MeterRange(homes.start, min(homes.stop, group.count))
    return {g.name: owned[g.name] for g in scenario.fleet if g.name in owned}  # in fleet order


def shard_scenario(scenario: Scenario, shard: Shard) -> Scenario:
    """``scenario`` with every file name, explicit client id and Sparkplug edge node carrying the shard."""
    from metersim.ledger.truth import partitioned  # the engine's imports: only once a run is near

    outputs: list[Any] = []
    for output in scenario.outputs:
        if isinstance(output, FileOutput):
            output = output.model_copy(update={"path": shard.path(output.path)})
        elif isinstance(output, MqttOutput):
            update: dict[str, Any] = {}
            if output.client_id is not None:
                update["client_id"] = shard.name(output.client_id)
            if output.sparkplug is not None:
                edge = shard.name(output.sparkplug.edge_node)
                update["sparkplug"] = output.sparkplug.model_copy(update={"edge_node": edge})
            output = output.model_copy(update=update)
        outputs.append(output)
    update = {"outputs": outputs}
    truth = scenario.truth
    if truth is not None:
        weather = shard.path(truth.weather_path) if truth.weather_path else None
        shared = partitioned(truth.path, truth.resolved_format)  # shards write their own shard=K folders
        update["truth"] = truth.model_copy(
            update={
                "path": truth.path if shared else shard.path(truth.path),
                "format": truth.resolved_format,
                "labels_path": shard.path(truth.resolved_labels_path),
                "commands_path": shard.path(truth.resolved_commands_path),
                "weather_path": weather,
            }
        )
    sim = scenario.simulation
    if sim.state_path is not None:
        update["simulation"] = sim.model_copy(update={"state_path": shard.path(sim.state_path)})
    return scenario.model_copy(update=update)
