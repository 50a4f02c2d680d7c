"""The one adapter from the scenario schema to the models' plain parameters.

``metersim.model`` knows nothing of the config: each model takes numbers and arrays. This module
maps a validated group (and its region and tariff) onto them.
"""

from __future__ import annotations

from metersim.config import Climate, MeterGroup
from metersim.model.electricity import DAYS_PER_YEAR, ElectricityParams
from metersim.model.gas import GasParams
from metersim.model.grid import GridLosses
from metersim.model.solar import SolarWaterHeater
from metersim.model.weather import ClimateParams
from metersim.timebase import SECONDS_PER_DAY


def climate_params(climate: Climate) -> ClimateParams:
    return ClimateParams(
        latitude_deg=climate.latitude_deg,
        longitude_deg=climate.longitude_deg,
        temp_mean_c=climate.temp_mean_c,
        temp_amplitude_c=climate.temp_amplitude_c,
        coldest_day=climate.coldest_day,
        diurnal_range_c=climate.diurnal_range_c,
        temp_noise_c=climate.temp_noise_c,
        temp_noise_phi=climate.temp_noise_phi,
        clearness_mean=climate.clearness_mean,
        clearness_sd=climate.clearness_sd,
    )


def country_of(group: MeterGroup, climate: Climate | None) -> str | None:
    """The country whose public holidays the group keeps: its own, else its region's."""
    return group.country or (climate.country if climate else None)


def _solar_water_heater(group: MeterGroup) -> SolarWaterHeater | None:
    heater = group.solar_water_heater
    return SolarWaterHeater(heater.collector_m2, heater.efficiency) if heater is not None else None


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
        solar_water_heater=_solar_water_heater(group),
    )


def gas_params(group: MeterGroup) -> GasParams:
    return GasParams(
        interval_s=group.interval_s,
        annual_m3=group.annual_amount,
        hot_water_share=group.hot_water_share,
        cooking_share=group.cooking_share,
        noise_sigma=group.noise_sigma,
        noise_phi=group.noise_phi,
        solar_water_heater=_solar_water_heater(group),
    )


def grid_losses(group: MeterGroup) -> GridLosses:
    assert group.grid is not None
    grid = group.grid
    return GridLosses(grid.transformer_losses_pct, grid.feeder_losses_pct, grid.unmetered_pct)


def mean_interval_milli(group: MeterGroup) -> float:
    """Expected mean consumption of one meter of scale 1 per interval [thousandths of the unit]."""
    return group.annual_amount * 1000 * group.interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR)
