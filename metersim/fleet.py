"""The fleet: per-meter static attributes as arrays, one :class:`Cohort` per meter group."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metersim.config import MeterGroup, Scenario
from metersim.streams import STATIC, Stream, draw, group_key

REGISTER_OBIS = {"electricity": "1-0:1.8.0", "gas": "7-0:3.0.0"}
UNIT = {"electricity": "kWh", "gas": "m3"}


@dataclass
class Cohort:
    """The meters of one group, with their static attributes (arrays indexed by position in the group).

    Registers are integers in thousandths of the unit (Wh, litres) so that sums are exact.
    """

    group: MeterGroup
    first_global: int  # global index of the first meter [-]
    scale: np.ndarray  # per-meter annual scale, lognormal with mean 1 [-]
    initial_milli: np.ndarray  # initial register [Wh or litres], int64
    offset_s: np.ndarray  # report delay after each interval end [s], int32
    _ids: list[str] | None = field(default=None, repr=False)
    _topics: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return self.group.count

    @property
    def ids(self) -> list[str]:
        """Meter ids, built on first use (a million strings cost ~80 MB)."""
        if self._ids is None:
            self._ids = self.group.meter_ids()
        return self._ids

    def topics(self, template: str) -> list[str]:
        """One topic per meter for ``template``, cached."""
        topics = self._topics.get(template)
        if topics is None:
            commodity, name = self.group.commodity, self.group.name
            topics = [template.format(meter_id=m, commodity=commodity, group=name) for m in self.ids]
            self._topics[template] = topics
        return topics


def build_cohort(group: MeterGroup, seed: int, first_global: int) -> Cohort:
    """Draw one group's static attributes from its addressable streams."""
    key, n = group_key(group.name), group.count
    sigma = group.scale_sigma
    scale = draw(seed, Stream.SCALE, key, n, STATIC, lambda r, k: r.lognormal(-sigma * sigma / 2, sigma, k))
    initial = draw(seed, Stream.INITIAL_REGISTER, key, n, STATIC, lambda r, k: r.random(k))
    jitter = group.effective_jitter_s
    offsets = (
        draw(seed, Stream.REPORT_OFFSET, key, n, STATIC, lambda r, k: r.integers(0, jitter, k))
        if jitter
        else np.zeros(n, dtype=np.int64)
    )
    return Cohort(
        group=group,
        first_global=first_global,
        scale=scale,
        initial_milli=np.floor(initial * group.initial_register_max * 1000).astype(np.int64),
        offset_s=offsets.astype(np.int32),
    )


def build_fleet(scenario: Scenario) -> list[Cohort]:
    """One cohort per group, in scenario order."""
    cohorts, first = [], 0
    for group in scenario.fleet:
        cohorts.append(build_cohort(group, scenario.simulation.seed, first))
        first += group.count
    return cohorts
