"""A whole scenario file, and the checks that need more than one of its sections."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from metersim.config.base import Model, Problem, raise_problems, topic_unsafe
from metersim.config.climate import DEFAULT_REGIONS, Climate
from metersim.config.commands import command_problems
from metersim.config.fleet import MeterGroup
from metersim.config.formats import format_problems, pairing_problems
from metersim.config.ids import IdSpace, check_meter_ids
from metersim.config.messages import did_you_mean
from metersim.config.outputs import GRID_FIELDS, DiscardOutput, MqttOutput, Output
from metersim.config.simulation import SimulationConfig
from metersim.config.tariffs import Tariff
from metersim.config.topics import MQTT_MAX_BYTES
from metersim.config.truth import TruthConfig
from metersim.timebase import SECONDS_PER_DAY

#: the most meters in one scenario, all groups together (running them takes several GB of memory)
MAX_METERS = 50_000_000
#: the most groups in one scenario's fleet (their ids are compared pairwise)
MAX_GROUPS = 1_000
#: the most grid transformers in one scenario, all groups together (each has an id and a grid-side meter)
MAX_TRANSFORMERS = 1_000_000
#: the first instant a run may cover: metersim's clock counts seconds from it [s since the epoch]
EARLIEST_S = 0
#: the latest end of a run [s since the epoch]: 9000-01-01T00:00:00Z, far from the end of four-digit years
LATEST_S = int(datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp())
_EARLIEST, _LATEST = "1970-01-01T00:00:00Z", "9000-01-01T00:00:00Z"


class Scenario(Model):
    """A whole scenario file."""

    simulation: SimulationConfig
    regions: dict[str, Climate] = Field(default_factory=dict, description="added to (or replacing) the defaults")
    tariffs: dict[str, Tariff] = Field(default_factory=dict)
    fleet: list[MeterGroup] = Field(min_length=1, max_length=MAX_GROUPS)
    outputs: list[Output] = Field(min_length=1, max_length=100)
    truth: TruthConfig | None = None

    _all_regions: dict[str, Climate] = PrivateAttr(default_factory=dict)

    def _derive(self) -> None:
        regions = dict(DEFAULT_REGIONS)
        for name, climate in self.regions.items():
            builtin = DEFAULT_REGIONS.get(name)
            if climate.timezone is None and builtin is not None:
                climate = climate.model_copy(update={"timezone": builtin.timezone})
            regions[name] = climate
        self._all_regions = regions

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        raise_problems(
            type(self).__name__,
            [
                *self._window_problems(),
                *self._size_problems(),
                *self._region_problems(),
                *self._group_problems(),
                *self._topic_problems(),
                *self._client_id_problems(),
                *pairing_problems(self.fleet),
                *format_problems(self.fleet, self.outputs),
                *check_meter_ids(self.fleet),
                *command_problems(self.fleet, self.outputs),
            ],
        )
        return self

    def _window_problems(self) -> list[Problem]:
        """The run must lie between :data:`EARLIEST_S` and :data:`LATEST_S`; ``start: now`` is judged by now."""
        simulation = self.simulation
        problems: list[Problem] = []
        if simulation.state_path is not None and "\x00" in simulation.state_path:
            problems.append(Problem(("simulation", "state_path"), "must not contain a NUL character"))
        start_s = simulation.start_s
        if start_s is None:  # "now": the next interval boundary, or up to `backfill` before now
            backfill_s = getattr(simulation, "backfill_s", None) or 0
            now = int(time.time())
            if now - backfill_s - SECONDS_PER_DAY < EARLIEST_S:
                message = f"reaches back before {_EARLIEST}, where metersim's clock starts"
                problems.append(Problem(("simulation", "backfill"), message))
            start_s = now + SECONDS_PER_DAY  # the latest that the next boundary can be
        elif start_s < EARLIEST_S:
            problems.append(
                Problem(
                    ("simulation", "start"),
                    f"must be {_EARLIEST} or later: metersim's clock counts seconds from then",
                )
            )
        end_s = start_s + simulation.duration_s
        if end_s > LATEST_S:
            field = "end" if simulation.end is not None else "duration"
            problems.append(
                Problem(("simulation", field), f"the run would end {_when(end_s)}, after {_LATEST}, the latest end")
            )
        return problems

    def _size_problems(self) -> list[Problem]:
        """Limits that keep a scenario's memory bounded, checked before anything is built."""
        problems: list[Problem] = []
        if self.meter_count > MAX_METERS:
            problems.append(
                Problem(("fleet",), f"has {self.meter_count:,} meters in all, over the limit of {MAX_METERS:,}")
            )
        transformers = 0
        for i, group in enumerate(self.fleet):
            grid = group.grid
            if grid is None:
                continue
            count = grid.substations * grid.feeders_per_substation * grid.transformers_per_feeder
            transformers += count
            if transformers > MAX_TRANSFORMERS:
                problems.append(
                    Problem(
                        ("fleet", i, "grid"),
                        f"has {count:,} transformers (substations x feeders_per_substation x transformers_per_feeder)"
                        f"{' after those of the groups before it' if count < transformers else ''}; a scenario "
                        f"may have at most {MAX_TRANSFORMERS:,} in all",
                    )
                )
                break
        return problems

    def _region_problems(self) -> list[Problem]:
        return [
            Problem(
                ("regions", name, "timezone"),
                "a region that is not built in needs `timezone`, an IANA zone such as Europe/Istanbul",
            )
            for name, climate in self._all_regions.items()
            if climate.timezone is None
        ]

    def _group_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        names = [g.name for g in self.fleet]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append(Problem(("fleet", i, "name"), f"duplicate group name {name!r}"))
        duration_s = self.simulation.duration_s
        for i, group in enumerate(self.fleet):
            if duration_s % group.interval_s and duration_s <= LATEST_S:
                problems.append(
                    Problem(
                        ("simulation", "duration"),
                        f"{duration_s} s is not a whole number of fleet[{i}].interval_s ({group.interval_s} s)",
                    )
                )
        for i, group in enumerate(self.fleet):
            if group.region is not None and group.region not in self._all_regions:
                known = sorted(self._all_regions)
                hint = did_you_mean(group.region, known)
                problems.append(
                    Problem(("fleet", i, "region"), f"unknown region {group.region!r}{hint}; known: {known}")
                )
            if group.tariff is not None:
                tariff = self.tariffs.get(group.tariff)
                if tariff is None:
                    known = sorted(self.tariffs)
                    hint = did_you_mean(group.tariff, known)
                    problems.append(
                        Problem(("fleet", i, "tariff"), f"unknown tariff {group.tariff!r}{hint}; known: {known}")
                    )
                elif tariff.commodity != group.commodity:
                    problems.append(Problem(("fleet", i, "tariff"), f"{group.tariff!r} is a {tariff.commodity} tariff"))
        return problems

    def _topic_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for j, output in enumerate(self.outputs):
            if not isinstance(output, MqttOutput):
                continue
            fields = output.topic_fields
            for i, group in enumerate(self.fleet):
                if fields & set(GRID_FIELDS) and group.grid is None:
                    problems.append(Problem(("outputs", j, "topic"), f"uses grid fields but fleet[{i}] has no `grid`"))
                elif "region" in fields and group.region is None:
                    problems.append(Problem(("outputs", j, "topic"), f"uses {{region}} but fleet[{i}] has no `region`"))
            problems.extend(self._topic_length_problems(j, output))
        region_outputs = [
            j for j, o in enumerate(self.outputs) if isinstance(o, MqttOutput) and "region" in o.topic_fields
        ]
        if region_outputs:
            for i, group in enumerate(self.fleet):
                bad = topic_unsafe(group.region or "")
                if bad:
                    problems.append(
                        Problem(
                            ("fleet", i, "region"),
                            f"must not contain {' '.join(bad)}: outputs[{region_outputs[0]}].topic uses {{region}}",
                        )
                    )
        return problems

    def _topic_length_problems(self, j: int, output: MqttOutput) -> list[Problem]:
        """A topic can be at most 65,535 bytes; estimated with the longest values of each group."""
        problems: list[Problem] = []
        for i, group in enumerate(self.fleet):
            space = IdSpace.of(group)
            candidates = [space.id_at(0), space.id_at(group.count - 1)]
            grid: dict[str, str] = dict.fromkeys(GRID_FIELDS, "")
            if group.grid is not None:
                g = group.grid
                substation = f"{group.name}-SS{g.substations:02d}"
                feeder = f"{substation}-F{g.feeders_per_substation:02d}"
                transformer = f"{feeder}-T{g.transformers_per_feeder:03d}"
                grid = {"substation": substation, "feeder": feeder, "transformer": transformer}
                candidates += [feeder, transformer]
            meter_id = max(candidates, key=lambda m: len(m.encode()))
            try:
                topic = output.topic.format(
                    meter_id=meter_id, commodity=group.commodity, group=group.name, region=group.region or "", **grid
                )
            except (ValueError, KeyError, IndexError, AttributeError, TypeError):
                continue  # reported by the topic's own check
            size = len(topic.encode())
            if size > MQTT_MAX_BYTES:
                problems.append(
                    Problem(
                        ("outputs", j, "topic"),
                        f"is {size} bytes long for fleet[{i}] (meter id {meter_id[:40]!r}...), "
                        f"over MQTT's limit of {MQTT_MAX_BYTES} bytes",
                    )
                )
        return problems

    def _client_id_problems(self) -> list[Problem]:
        """Two clients with the same id on one broker would keep disconnecting each other."""
        problems: list[Problem] = []
        seen: dict[tuple[tuple[str, int], str], int] = {}
        for j, output in enumerate(self.outputs):
            if not isinstance(output, MqttOutput) or output.client_id is None or output.broker_key is None:
                continue
            key = (output.broker_key, output.client_id)
            if key in seen:
                problems.append(
                    Problem(
                        ("outputs", j, "client_id"),
                        f"{output.client_id!r} is also the client_id of outputs[{seen[key]}] on the same broker; "
                        "the broker would disconnect one of them whenever the other connects",
                    )
                )
            else:
                seen[key] = j
        return problems

    def without_outputs(self) -> Scenario:
        """The same scenario with every output and the ledger dropped: it publishes and writes nothing."""
        return self.model_copy(update={"outputs": [DiscardOutput(type="discard")], "truth": None})

    @property
    def meter_count(self) -> int:
        """The meters of every group (grid-side meters not counted)."""
        return sum(g.count for g in self.fleet)

    @property
    def all_regions(self) -> Mapping[str, Climate]:
        """The default regions, overridden and extended by the scenario's own.

        A scenario region that overrides a built-in one without a ``timezone`` has the built-in's.
        """
        return self._all_regions

    def region_timezone(self, name: str) -> str:
        """The IANA zone of region ``name`` (built-in or the scenario's); KeyError if unknown."""
        timezone = self._all_regions[name].timezone
        assert timezone is not None  # checked at load
        return timezone


def _when(epoch_s: int) -> str:
    """An instant for a message: ``at`` ISO 8601 in UTC, or ``beyond the year 9999``."""
    try:
        return "at " + datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return "beyond the year 9999"
