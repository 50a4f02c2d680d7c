"""The bad days of a group: supply interruptions, communication faults and the concentrators they run through.

Everything here is off by default; a group without these sections publishes exactly what it did
before they existed. Rates are per year or per day of simulated time; probabilities are per reading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, StrictInt
from metersim.config.tariffs import BandWindow
from metersim.timebase import parse_instant

ClockWindow = BandWindow  # "HH:MM" to "HH:MM" in the group's local time, optionally by month and day type


class ConcentratorConfig(Model):
    """Data concentrators (DCUs): meters reach the head-end through them, and share their link."""

    per: Literal["transformer"] | None = Field(None, description="one concentrator per grid transformer")
    meters: StrictInt | None = Field(None, ge=1, le=100_000, description="one concentrator per this many meters")
    id_format: str = Field("{group}-DCU{index:04d}", description="fields: {group}, {index} (from 1), {transformer}")
    upload_every_s: StrictInt | None = Field(
        None,
        ge=1,
        le=86_400,
        description="a DCU collects its meters' readings and uploads them together this often [s], at a phase "
        "of its own; null: each reading leaves at its report slot",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.per is None) == (self.meters is None):
            raise ValueError("give exactly one of `per: transformer` or `meters: N`")
        return self


class LoadSheddingCategory(Model):
    """Feeders switched off in the same local-time blocks every day (a LESCO-style category)."""

    name: str = Field(min_length=1, description="e.g. the category's loss band, '30-40%'")
    share: Float | None = Field(None, ge=0, le=1, description="share of the group's feeders in the category")
    feeders: list[str] | None = Field(None, description="feeder ids in the category (instead of `share`)")
    windows: list[ClockWindow] = Field(min_length=1, description="the blocks off, in the group's local time")

    @model_validator(mode="after")
    def _which_feeders(self) -> Self:
        if (self.share is None) == (self.feeders is None):
            raise ValueError("give exactly one of `share` or `feeders`")
        return self


class RandomOutages(Model):
    """Unplanned interruptions: Poisson arrivals per device, lognormal restoration times."""

    per: Literal["feeder", "transformer"] = "feeder"
    per_year: Float = Field(ge=0, le=10_000, description="mean interruptions per device per year")
    restore_minutes_median: Float = Field(90.0, gt=0, le=30 * 24 * 60, description="median duration [min]")
    restore_minutes_sigma: Float = Field(0.8, ge=0, le=3, description="lognormal sigma of the duration [-]")


class ColdLoadPickup(Model):
    """After supply returns, thermostats and fridges all start at once: load is raised for a while."""

    factor: Float = Field(1.7, ge=1, le=5, description="load multiplier just after restoration [-]")
    minutes: StrictInt = Field(45, ge=1, le=24 * 60, description="how long the raised load lasts [min]")


class SupplyConfig(Model):
    """When a group's meters have no supply (and so consume nothing)."""

    load_shedding: list[LoadSheddingCategory] = Field(default_factory=list)
    outages: RandomOutages | None = None
    gas_windows: list[ClockWindow] | None = Field(
        None, description="gas groups: gas flows only in these windows (e.g. Pakistani winters)"
    )
    cold_load_pickup: ColdLoadPickup | None = None
    last_gasp: bool = Field(True, description="publish power-down and power-up events")
    long_failure_s: StrictInt = Field(180, ge=1, description="an interruption this long counts as long [s]")


class LinkOutage(Model):
    """One communication outage of one path (a meter id, or a concentrator id), for targeted tests."""

    path: str = Field(min_length=1, description="meter id, or concentrator id when the group has concentrators")
    start: str = Field(description="ISO 8601 with offset, e.g. 2026-07-06T08:00:00+05:00")
    hours: Float = Field(gt=0, le=24 * 365)

    _start_s: int = PrivateAttr(0)

    @field_validator("start", mode="before")
    @classmethod
    def _instant(cls, v: Any) -> Any:
        if isinstance(v, datetime):  # YAML reads an unquoted timestamp as a datetime
            v = v.isoformat()
        if isinstance(v, str):
            try:
                parse_instant(v)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return v

    def _derive(self) -> None:
        self._start_s = parse_instant(self.start)

    @property
    def start_s(self) -> int:
        """``start`` [epoch s]."""
        return self._start_s


class Probabilities(Model):
    """Per-reading faults of a communication path."""

    drop: Float = Field(0.0, ge=0, le=1, description="a reading never arrives")
    duplicate: Float = Field(0.0, ge=0, le=1, description="a reading arrives twice")
    delay: Float = Field(0.0, ge=0, le=1, description="a reading arrives late (possibly after later ones)")
    delay_max_s: StrictInt = Field(3600, ge=1, le=7 * 86_400, description="longest delay [s]")


class CommsConfig(Model):
    """Communication faults, per path: per meter, or per concentrator when the group has them."""

    store_depth: StrictInt = Field(96, ge=0, le=100_000, description="readings a path keeps while its link is down")
    outages_per_year: Float = Field(0.0, ge=0, le=10_000, description="random link outages per path per year")
    outage_hours_median: Float = Field(6.0, gt=0, le=24 * 30, description="median random link outage [h]")
    outage_hours_sigma: Float = Field(0.7, ge=0, le=3, description="lognormal sigma of the outage length [-]")
    outages: list[LinkOutage] = Field(default_factory=list, description="scheduled link outages")
    reconnect_jitter_s: StrictInt = Field(
        120, ge=0, le=86_400, description="spread of the backlog flush after a link or the supply returns [s]"
    )
    faults: Probabilities | None = Field(None, description="per-reading faults of every path")
    targets: dict[str, Probabilities] = Field(
        default_factory=dict, description="per meter or concentrator id: probabilities instead of `faults`"
    )
