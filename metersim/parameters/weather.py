"""A region's climate onto the weather model's parameters."""

from __future__ import annotations

from metersim.config import Climate
from metersim.model.weather import ClimateParams


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
        clearness_monthly=tuple(climate.clearness_monthly) if climate.clearness_monthly else None,
        cloud_region_correlation=climate.cloud_region_correlation,
        haze_transmittance=climate.haze_transmittance,
        pv_tilt_deg_mean=climate.pv_tilt_deg_mean,
        pv_tilt_deg_sd=climate.pv_tilt_deg_sd,
        pv_azimuth_deg_sd=climate.pv_azimuth_deg_sd,
    )
