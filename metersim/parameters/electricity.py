"""A group onto the electricity model's parameters."""

from __future__ import annotations

from metersim.config import Climate, MeterGroup
from metersim.model.electricity import ElectricityParams
from metersim.parameters.common import country_of, solar_water_heater


def electricity_params(group: MeterGroup, climate: Climate | None) -> ElectricityParams:
    monthly = group.monthly_factors or (climate.monthly_load_factors if climate else None)
    return ElectricityParams(
        profile=group.profile,
        interval_s=group.interval_s,
        annual_kwh=group.annual_amount,
        monthly_factors=tuple(monthly) if monthly else (1.0,) * 12,
        country=country_of(group, climate),
        hot_water_share=group.hot_water_share,
        spikes_per_day=group.spikes_per_day,
        spike_kw=group.spike_kw,
        noise_sigma=group.noise_sigma,
        noise_phi=group.noise_phi,
        pv_performance_ratio=group.pv.performance_ratio if group.pv is not None else None,
        solar_water_heater=solar_water_heater(group),
    )
