"""Per-meter static attributes of a range of one group's meters, drawn from addressable streams.

Any range of whole chunks (:class:`~metersim.streams.MeterRange`) can be built alone and holds
exactly the values the same meters have inside the whole group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metersim._array import Array
from metersim.config import MeterGroup
from metersim.fleet.grid import Topology, build_topology
from metersim.streams import STATIC, MeterRange, Stream, draw, group_key

#: the most a PV meter's clouds lead or lag its cloud cell's field [s]: a neighbourhood of a few km
#: crossed by clouds at some 10 m/s
PV_CLOUD_LAG_MAX_S = 300.0


@dataclass
class MeterAttributes:
    """The meters ``meters`` of one group (arrays indexed by position in the range).

    Registers are integers in thousandths of the unit (Wh, litres) so that sums are exact.
    """

    group: MeterGroup
    meters: MeterRange
    scale: Array  # per-meter annual scale, lognormal with mean 1 [-]
    initial_milli: Array  # initial register [Wh or litres], int64
    offset_s: Array  # report delay after each interval end [s], int32
    shift_slots: Array  # phase shift of the daily curve [intervals], int64
    pv_kwp: Array  # installed PV peak power, 0 without PV [kWp]
    has_swh: Array  # has a solar water heater [bool]
    has_converter: Array  # gas: has a volume converter [bool]
    battery_pct: Array  # gas: battery charge at the start of the run [%]
    topology: Topology | None
    # PV siting: standard normal deviates of tilt and azimuth (the config and region give mean and
    # sd, see metersim.photovoltaics), and the lag behind the cloud cell's field [s]
    pv_tilt_z: Array = field(default_factory=lambda: np.zeros(0))
    pv_azimuth_z: Array = field(default_factory=lambda: np.zeros(0))
    pv_cloud_lag_s: Array = field(default_factory=lambda: np.zeros(0))

    @property
    def count(self) -> int:
        return self.meters.count

    def meter_ids(self) -> list[str]:
        """The ids of the range's meters (built on demand: a million strings cost ~80 MB)."""
        return self.group.meter_ids(self.meters.start, self.meters.stop)


def build_attributes(group: MeterGroup, seed: int, meters: MeterRange | None = None) -> MeterAttributes:
    """Draw the static attributes of ``meters`` (default: the whole group)."""
    meters = meters or MeterRange.whole(group.count)
    if meters.stop > group.count:
        raise ValueError(f"{group.name}: meters {meters.start}..{meters.stop - 1} beyond its {group.count}")
    key, n = group_key(group.name), meters.count

    def static(stream: Stream, sample: Callable[[np.random.Generator, int], Array]) -> Array:
        return draw(seed, stream, key, meters, STATIC, sample)

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
    siting: Array = np.zeros((n, 3))
    if group.pv is not None:
        pv = group.pv
        has_pv = share(Stream.PV, pv.fraction)
        kwp = static(Stream.PV, lambda r, k: np.maximum(r.normal(pv.kwp_mean, pv.kwp_sd, k), 0.5))
        pv_kwp = np.where(has_pv, kwp, 0.0)
        # Own stream (not Stream.PV), so that kWp and who has PV stay what they were.
        siting = np.concatenate([_siting(seed, key, chunk, size) for chunk, size in meters.chunks()])
        siting[:, 2] = PV_CLOUD_LAG_MAX_S * (2.0 * siting[:, 2] - 1.0)
    swh_fraction = group.solar_water_heater.fraction if group.solar_water_heater else 0.0
    gas = group.commodity == "gas"
    return MeterAttributes(
        group=group,
        meters=meters,
        scale=scale,
        initial_milli=np.floor(initial * group.initial_register_max * 1000).astype(np.int64),
        offset_s=offsets.astype(np.int32),
        shift_slots=np.rint(shifts / group.interval_s).astype(np.int64),
        pv_kwp=pv_kwp,
        has_swh=share(Stream.SOLAR_WATER_HEATER, swh_fraction),
        has_converter=share(Stream.CONVERTER, group.converter_fraction),
        battery_pct=static(Stream.BATTERY, lambda r, k: r.uniform(60, 100, k)) if gas else np.zeros(0),
        topology=build_topology(group),
        pv_tilt_z=siting[:, 0],
        pv_azimuth_z=siting[:, 1],
        pv_cloud_lag_s=siting[:, 2],
    )


def _siting(seed: int, key: int, chunk: int, size: int) -> Array:
    """One chunk's PV siting draws, as :func:`~metersim.streams.draw` keys them: tilt and azimuth
    deviates (standard normal) and a uniform for the cloud lag, meters x 3."""
    rng = np.random.default_rng([seed, int(Stream.PV_SITING), key, chunk, STATIC + 1])
    return np.column_stack([rng.standard_normal((size, 2)), rng.random(size)])
