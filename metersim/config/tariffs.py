"""Tariffs: bands and the windows of the day in which they apply, block (slab) prices, taxes."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, StrictInt
from metersim.timebase import zone

DayType = Literal["weekday", "saturday", "sunday_holiday"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def clock_minutes(text: str) -> int:
    """``"HH:MM"`` (``"24:00"`` allowed) as minutes after midnight."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class BandWindow(Model):
    """A span of the day in which a band applies; ``end`` before ``start`` wraps past midnight."""

    # ``start`` and ``end`` keep the "HH:MM" text; ``start_min`` and ``end_min`` are the same clock
    # times in minutes after midnight (0..1440).

    start: str = Field(description='"HH:MM"')
    end: str = Field(description='"HH:MM" or "24:00"')
    months: list[Annotated[StrictInt, Field(ge=1, le=12)]] | None = Field(None, description="default: all")
    day_types: list[DayType] | None = Field(None, description="default: all")

    _start_min: int = PrivateAttr(0)
    _end_min: int = PrivateAttr(0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _unquoted(cls, v: Any) -> Any:
        """YAML reads an unquoted 18:30 as the base-60 number 1110: it cannot be told from a number."""
        if isinstance(v, int) and not isinstance(v, bool):
            hours, minutes = divmod(v, 60)
            raise ValueError(
                f'write clock times in quotes, e.g. "{hours:02d}:{minutes:02d}" '
                f"(unquoted {hours}:{minutes:02d} is read by YAML as the number {v})"
            )
        return v

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        if not _CLOCK.match(v):
            raise ValueError(f'expected "HH:MM", got {v!r}')
        return v

    def _derive(self) -> None:
        self._start_min = clock_minutes(self.start)
        self._end_min = clock_minutes(self.end)

    @property
    def start_min(self) -> int:
        """``start`` in minutes after midnight [min]."""
        return self._start_min

    @property
    def end_min(self) -> int:
        """``end`` in minutes after midnight [min]; 1440 for ``"24:00"``."""
        return self._end_min


class Band(Model):
    """A tariff band. Bands are tried in order; the last one has no windows and takes the rest."""

    name: str = Field(min_length=1)
    windows: list[BandWindow] = Field(default_factory=list)


class SlabBlock(Model):
    """A consumption block: units up to ``up_to`` (per billing period) cost ``price`` each."""

    up_to: Float | None = Field(None, gt=0, description="upper bound of the block [kWh or m3]; omit for the last")
    price: Float = Field(ge=0, description="per kWh or m3")


class SlabSchedule(Model):
    """Marginal block prices for a billing period, optionally only in some months."""

    months: list[Annotated[StrictInt, Field(ge=1, le=12)]] | None = None
    blocks: list[SlabBlock] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        bounds = [b.up_to for b in self.blocks]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("every block but the last needs `up_to`; the last has none")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(set(finite)):
            raise ValueError("`up_to` must increase from block to block")
        return self


class Tax(Model):
    name: str
    percent: Float = Field(ge=0, le=100)


class Tariff(Model):
    """How a meter's consumption is split into bands and billed."""

    commodity: Literal["electricity", "gas"] = "electricity"
    currency: str = "PKR"
    timezone: str | None = Field(
        None, description="clock of the band windows (e.g. Etc/GMT for Economy 7); default: the meter's zone"
    )
    bands: list[Band] = Field(default_factory=lambda: [Band(name="all")], min_length=1, max_length=8)
    prices: dict[str, Annotated[Float, Field(ge=0)]] = Field(
        default_factory=dict, description="energy price per kWh or m3 for each band"
    )
    slabs: list[SlabSchedule] | None = Field(None, description="block prices on the period total, instead of prices")
    standing_charge_per_day: Float = Field(0, ge=0)
    standing_charge_while_disconnected: bool = Field(
        True, description="false: no standing charge for the time a meter's relay (or valve) is open by command"
    )
    taxes: list[Tax] = Field(default_factory=list)
    net_metering: bool = Field(
        False, description="true: export nets against import per band and period; unused credit carries forward"
    )
    export_price: Float | None = Field(
        None, ge=0, description="per kWh exported: a credit line on the bill (a buyback), instead of net metering"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            zone(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        if self.bands[-1].windows:
            raise ValueError(f"the last band ({names[-1]!r}) takes the rest of the time and must have no windows")
        if any(not b.windows for b in self.bands[:-1]):
            raise ValueError("only the last band may have no windows")
        if self.slabs is None and set(self.prices) != set(names):
            raise ValueError(f"`prices` must give one price per band {names}, or use `slabs`")
        if self.slabs is not None and self.prices:
            raise ValueError("give `prices` or `slabs`, not both")
        if self.slabs is not None:
            covered = {m for s in self.slabs for m in (s.months or range(1, 13))}
            if len(covered) < 12:
                missing = sorted(set(range(1, 13)) - covered)
                raise ValueError(f"`slabs` must cover every month; none applies to month(s) {missing}")
        if self.net_metering and self.export_price is not None:
            raise ValueError("give `net_metering: true` or an `export_price`, not both")
        if self.commodity == "gas" and (self.net_metering or self.export_price is not None):
            raise ValueError("`net_metering` and `export_price` apply to electricity tariffs only")
        return self
