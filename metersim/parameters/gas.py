"""A group onto the gas model's parameters."""

from __future__ import annotations

from metersim.config import MeterGroup
from metersim.model.gas import GasParams
from metersim.parameters.common import solar_water_heater


def gas_params(group: MeterGroup) -> GasParams:
    return GasParams(
        interval_s=group.interval_s,
        annual_m3=group.annual_amount,
        hot_water_share=group.hot_water_share,
        cooking_share=group.cooking_share,
        noise_sigma=group.noise_sigma,
        noise_phi=group.noise_phi,
        solar_water_heater=solar_water_heater(group),
    )
