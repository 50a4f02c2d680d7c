"""Each group's PV systems, built from its config and its meters' attributes."""

from __future__ import annotations

import numpy as np

from metersim.config import MeterGroup
from metersim.fleet import MeterAttributes
from metersim.model.solar import PvSystems
from metersim.model.weather import Weather


def pv_systems(group: MeterGroup, attributes: MeterAttributes, weather: Weather | None) -> PvSystems | None:
    """The PV systems of ``attributes``' meters (None for a group without PV, or whose meters have none)."""
    rows = np.flatnonzero(attributes.pv_kwp > 0)
    if group.pv is None or weather is None or not len(rows):
        return None
    return PvSystems(rows, attributes.pv_kwp[rows], weather, group.pv.performance_ratio)
