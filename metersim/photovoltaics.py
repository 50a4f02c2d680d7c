"""Each group's PV systems, built from its config and its meters' attributes.

Cloud cells: a group with a grid puts each PV meter in its feeder's cell (feeders are a few km
across, so their meters see the same clouds minutes apart). A group without a grid has no places,
so it groups meters in blocks of :data:`CLOUD_BLOCK_METERS` consecutive meters, each block standing
for a neighbourhood: the same cost per interval (one field per cell and day), the same statistics.
"""

from __future__ import annotations

import numpy as np

from metersim._array import Array
from metersim.config import MeterGroup
from metersim.fleet import MeterAttributes
from metersim.model.solar import PvSystems
from metersim.model.weather import ClimateParams, Weather
from metersim.streams import group_key

#: meters per cloud cell in a group without a grid (divides the stream chunk, so shards agree)
CLOUD_BLOCK_METERS = 256
TILT_MAX_DEG = 60.0  # steeper rooftop modules are rare; the normal's tail is clipped here


def orientation(
    group: MeterGroup, attributes: MeterAttributes, rows: Array, climate: ClimateParams
) -> tuple[Array, Array]:
    """Tilt and azimuth [deg] of the PV meters ``rows``: the group's distribution, else the region's."""
    pv = group.pv
    assert pv is not None
    tilt_mean = climate.pv_tilt_deg_mean if pv.tilt_deg_mean is None else pv.tilt_deg_mean
    tilt_sd = climate.pv_tilt_deg_sd if pv.tilt_deg_sd is None else pv.tilt_deg_sd
    azimuth_sd = climate.pv_azimuth_deg_sd if pv.azimuth_deg_sd is None else pv.azimuth_deg_sd
    # Equator-facing: south (180) in the northern hemisphere, north (0) in the southern.
    equator = 180.0 if climate.latitude_deg >= 0 else 0.0
    azimuth_mean = equator if pv.azimuth_deg_mean is None else pv.azimuth_deg_mean
    tilt = np.clip(tilt_mean + tilt_sd * attributes.pv_tilt_z[rows], 0.0, TILT_MAX_DEG)
    azimuth = (azimuth_mean + azimuth_sd * attributes.pv_azimuth_z[rows]) % 360.0
    return tilt, azimuth


def pv_systems(group: MeterGroup, attributes: MeterAttributes, weather: Weather | None) -> PvSystems | None:
    """The PV systems of ``attributes``' meters (None for a group without PV, or whose meters have none)."""
    rows = np.flatnonzero(attributes.pv_kwp > 0)
    if group.pv is None or weather is None or not len(rows):
        return None
    pv = group.pv
    tilt, azimuth = orientation(group, attributes, rows, weather.climate)
    topology = attributes.topology
    if topology is not None:
        cells = topology.transformer_feeder[topology.meter_transformer(attributes.meters)][rows]
    else:
        cells = (attributes.meters.start + rows) // CLOUD_BLOCK_METERS
    return PvSystems(
        rows,
        attributes.pv_kwp[rows],
        weather,
        pv.performance_ratio,
        tilt_deg=tilt,
        azimuth_deg=azimuth,
        cloud_cell=cells,
        cloud_lag_s=attributes.pv_cloud_lag_s[rows],
        key=group_key(group.name),
        albedo=pv.albedo,
    )
