"""The fleet: per-meter static attributes as arrays, one :class:`Cohort` per meter group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metersim._array import Array
from metersim.config import MeterGroup, Scenario
from metersim.grid import Topology, build_topology
from metersim.streams import STATIC, Stream, draw, group_key

UNIT = {"electricity": "kWh", "gas": "m3"}
_NO_PLACE = {"region": "", "substation": "", "feeder": "", "transformer": ""}


@dataclass
class Cohort:
    """The meters of one group, with their static attributes (arrays indexed by position in the group).

    Registers are integers in thousandths of the unit (Wh, litres) so that sums are exact.
    """

    group: MeterGroup
    scale: Array  # per-meter annual scale, lognormal with mean 1 [-]
    initial_milli: Array  # initial register [Wh or litres], int64
    offset_s: Array  # report delay after each interval end [s], int32
    shift_slots: Array  # phase shift of the daily curve [intervals], int64
    pv_kwp: Array  # installed PV peak power, 0 without PV [kWp]
    has_swh: Array  # has a solar water heater [bool]
    has_converter: Array  # gas: has a volume converter [bool]
    battery_pct: Array  # gas: battery charge at the start of the run [%]
    topology: Topology | None
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

    def topics(
        self, template: str, ids: list[str] | None = None, places: list[dict[str, str]] | None = None
    ) -> list[str]:
        """One topic per meter (or per grid-side meter, given their ids and places) for ``template``, cached."""
        cache_key = template if ids is None else f"grid:{template}"
        topics = self._topics.get(cache_key)
        if topics is None:
            commodity, name = self.group.commodity, self.group.name
            ids = self.ids if ids is None else ids
            if places is None:
                no_place = {**_NO_PLACE, "region": self.group.region or ""}
                places = self.topology.meter_fields if self.topology is not None else [no_place] * len(ids)
            topics = [
                template.format(meter_id=m, commodity=commodity, group=name, **place) for m, place in zip(ids, places)
            ]
            self._topics[cache_key] = topics
        return topics


def build_cohort(group: MeterGroup, seed: int) -> Cohort:
    """Draw one group's static attributes from their addressable streams."""
    key, n = group_key(group.name), group.count

    def static(stream: Stream, sample: Callable[[np.random.Generator, int], Array]) -> Array:
        return draw(seed, stream, key, n, STATIC, sample)

    def share(stream: Stream, fraction: float) -> Array:
        if fraction <= 0:
            return np.zeros(n, dtype=bool)
        return static(stream, lambda r, k: r.random(k)) < fraction

    sigma = group.scale_sigma
    scale = static(Stream.SCALE, lambda r, k: r.lognormal(-sigma * sigma / 2, sigma, k))
    initial = static(Stream.INITIAL_REGISTER, lambda r, k: r.random(k))
    jitter, shift = group.effective_jitter_s, group.phase_shift_s
    offsets = static(Stream.REPORT_OFFSET, lambda r, k: r.integers(0, jitter, k)) if jitter else np.zeros(n)
    shifts = static(Stream.PHASE, lambda r, k: r.uniform(-shift, shift, k)) if shift else np.zeros(n)
    pv_kwp: Array = np.zeros(n)
    if group.pv is not None:
        pv = group.pv
        has_pv = share(Stream.PV, pv.fraction)
        kwp = static(Stream.PV, lambda r, k: np.maximum(r.normal(pv.kwp_mean, pv.kwp_sd, k), 0.5))
        pv_kwp = np.where(has_pv, kwp, 0.0)
    swh_fraction = group.solar_water_heater.fraction if group.solar_water_heater else 0.0
    return Cohort(
        group=group,
        scale=scale,
        initial_milli=np.floor(initial * group.initial_register_max * 1000).astype(np.int64),
        offset_s=offsets.astype(np.int32),
        shift_slots=np.rint(shifts / group.interval_s).astype(np.int64),
        pv_kwp=pv_kwp,
        has_swh=share(Stream.SOLAR_WATER_HEATER, swh_fraction),
        has_converter=share(Stream.CONVERTER, group.converter_fraction),
        battery_pct=static(Stream.BATTERY, lambda r, k: r.uniform(60, 100, k))
        if group.commodity == "gas"
        else np.zeros(0),
        topology=build_topology(group),
    )


def build_fleet(scenario: Scenario) -> list[Cohort]:
    """One cohort per group, in scenario order."""
    return [build_cohort(group, scenario.simulation.seed) for group in scenario.fleet]
