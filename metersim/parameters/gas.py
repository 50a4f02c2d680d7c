"""A group onto the gas model's parameters.

The group's ``gas`` block (:class:`~metersim.config.gas.GasConfig`) picks the SigLinDe building class
and who heats; without one, a group gets :class:`GasConfig`'s defaults (single-family homes that all
heat with gas). ``annual_m3`` comes from the group, else from the region's sourced default
(:data:`~metersim.config.gas.DEFAULT_ANNUAL_M3`).
"""

from __future__ import annotations

from metersim.config import MeterGroup
from metersim.config.gas import DEFAULT_ANNUAL_M3, GasConfig
from metersim.model.gas import GasParams
from metersim.model.siglinde import BY_BUILDING_CLASS
from metersim.parameters.common import solar_water_heater


def annual_m3(group: MeterGroup) -> float:
    """The group's mean annual volume per meter [m3]: its own, else its region's default."""
    if group.annual_m3 is not None:
        return float(group.annual_m3)
    if group.region in DEFAULT_ANNUAL_M3:
        return DEFAULT_ANNUAL_M3[group.region]
    raise ValueError(f"gas group {group.name!r} needs `annual_m3` (no default for region {group.region!r})")


def gas_params(group: MeterGroup) -> GasParams:
    gas = group.gas or GasConfig()
    assert isinstance(gas, GasConfig)
    return GasParams(
        interval_s=group.interval_s,
        annual_m3=annual_m3(group),
        hot_water_share=group.hot_water_share,
        cooking_share=group.cooking_share,
        noise_sigma=group.noise_sigma,
        noise_phi=group.noise_phi,
        solar_water_heater=solar_water_heater(group),
        profile=BY_BUILDING_CLASS[gas.building_class],
        heating_fraction=gas.heating_fraction,
        heating_limit_c=gas.heating_limit_c,
        heating_limit_spread_c=gas.heating_limit_spread_c,
    )
