"""What several models share: the country of a group, its solar water heaters, its grid and supply."""

from __future__ import annotations

import numpy as np

from metersim.calendar import DAY_TYPE_NAMES
from metersim.config import Climate, MeterGroup
from metersim.config.events import ClockWindow, SupplyConfig
from metersim.model.electricity import DAYS_PER_YEAR
from metersim.model.grid import GridLosses
from metersim.model.solar import SolarWaterHeater
from metersim.model.supply import DailyWindow, OutageParams, PickupParams, SheddingCategory, SupplyParams
from metersim.streams import Stream, group_key
from metersim.timebase import SECONDS_PER_DAY


def country_of(group: MeterGroup, climate: Climate | None) -> str | None:
    """The country whose public holidays the group keeps: its own, else its region's."""
    return group.country or (climate.country if climate else None)


def solar_water_heater(group: MeterGroup) -> SolarWaterHeater | None:
    heater = group.solar_water_heater
    return SolarWaterHeater(heater.collector_m2, heater.efficiency) if heater is not None else None


def grid_losses(group: MeterGroup) -> GridLosses:
    assert group.grid is not None
    grid = group.grid
    return GridLosses(grid.transformer_losses_pct, grid.feeder_losses_pct, grid.unmetered_pct)


def mean_interval_milli(group: MeterGroup) -> float:
    """Expected mean consumption of one meter of scale 1 per interval [thousandths of the unit]."""
    return group.annual_amount * 1000 * group.interval_s / (SECONDS_PER_DAY * DAYS_PER_YEAR)


def _daily_window(window: ClockWindow) -> DailyWindow:
    day_types = tuple(DAY_TYPE_NAMES.index(d) for d in window.day_types) if window.day_types else None
    return DailyWindow(window.start_min, window.end_min, tuple(window.months) if window.months else None, day_types)


def supply_params(supply: SupplyConfig, feeder_ids: list[str], seed: int, group: str) -> SupplyParams:
    """The group's supply schedule parameters; ``feeder_ids`` are all of the group's feeders, in order.

    A category given by ``share`` takes that share of the feeders no earlier category took, picked by a
    permutation of the group's whole feeder list (never of a shard's), so the pick is the same in every
    shard. Raises ValueError for a feeder id that the grid does not have.
    """
    order = np.random.default_rng([seed, Stream.SHEDDING, group_key(group)]).permutation(len(feeder_ids)).tolist()
    taken: set[int] = set()
    categories = []
    for category in supply.load_shedding:
        if category.feeders is not None:
            unknown = [f for f in category.feeders if f not in feeder_ids]
            if unknown:
                raise ValueError(f"load_shedding {category.name!r}: no feeder {unknown[0]!r} (e.g. {feeder_ids[0]!r})")
            chosen = [feeder_ids.index(f) for f in category.feeders]
        else:
            assert category.share is not None
            free = [f for f in order if f not in taken]
            chosen = sorted(free[: round(category.share * len(feeder_ids))])
        taken.update(chosen)
        categories.append(SheddingCategory(tuple(chosen), tuple(_daily_window(w) for w in category.windows)))
    outages = supply.outages
    pickup = supply.cold_load_pickup
    return SupplyParams(
        shedding=tuple(categories),
        outages=(
            OutageParams(outages.per, outages.per_year, outages.restore_minutes_median, outages.restore_minutes_sigma)
            if outages is not None
            else None
        ),
        gas_windows=tuple(_daily_window(w) for w in supply.gas_windows) if supply.gas_windows is not None else None,
        cold_load=PickupParams(pickup.factor, pickup.minutes) if pickup is not None else None,
        long_failure_s=supply.long_failure_s,
        last_gasp=supply.last_gasp,
    )
