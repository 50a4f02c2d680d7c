"""Meter faults and theft of a group (DOMAIN.md §4): what a meter registers and publishes goes wrong.

Everything here is off by default: a section that is absent, or whose rate is zero, changes nothing.
Rates ``per_meter_per_year`` are mean episodes per meter per year (Poisson per UTC day); ``fraction``
is the share of the group's meters that have the fault for the whole run. See
:mod:`metersim.faults.meter` and :mod:`metersim.faults.theft` for what each does to the stream.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, StrictInt

Rate = Field(0.0, ge=0, le=1000, description="mean episodes per meter per year")
Share = Field(0.0, ge=0, le=1, description="share of the group's meters affected for the whole run [-]")


class _Range(Model):
    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name in ("s_per_day", "registered_fraction"):
            pair = getattr(self, name, None)
            if pair is not None and pair[0] > pair[1]:
                raise ValueError(f"{name}: the low end must not exceed the high end: {list(pair)}")
        return self


class ClockDrift(_Range):
    """A real-time clock that gains or loses time until the head-end sets it again."""

    fraction: Float = Share
    s_per_day: tuple[Float, Float] = Field((-2.0, 2.0), description="drift range, + runs fast [s/day]")
    sync_every_days: StrictInt = Field(7, ge=1, le=366, description="the head-end sets the clock this often [d]")


class Episodes(Model):
    """Episodes that last a while, lognormally long."""

    per_meter_per_year: Float = Rate
    hours_median: Float = Field(12.0, gt=0, le=24 * 7, description="median length [h] (at most 7 days)")
    hours_sigma: Float = Field(0.7, ge=0, le=3, description="lognormal sigma of the length [-]")


class Spike(Model):
    """One interval value multiplied: a Wh/kWh mix-up (x1000) or a wrong CT multiplier."""

    per_meter_per_year: Float = Rate
    factor: Float = Field(1000.0, gt=0, le=1e6, description="multiplier of the interval value [-]")


class Instant(Model):
    """One interval affected."""

    per_meter_per_year: Float = Rate


class Rollover(Model):
    """Registers that start just below the wrap (``10**register_digits`` units), so they roll over in the run."""

    fraction: Float = Share
    headroom_kwh: Float = Field(2.0, gt=0, le=1e6, description="at most this far below the wrap at the start [unit]")


class Replacement(Model):
    """A meter exchanged for a new one with its own serial and starting register."""

    per_meter_per_year: Float = Rate
    initial_kwh_max: Float = Field(100.0, ge=0, le=1e6, description="new register starts in [0, this] [unit]")


class MeterFaultsConfig(Model):
    """Faults of the meters themselves."""

    clock_drift: ClockDrift | None = None
    stuck_register: Episodes | None = Field(None, description="register flat, then catches up")
    spike: Spike | None = None
    rollover: Rollover | None = None
    replacement: Replacement | None = None
    reverse_flow: Episodes | None = Field(None, description="consumption counted as export (2.8.0 grows)")
    negative_interval: Instant | None = Field(None, description="one interval value published negative")


class Thief(_Range):
    """Meters that under-register in some local hours of every day."""

    fraction: Float = Share
    registered_fraction: tuple[Float, Float] = Field(
        (0.3, 0.7), description="share of the consumption still registered, per meter uniform in this range [-]"
    )
    hours: list[StrictInt] = Field(
        default_factory=lambda: list(range(24)),
        description="local hours (0-23) in which the theft is on; an interval counts by its start",
    )

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if not self.hours or any(not 0 <= h <= 23 for h in self.hours):
            raise ValueError(f"hours must be one or more of 0..23, not {self.hours}")
        return self


class CoverOpen(Model):
    """The meter (or terminal) cover removed for a while: events 44/45, registration unchanged."""

    per_meter_per_year: Float = Rate
    minutes: StrictInt = Field(30, ge=1, le=7 * 24 * 60, description="how long it stays open [min]")


class TheftConfig(Model):
    """Electricity theft: registered import below the true import, tamper events."""

    bypass: Thief | None = Field(None, description="a jumper past the meter")
    magnet: Thief | None = Field(None, description="a magnet on the meter: events 42/43")
    earth_return: Thief | None = Field(None, description="load returned through earth: events 52/53")
    cover_open: CoverOpen | None = None
