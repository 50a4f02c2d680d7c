"""Weather regions: the parameters of each region's synthetic temperature and irradiance.

The built-in regions' numbers live beside the weather model, in :mod:`metersim.model.regions`;
:data:`DEFAULT_REGIONS` holds them as validated :class:`Climate` models.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from pydantic import Field, field_validator

from metersim.config.base import Float, Model, StrictInt
from metersim.model.regions import BUILTIN_REGIONS, Region
from metersim.timebase import zone


class Climate(Model):
    """A weather region: the parameters of its synthetic temperature and irradiance."""

    latitude_deg: Float = Field(ge=-90, le=90)
    longitude_deg: Float = Field(ge=-180, le=180)
    timezone: str | None = Field(
        None,
        description="IANA zone whose civil days are the region's weather days; required for a new region, "
        "inherited from the built-in region of the same name otherwise",
    )
    country: str | None = Field(None, description="ISO 3166 alpha-2 code, for public holidays")
    temp_mean_c: Float = Field(ge=-100, le=100, description="annual mean daily temperature [degC]")
    temp_amplitude_c: Float = Field(ge=0, le=100, description="half the warmest-minus-coldest daily mean [degC]")
    coldest_day: StrictInt = Field(15, ge=1, le=366, description="day of year of the coldest climatological day")
    diurnal_range_c: Float = Field(10, ge=0, le=100, description="daily max minus daily min [degC]")
    temp_noise_c: Float = Field(2.0, ge=0, le=50, description="sd of the AR(1) daily anomaly [degC]")
    temp_noise_phi: Float = Field(default=0.7, ge=0, lt=1, description="day-to-day persistence of the anomaly")
    clearness_mean: Float = Field(0.7, gt=0, lt=1, description="mean daily clearness (fraction of clear-sky)")
    clearness_sd: Float = Field(0.12, ge=0, lt=0.5)
    clearness_monthly: list[Annotated[Float, Field(gt=0, le=10)]] | None = Field(
        None,
        min_length=12,
        max_length=12,
        description="clearness Jan..Dec relative to clearness_mean (normalised to mean 1); e.g. a monsoon",
    )
    cloud_region_correlation: Float = Field(
        0.7, ge=0, le=1, description="correlation of the latent cloud field of a feeder with the region's [-]"
    )
    haze_transmittance: Float = Field(
        0.95, gt=0, le=1, description="cloudless GHI over the Haurwitz clear sky (aerosols, water vapour) [-]"
    )
    pv_tilt_deg_mean: Float = Field(25.0, ge=0, le=90, description="rooftop PV tilt where a group sets none [deg]")
    pv_tilt_deg_sd: Float = Field(10.0, ge=0, le=90, description="sd of rooftop PV tilt [deg]")
    pv_azimuth_deg_sd: Float = Field(45.0, ge=0, le=180, description="sd of PV azimuth around the equator [deg]")
    monthly_load_factors: list[Annotated[Float, Field(gt=0, le=1e6)]] | None = Field(
        None, min_length=12, max_length=12, description="electricity seasonality Jan..Dec (normalised to mean 1)"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            zone(v)
        return v

    @classmethod
    def from_region(cls, region: Region) -> Climate:
        """The validated model of a built-in region."""
        fields = dataclasses.asdict(region)
        fields["monthly_load_factors"] = list(region.monthly_load_factors)
        fields["clearness_monthly"] = list(region.clearness_monthly)
        return cls.model_validate(fields)


#: the built-in regions, each with its own time zone
DEFAULT_REGIONS: dict[str, Climate] = {name: Climate.from_region(r) for name, r in BUILTIN_REGIONS.items()}
