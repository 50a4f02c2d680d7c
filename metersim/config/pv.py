"""Rooftop PV: how much, how it is oriented, how well it converts sunlight."""

from __future__ import annotations

from pydantic import Field

from metersim.config.base import Float, Model


class PvConfig(Model):
    """Rooftop PV on a fraction of the group's meters."""

    fraction: Float = Field(ge=0, le=1, description="share of meters with PV")
    kwp_mean: Float = Field(4.0, gt=0, le=1e6, description="mean installed peak power [kWp]")
    kwp_sd: Float = Field(1.5, ge=0, le=1e6, description="sd of installed peak power [kWp]")
    performance_ratio: Float = Field(0.8, gt=0, le=1, description="AC output per kWp per kW/m2 of irradiance")
