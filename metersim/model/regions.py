"""Built-in weather regions: the climate numbers behind ``lahore``, ``karachi``, ``tashkent`` and ``amsterdam``.

Plain data beside the weather model; the scenario schema (:mod:`metersim.config.climate`) builds its
``Climate`` models from it, and a scenario may override or extend it. Each region carries its own IANA
zone, so its weather never depends on the zone of a group that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """The parameters of a region's synthetic temperature and irradiance, and its civil clock."""

    timezone: str  # IANA zone whose civil days are the region's weather days
    country: str  # ISO 3166 alpha-2 code, for public holidays
    latitude_deg: float  # [deg], north positive
    longitude_deg: float  # [deg], east positive
    temp_mean_c: float  # annual mean daily temperature [degC]
    temp_amplitude_c: float  # half the warmest-minus-coldest daily mean [degC]
    coldest_day: int  # day of year of the coldest climatological day [d]
    diurnal_range_c: float  # daily max minus daily min [degC]
    temp_noise_c: float  # sd of the AR(1) daily anomaly [degC]
    clearness_mean: float  # mean daily clearness (fraction of clear-sky GHI) [-]
    clearness_sd: float  # [-]
    monthly_load_factors: tuple[float, ...]  # electricity seasonality Jan..Dec [-]


BUILTIN_REGIONS: dict[str, Region] = {
    # Summer-peaking electricity (fans, air conditioning), mild winters.
    "lahore": Region(
        timezone="Asia/Karachi", country="PK", latitude_deg=31.55, longitude_deg=74.34, temp_mean_c=24.5,
        temp_amplitude_c=10.5, coldest_day=12, diurnal_range_c=12, temp_noise_c=1.8, clearness_mean=0.68,
        clearness_sd=0.14,
        monthly_load_factors=(0.62, 0.62, 0.75, 0.95, 1.25, 1.42, 1.45, 1.40, 1.27, 0.98, 0.70, 0.60),
    ),
    "karachi": Region(
        timezone="Asia/Karachi", country="PK", latitude_deg=24.86, longitude_deg=67.0, temp_mean_c=26.5,
        temp_amplitude_c=5.5, coldest_day=15, diurnal_range_c=8, temp_noise_c=1.2, clearness_mean=0.70,
        clearness_sd=0.12,
        monthly_load_factors=(0.75, 0.78, 0.90, 1.05, 1.20, 1.25, 1.18, 1.12, 1.12, 1.05, 0.85, 0.75),
    ),
    # Cold winters: gas heating dominates; electricity slightly winter-peaking.
    "tashkent": Region(
        timezone="Asia/Tashkent", country="UZ", latitude_deg=41.3, longitude_deg=69.24, temp_mean_c=14.8,
        temp_amplitude_c=13.5, coldest_day=12, diurnal_range_c=12, temp_noise_c=2.5, clearness_mean=0.66,
        clearness_sd=0.16,
        monthly_load_factors=(1.22, 1.15, 1.00, 0.88, 0.85, 0.92, 1.00, 0.98, 0.85, 0.90, 1.05, 1.20),
    ),
    # Central Europe: winter-peaking electricity.
    "amsterdam": Region(
        timezone="Europe/Amsterdam", country="NL", latitude_deg=52.37, longitude_deg=4.9, temp_mean_c=10.5,
        temp_amplitude_c=7.0, coldest_day=20, diurnal_range_c=7, temp_noise_c=2.5, clearness_mean=0.50,
        clearness_sd=0.18,
        monthly_load_factors=(1.20, 1.12, 1.05, 0.95, 0.88, 0.84, 0.84, 0.86, 0.92, 1.02, 1.12, 1.20),
    ),
}  # fmt: skip
