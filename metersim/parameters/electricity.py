"""A group onto the electricity model's parameters."""

from __future__ import annotations

from metersim.config import Climate, MeterGroup
from metersim.model.appliances import DiversityParams
from metersim.model.electricity import ElectricityParams
from metersim.model.shapes import BDEW_PROFILES
from metersim.model.thermal import ThermalParams
from metersim.parameters.common import country_of, solar_water_heater

#: default air-conditioner ownership by profile (BDEW profiles already hold their average behaviour)
AC_OWNERSHIP = {"household": 0.5, "commercial": 0.7, "agricultural": 0.0}
#: share of a region's summer peak left in the monthly factors when the cooling model carries the rest
REGION_PEAK_KEPT = 0.5


def _monthly(group: MeterGroup, climate: Climate | None, cooling: bool) -> tuple[float, ...]:
    """The group's own monthly factors; else, for household and agricultural, its region's.

    BDEW profiles and ``commercial`` carry their own seasonality (BDEW's seasons), so a region's
    factors (which describe households) do not apply to them. When air conditioning is modelled from
    the weather, only REGION_PEAK_KEPT of the region's swing around 1 stays in the factors: the rest of
    a summer peak is the cooling load itself.
    """
    if group.monthly_factors:
        return tuple(group.monthly_factors)
    if group.profile not in ("household", "agricultural") or climate is None or not climate.monthly_load_factors:
        return (1.0,) * 12
    factors = climate.monthly_load_factors
    if cooling:
        factors = [1.0 + REGION_PEAK_KEPT * (f - 1.0) for f in factors]
    return tuple(factors)


def electricity_params(group: MeterGroup, climate: Climate | None) -> ElectricityParams:
    c, h, d = group.cooling, group.heating, group.diversity
    ownership = c.ownership if c.ownership is not None else AC_OWNERSHIP.get(group.profile, 0.0)
    cooling = ThermalParams(ownership, c.energy_share, c.max_kw, c.setpoint_c, c.setpoint_sd_c, c.span_k)
    heating = ThermalParams(h.ownership, h.energy_share, h.max_kw, h.setpoint_c, h.setpoint_sd_c, h.span_k)
    bdew = group.profile in BDEW_PROFILES
    return ElectricityParams(
        profile=group.profile,
        interval_s=group.interval_s,
        annual_kwh=group.annual_amount,
        monthly_factors=_monthly(group, climate, ownership > 0 and group.region is not None),
        country=country_of(group, climate),
        # BDEW curves already hold water heating; a solar water heater still needs a share to reduce.
        hot_water_share=0.0 if bdew and group.solar_water_heater is None else group.hot_water_share,
        spikes_per_day=group.spikes_per_day,
        spike_kw=group.spike_kw,
        noise_sigma=group.noise_sigma,
        noise_phi=group.noise_phi,
        pv_performance_ratio=group.pv.performance_ratio if group.pv is not None else None,
        solar_water_heater=solar_water_heater(group),
        cooling=cooling,
        heating=heating,
        diversity=DiversityParams(
            enabled=d.enabled,
            personal_sigma=d.personal_sigma,
            archetype_shares=(d.home_by_day, d.away_by_day, d.early_bird, d.night_shift),
        ),
    )
