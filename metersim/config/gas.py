"""A gas group's heating: its SigLinDe building class, who heats with gas, and when heating stops.

Written under a group as ``gas:``; every field has a default, so ``gas: {}`` (or no ``gas`` at all) is
a single-family home that heats with gas below a 15 degC heating limit. Where the defaults come from:

* ``building_class`` EFH: SigLinDe HEF33 (BDEW/VKU/GEODE, "Leitfaden Abwicklung von
  Standardlastprofilen Gas", 2016); Tashkent's gas-heated homes are mostly houses (an assumption);
* ``heating_fraction`` 1.0: an assumption; with it the Tashkent fleet meets both sourced figures, the
  annual volume below and a regional distributor's ~25 m3 per household on a cold day (as cited in
  issue 10). Set it lower for district-heated flats, which only cook and heat water with gas;
* ``heating_limit_c`` 15 degC: the heating limit of the degree days G20/15 (VDI 3807);
  ``heating_limit_spread_c`` 2 degC: an assumption (homes do not all switch off on one day);
* :data:`DEFAULT_ANNUAL_M3`: see there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from metersim.config.base import Float, Model

#: default mean annual volume per household [m3] by weather region, where a published figure exists.
#: tashkent: Uztransgaz, 2018: about 10 bcm a year for about 3.2 million household connections, i.e.
#: ~3,100 m3 per household and year (houses heat, cook and heat water with gas).
DEFAULT_ANNUAL_M3: dict[str, float] = {"tashkent": 3100.0}


class GasConfig(Model):
    """How a gas group heats (see :mod:`metersim.model.gas`)."""

    building_class: Literal["EFH", "MFH"] = Field(
        default="EFH",
        description="SigLinDe profile: EFH single-family home (HEF33), MFH multi-family house (HMF33); "
        "BDEW/VKU/GEODE 2016",
    )
    heating_fraction: Float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="share of meters whose home heats with gas; the others (e.g. district-heated flats) "
        "only heat water and cook",
    )
    heating_limit_c: Float = Field(
        default=15.0,
        ge=0,
        le=25,
        description="mean heating limit: a home stops heating when the SigLinDe four-day mean temperature "
        "is at or above it [degC] (15 degC: the heating limit of the degree days G20/15, VDI 3807)",
    )
    heating_limit_spread_c: Float = Field(
        default=2.0,
        ge=0,
        le=10,
        description="each home's heating limit is uniform within +- this of the mean [degC]",
    )
