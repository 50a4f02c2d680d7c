"""A whole scenario file, and the checks that need more than one of its sections."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, PrivateAttr, model_validator
from typing_extensions import Self

from metersim.config.base import Model, Problem, raise_problems
from metersim.config.climate import DEFAULT_REGIONS, Climate
from metersim.config.fleet import MeterGroup
from metersim.config.ids import check_meter_ids
from metersim.config.outputs import GRID_FIELDS, MqttOutput, Output
from metersim.config.simulation import SimulationConfig
from metersim.config.tariffs import Tariff
from metersim.config.truth import TruthConfig


class Scenario(Model):
    """A whole scenario file."""

    simulation: SimulationConfig
    regions: dict[str, Climate] = Field(default_factory=dict, description="added to (or replacing) the defaults")
    tariffs: dict[str, Tariff] = Field(default_factory=dict)
    fleet: list[MeterGroup] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)
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
                *self._region_problems(),
                *self._group_problems(),
                *self._topic_problems(),
                *check_meter_ids(self.fleet),
            ],
        )
        return self

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
            if duration_s % group.interval_s:
                problems.append(
                    Problem(
                        ("simulation", "duration"),
                        f"{duration_s} s is not a whole number of fleet[{i}].interval_s ({group.interval_s} s)",
                    )
                )
        for i, group in enumerate(self.fleet):
            if group.region is not None and group.region not in self._all_regions:
                known = sorted(self._all_regions)
                problems.append(Problem(("fleet", i, "region"), f"unknown region {group.region!r}; known: {known}"))
            if group.tariff is not None:
                tariff = self.tariffs.get(group.tariff)
                if tariff is None:
                    problems.append(
                        Problem(
                            ("fleet", i, "tariff"), f"unknown tariff {group.tariff!r}; known: {sorted(self.tariffs)}"
                        )
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
        return problems

    @property
    def meter_count(self) -> int:
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
