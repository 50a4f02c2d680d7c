"""Rooftop PV: how much, how it is oriented, how well it converts sunlight.

Orientation: each PV meter's tilt is normal (clipped to 0..60 degrees) and its azimuth normal around
the mean; what a group leaves unset comes from its region (:mod:`metersim.model.regions`: frames on
flat roofs in South Asia, pitched roofs in the Netherlands). The performance ratio excludes
temperature losses, which the model computes (Faiman cell temperature, -0.4 %/K): 0.85 stands for
inverter (~4 %), wiring, soiling, reflection and mismatch losses (PVWatts' default system losses
are 14 %, Dobos 2014, NREL/TP-6A20-62641).
"""

from __future__ import annotations

from pydantic import Field

from metersim.config.base import Float, Model


class PvConfig(Model):
    """Rooftop PV on a fraction of the group's meters."""

    fraction: Float = Field(ge=0, le=1, description="share of meters with PV")
    kwp_mean: Float = Field(4.0, gt=0, le=1e6, description="mean installed peak power [kWp]")
    kwp_sd: Float = Field(1.5, ge=0, le=1e6, description="sd of installed peak power [kWp]")
    performance_ratio: Float = Field(
        0.85,
        gt=0,
        le=1,
        description="AC output per kWp per kW/m2 of plane-of-array irradiance at 25 degC cells: losses "
        "other than temperature (inverter, wiring, soiling, reflection)",
    )
    tilt_deg_mean: Float | None = Field(None, ge=0, le=90, description="mean module tilt [deg]; default: the region's")
    tilt_deg_sd: Float | None = Field(None, ge=0, le=90, description="sd of module tilt [deg]; default: the region's")
    azimuth_deg_mean: Float | None = Field(
        None, ge=0, lt=360, description="mean azimuth, clockwise from north [deg]; default: facing the equator"
    )
    azimuth_deg_sd: Float | None = Field(None, ge=0, le=180, description="sd of azimuth [deg]; default: the region's")
    albedo: Float = Field(0.2, ge=0, le=1, description="ground reflectance seen by tilted modules [-]")
