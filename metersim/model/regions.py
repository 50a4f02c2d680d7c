"""Built-in weather regions: the climate numbers behind ``lahore``, ``karachi``, ``tashkent`` and ``amsterdam``.

Plain data beside the weather model; the scenario schema (:mod:`metersim.config.climate`) builds its
``Climate`` models from it, and a scenario may override or extend it. Each region carries its own IANA
zone, so its weather never depends on the zone of a group that uses it.

Irradiance calibration: ``clearness_mean`` x ``clearness_monthly`` is each month's mean share of
Haurwitz clear-sky GHI, set so that a year of the synthetic weather gives the region's measured GHI:

* lahore: ~1,790 kWh/m2/yr (Global Solar Atlas 2.0, World Bank/ESMAP & Solargis, Punjab plains);
  months after NASA POWER's climatology, with the monsoon (July to September) the cloudiest;
* amsterdam: 1,023 kWh/m2/yr, with 875 kWh/kWp of PV (CBS, Statistics Netherlands, 2023 figures;
  months after KNMI's 1991-2020 normals for De Bilt);
* karachi ~1,970 and tashkent ~1,660 kWh/m2/yr (Global Solar Atlas 2.0), months after NASA POWER.

A Haurwitz clear sky is 2,313 (lahore), 1,713 (amsterdam), 2,454 (karachi) and 2,057 (tashkent)
kWh/m2/yr; test_weather checks the synthetic annual GHI against the sourced totals.

Haze: a cloudless day's GHI relative to Haurwitz, lower where aerosols are heavy (the Indo-Gangetic
plain's aerosol optical depth, ~0.5-0.6 at 550 nm at AERONET's Lahore site, is among the world's
highest; estimates: lahore 0.85, karachi 0.88, tashkent 0.92, amsterdam 0.95).

Rooftop PV orientation (the default of a group's ``pv``): in Pakistan and Uzbekistan modules sit on
frames on flat roofs, facing south at about 20 degrees; Dutch systems follow pitched roofs (35-45
degrees, any azimuth from east to west) or flat-roof frames (10-15 degrees). Spreads after the
rooftop surveys of Killinger et al. (2018, Solar Energy 173) [estimate for Pakistan and Uzbekistan].
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
    clearness_monthly: tuple[float, ...]  # clearness Jan..Dec relative to clearness_mean [-]
    cloud_region_correlation: float = 0.7  # latent cloud field of a feeder vs the region's [-]
    haze_transmittance: float = 0.95  # cloudless GHI over Haurwitz clear-sky GHI (aerosols) [-]
    pv_tilt_deg_mean: float = 25.0  # rooftop PV tilt, where a group does not set it [deg]
    pv_tilt_deg_sd: float = 10.0  # [deg]
    pv_azimuth_deg_sd: float = 45.0  # spread around facing the equator [deg]


BUILTIN_REGIONS: dict[str, Region] = {
    # Summer-peaking electricity (fans, air conditioning), mild winters.
    "lahore": Region(
        timezone="Asia/Karachi", country="PK", latitude_deg=31.55, longitude_deg=74.34, temp_mean_c=24.5,
        temp_amplitude_c=10.5, coldest_day=12, diurnal_range_c=12, temp_noise_c=1.8, clearness_mean=0.784,
        clearness_sd=0.14,
        monthly_load_factors=(0.62, 0.62, 0.75, 0.95, 1.25, 1.42, 1.45, 1.40, 1.27, 0.98, 0.70, 0.60),
        clearness_monthly=(1.03, 1.07, 1.05, 1.04, 1.02, 0.96, 0.85, 0.87, 0.94, 1.06, 1.06, 1.0),
        pv_tilt_deg_mean=20, pv_tilt_deg_sd=5, pv_azimuth_deg_sd=15, haze_transmittance=0.85,
    ),
    "karachi": Region(
        timezone="Asia/Karachi", country="PK", latitude_deg=24.86, longitude_deg=67.0, temp_mean_c=26.5,
        temp_amplitude_c=5.5, coldest_day=15, diurnal_range_c=8, temp_noise_c=1.2, clearness_mean=0.823,
        clearness_sd=0.12,
        monthly_load_factors=(0.75, 0.78, 0.90, 1.05, 1.20, 1.25, 1.18, 1.12, 1.12, 1.05, 0.85, 0.75),
        clearness_monthly=(1.12, 1.11, 1.09, 1.04, 1.01, 0.91, 0.76, 0.76, 0.93, 1.06, 1.1, 1.11),
        pv_tilt_deg_mean=18, pv_tilt_deg_sd=5, pv_azimuth_deg_sd=15, haze_transmittance=0.88,
    ),
    # Cold winters: gas heating dominates; electricity slightly winter-peaking.
    "tashkent": Region(
        timezone="Asia/Tashkent", country="UZ", latitude_deg=41.3, longitude_deg=69.24, temp_mean_c=14.8,
        temp_amplitude_c=13.5, coldest_day=12, diurnal_range_c=12, temp_noise_c=2.5, clearness_mean=0.794,
        clearness_sd=0.16,
        monthly_load_factors=(1.22, 1.15, 1.00, 0.88, 0.85, 0.92, 1.00, 0.98, 0.85, 0.90, 1.05, 1.20),
        clearness_monthly=(0.96, 0.94, 0.92, 0.92, 1.0, 1.06, 1.09, 1.08, 1.08, 1.04, 0.97, 0.93),
        pv_tilt_deg_mean=30, pv_tilt_deg_sd=8, pv_azimuth_deg_sd=20, haze_transmittance=0.92,
    ),
    # Central Europe: winter-peaking electricity.
    "amsterdam": Region(
        timezone="Europe/Amsterdam", country="NL", latitude_deg=52.37, longitude_deg=4.9, temp_mean_c=10.5,
        temp_amplitude_c=7.0, coldest_day=20, diurnal_range_c=7, temp_noise_c=2.5, clearness_mean=0.57,
        clearness_sd=0.18,
        monthly_load_factors=(1.20, 1.12, 1.05, 0.95, 0.88, 0.84, 0.84, 0.86, 0.92, 1.02, 1.12, 1.20),
        clearness_monthly=(0.9, 0.98, 1.03, 1.1, 1.09, 1.05, 1.06, 1.07, 1.03, 0.98, 0.88, 0.85),
        pv_tilt_deg_mean=35, pv_tilt_deg_sd=10, pv_azimuth_deg_sd=55,
    ),
}  # fmt: skip
