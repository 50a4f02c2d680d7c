"""Meter groups and their parts: rooftop PV, solar water heaters, instantaneous values, the grid."""

from __future__ import annotations

import re
from string import Formatter
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, NotBool, Seconds, StrictInt, format_fields, topic_unsafe
from metersim.config.events import CommsConfig, ConcentratorConfig, SupplyConfig
from metersim.config.faults import MeterFaultsConfig, TheftConfig
from metersim.config.gas import GasConfig
from metersim.config.ids import IdPattern, IdSpace
from metersim.config.pv import PvConfig
from metersim.timebase import SECONDS_PER_DAY, zone

ID_FIELDS = ("index", "group")
#: the widest padding an ``id_format`` field may ask for
MAX_ID_WIDTH = 200
_WIDTH = re.compile(r"(\d+)")

#: the weather region a group gets when it names none, by its time zone
REGION_BY_TIMEZONE = {"Asia/Karachi": "lahore", "Asia/Tashkent": "tashkent", "Europe/Amsterdam": "amsterdam"}


class SolarWaterHeaterConfig(Model):
    """Solar water heaters on a fraction of homes: they cover part of the hot-water energy."""

    fraction: Float = Field(ge=0, le=1)
    collector_m2: Float = Field(3.0, gt=0, le=1e6, description="collector area [m2]")
    efficiency: Float = Field(0.5, gt=0, le=1, description="collector efficiency")


class CoolingConfig(Model):
    """Air conditioning and fans: a thermostat duty cycle on the region's temperature above a set-point."""

    ownership: Float | None = Field(
        None,
        ge=0,
        le=1,
        description="share of meters with air conditioning; default by profile: household 0.5, commercial 0.7, "
        "agricultural and bdew-* 0 (BDEW profiles already hold their average behaviour)",
    )
    energy_share: Float = Field(0.5, ge=0, lt=1, description="share of an owner's annual energy used for cooling")
    max_kw: Float = Field(3.0, gt=0, le=1e6, description="air-conditioner power at most, for a meter of scale 1 [kW]")
    setpoint_c: Float = Field(24.0, ge=-50, le=60, description="mean set-point [degC]")
    setpoint_sd_c: Float = Field(2.0, ge=0, le=20, description="spread of the per-meter set-points [K]")
    span_k: Float = Field(14.0, gt=0, le=100, description="degrees above the set-point for full duty [K]")


class HeatingConfig(Model):
    """Electric space heating (heat pumps, resistive heaters) below a set-point; off unless configured."""

    ownership: Float = Field(0.0, ge=0, le=1, description="share of meters with electric heating")
    energy_share: Float = Field(0.5, ge=0, lt=1, description="share of an owner's annual energy used for heating")
    max_kw: Float = Field(3.0, gt=0, le=1e6, description="heater power at most, for a meter of scale 1 [kW]")
    setpoint_c: Float = Field(16.0, ge=-50, le=60, description="mean outdoor temperature below which it heats [degC]")
    setpoint_sd_c: Float = Field(1.5, ge=0, le=20, description="spread of the per-meter set-points [K]")
    span_k: Float = Field(15.0, gt=0, le=100, description="degrees below the set-point for full duty [K]")


class DiversityConfig(Model):
    """Per-meter behaviour: occupancy archetypes, a personal daily rhythm and appliance events."""

    enabled: bool = Field(True, description="false: every meter follows the profile's shape, without events")
    personal_sigma: Float = Field(0.3, ge=0, le=1, description="strength of each home's own daily rhythm")
    home_by_day: Float = Field(0.30, ge=0, le=1, description="share of homes occupied by day")
    away_by_day: Float = Field(0.40, ge=0, le=1, description="share of homes empty by day (workers)")
    early_bird: Float = Field(0.20, ge=0, le=1, description="share of early-rising homes")
    night_shift: Float = Field(0.10, ge=0, le=1, description="share of night-shift homes")

    @model_validator(mode="after")
    def _shares(self) -> Self:
        if self.home_by_day + self.away_by_day + self.early_bird + self.night_shift <= 0:
            raise ValueError("the occupancy shares must not all be 0")
        return self


class InstantaneousConfig(Model):
    """Per-phase voltage, current, power factor and frequency on each electricity reading."""

    phases: Annotated[Literal[1, 3], NotBool] = 1
    nominal_v: Float = Field(230, gt=0, le=1e6)
    frequency_hz: Float = Field(50, gt=0, le=1000)


class HardwareConfig(Model):
    """What the group's meters are: shown in payloads (``hardware``), MQTT 5 user properties, Home Assistant
    devices, and topic templates (``{manufacturer}``, ``{model}``, ``{firmware}``)."""

    manufacturer: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    firmware: str = Field(min_length=1, max_length=64, description="firmware version, e.g. 2.4.1")

    @field_validator("manufacturer", "model", "firmware")
    @classmethod
    def _printable(cls, v: str) -> str:
        if not v.isprintable():
            raise ValueError(f"must be printable text, got {v!r}")
        bad = topic_unsafe(v)
        if bad:
            raise ValueError(f"must not contain {', '.join(bad)} (it may be used in topics)")
        return v


class GridConfig(Model):
    """Place the group's meters in region -> substation -> feeder -> transformer -> meter."""

    substations: StrictInt = Field(1, ge=1)
    feeders_per_substation: StrictInt = Field(2, ge=1)
    transformers_per_feeder: StrictInt = Field(4, ge=1)
    feeder_meters: bool = Field(True, description="publish a grid-side meter per feeder")
    transformer_meters: bool = Field(True, description="publish a grid-side meter per transformer")
    feeder_losses_pct: Float = Field(6.0, ge=0, le=50, description="technical losses at mean load [% of load]")
    transformer_losses_pct: Float = Field(2.5, ge=0, le=50, description="technical losses at mean load [%]")
    unmetered_pct: Float = Field(0.0, ge=0, le=500, description="unmetered consumption [% of metered]")


class MeterGroup(Model):
    """Meters that share a commodity, time zone, interval and load model."""

    name: str = Field(min_length=1)
    commodity: Literal["electricity", "gas"]
    count: StrictInt = Field(ge=1, le=50_000_000)
    id_format: str = Field("{group}-{index:06d}", description="fields: {index}, {group}")
    first_index: StrictInt = Field(1, ge=0, description="`{index}` of the first meter")
    timezone: str = "UTC"
    interval_s: Seconds = 900
    jitter_s: StrictInt | None = Field(
        None,
        ge=0,
        description="reports spread over [0, jitter_s) after the interval end; default min(60, interval_s/2)",
    )
    annual_kwh: Float | None = Field(None, gt=0, le=1e9, description="electricity: mean annual import per meter [kWh]")
    annual_m3: Float | None = Field(None, gt=0, le=1e9, description="gas: mean annual volume per meter [m3]")
    profile: Literal["household", "commercial", "agricultural", "bdew-h0", "bdew-g0", "bdew-l0"] = Field(
        "household",
        description="daily shapes: household, commercial, agricultural (South Asia), bdew-h0/g0/l0 (BDEW tables)",
    )
    region: str | None = Field(
        None,
        description="weather region (see `regions`); needed for gas, PV and solar water heaters; default: "
        "lahore for Asia/Karachi, tashkent for Asia/Tashkent, amsterdam for Europe/Amsterdam, else none",
    )
    country: str | None = Field(None, description="ISO 3166 code for public holidays; default: the region's")
    monthly_factors: list[Annotated[Float, Field(gt=0, le=1e6)]] | None = Field(
        None, min_length=12, max_length=12, description="electricity seasonality Jan..Dec; default: the region's"
    )
    tariff: str | None = Field(None, description="name in `tariffs`; gives band registers and bills")
    phase_shift_s: StrictInt = Field(
        3600, ge=0, le=21600, description="per-meter daily-curve shift, uniform in +-this [s]"
    )
    noise_phi: Float = Field(0.85, ge=0, lt=1, description="interval-to-interval persistence of the AR(1) noise")
    spikes_per_day: Float = Field(
        4.0, ge=0, le=1440, description="appliance events (kettle, hob, washing, pump) per meter per day"
    )
    spike_kw: Float = Field(2.0, ge=0, le=1e6, description="scales the events' powers; 2.0 = as tabled [kW]")
    cooling: CoolingConfig = Field(
        default_factory=lambda: CoolingConfig.model_validate({}), description="electricity: air conditioning"
    )
    heating: HeatingConfig = Field(
        default_factory=lambda: HeatingConfig.model_validate({}), description="electricity: electric heating"
    )
    diversity: DiversityConfig = Field(
        default_factory=lambda: DiversityConfig.model_validate({}), description="electricity: per-meter behaviour"
    )
    hot_water_share: Float = Field(
        0.15,
        ge=0,
        lt=1,
        description="share of consumption that heats water (gas: with cooking_share, the split of SigLinDe's "
        "warm-water base)",
    )
    cooking_share: Float = Field(
        0.15, ge=0, lt=1, description="gas: share of the warm-water base used for cooking (meal-time peaks)"
    )
    converter_fraction: Float = Field(0.0, ge=0, le=1, description="gas: share of meters with a volume converter")
    pv: PvConfig | None = None
    solar_water_heater: SolarWaterHeaterConfig | None = None
    instantaneous: InstantaneousConfig | None = None
    grid: GridConfig | None = None
    hardware: HardwareConfig | None = Field(None, description="manufacturer, model and firmware of the meters")
    gas_group: str | None = Field(
        None,
        description="electricity groups: the gas group whose meter k is in the home of this group's meter k "
        "(a DSMR P1 telegram carries both)",
    )
    concentrator: ConcentratorConfig | None = Field(None, description="meters reach the head-end through DCUs")
    supply: SupplyConfig | None = Field(None, description="load shedding, outages, gas supply windows")
    gas: GasConfig | None = Field(
        None, description="gas groups: SigLinDe building class (EFH/MFH), share heating with gas, heating limit"
    )
    comms: CommsConfig | None = Field(None, description="link outages with store-and-forward, drops, duplicates")
    faults: MeterFaultsConfig | None = Field(None, description="clock drift, stuck registers, spikes, rollover, ...")
    theft: TheftConfig | None = Field(None, description="bypass, magnet and earth-return theft, cover opening")
    register_digits: StrictInt = Field(6, ge=3, le=9, description="integer digits of the registers; they roll over")
    scale_sigma: Float = Field(0.3, ge=0, le=2, description="lognormal sigma of the per-meter annual scale")
    noise_sigma: Float = Field(0.25, ge=0, le=2, description="lognormal sigma of the per-interval noise")
    initial_register_max: Float = Field(
        5_000, ge=0, le=1e9, description="initial registers are uniform in [0, this) [kWh or m3]"
    )

    _id_pattern: IdPattern | None = PrivateAttr(None)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        zone(v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_region(cls, data: Any) -> Any:
        """A group that does not mention ``region`` gets its time zone's, where one is built in."""
        if isinstance(data, dict) and "region" not in data:
            region = REGION_BY_TIMEZONE.get(str(data.get("timezone")))
            if region is not None:
                return {**data, "region": region}
        return data

    @field_validator("interval_s")
    @classmethod
    def _interval(cls, v: int) -> int:
        if SECONDS_PER_DAY % v:
            raise ValueError(f"must divide 86400 (a whole number of intervals per day), got {v}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        bad = topic_unsafe(v)
        if bad:
            raise ValueError(
                f"must not contain {' '.join(bad)}: the name is part of MQTT topics and grid meter ids "
                f"(e.g. {v}-SS01-F01-T001)"
            )
        return v

    @field_validator("id_format")
    @classmethod
    def _id_format(cls, v: str) -> str:
        try:
            items = list(Formatter().parse(v))
        except ValueError as exc:
            raise ValueError(f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
        for _, field, spec, _conversion in items:
            if field is None:
                continue
            if field == "" or field.isdigit():
                raise ValueError("positional fields ({} or {0}) are not allowed; use {index} and {group}")
            if not field.isidentifier():
                raise ValueError(f"{{{field}}}: attribute or index access is not allowed; use the plain field name")
            if spec and "{" in spec:
                raise ValueError(f"{{{field}:{spec}}}: nested fields in a format spec are not allowed")
            widths = [int(w) for w in _WIDTH.findall(spec or "")]
            if any(w > MAX_ID_WIDTH for w in widths):
                raise ValueError(f"{{{field}:{spec}}}: padding or precision over {MAX_ID_WIDTH} is not allowed")
        unknown = sorted(format_fields(v) - set(ID_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {{index}}, {{group}}")
        if "{index" not in v:
            raise ValueError("must contain {index} so that ids are unique")
        return v

    def _cross_events(self) -> None:
        supply, gas = self.supply, self.commodity == "gas"
        if supply is not None and (supply.load_shedding or supply.outages) and self.grid is None:
            raise ValueError("`supply.load_shedding` and `supply.outages` switch feeders off: they need a `grid`")
        if supply is not None and supply.gas_windows is not None and not gas:
            raise ValueError("`supply.gas_windows` is for gas groups")
        if supply is not None and supply.cold_load_pickup is not None and gas:
            raise ValueError("`supply.cold_load_pickup` is for electricity groups")
        if self.concentrator is not None and self.concentrator.per == "transformer" and self.grid is None:
            raise ValueError("`concentrator: {per: transformer}` needs a `grid`")

    def _derive(self) -> None:
        self._id_pattern = IdPattern.parse(self.id_format, self.name)

    @model_validator(mode="after")
    def _cross(self) -> Self:
        if self.commodity == "electricity" and self.annual_kwh is None:
            raise ValueError("electricity groups need `annual_kwh`")
        if self.commodity == "gas" and self.annual_m3 is None:
            raise ValueError("gas groups need `annual_m3`")
        if self.commodity == "electricity" and self.annual_m3 is not None:
            raise ValueError("`annual_m3` is for gas groups; use `annual_kwh`")
        if self.commodity == "gas" and self.annual_kwh is not None:
            raise ValueError("`annual_kwh` is for electricity groups; use `annual_m3`")
        if self.commodity == "gas" and self.region is None:
            raise ValueError(f"gas groups need a weather `region` (none is built in for {self.timezone})")
        if (self.pv or self.solar_water_heater) and self.region is None:
            raise ValueError("PV and solar water heaters need a weather `region`")
        if self.commodity == "gas" and (self.pv or self.instantaneous or self.grid):
            raise ValueError("`pv`, `instantaneous` and `grid` are for electricity groups")
        if self.commodity == "electricity" and self.gas is not None:
            raise ValueError("`gas` is for gas groups")
        if self.commodity == "gas" and self.hot_water_share + self.cooking_share >= 1:
            raise ValueError("`hot_water_share` + `cooking_share` must leave a share for heating")
        self._cross_events()
        if self.jitter_s is not None and self.jitter_s >= self.interval_s:
            raise ValueError(f"`jitter_s` ({self.jitter_s}) must be less than `interval_s` ({self.interval_s})")
        try:
            self.id_format.format(index=self.first_index, group=self.name)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            raise ValueError(f"`id_format` cannot be formatted: {exc}") from None
        return self

    @property
    def effective_jitter_s(self) -> int:
        """Width of the per-meter report-offset window [s]."""
        return self.jitter_s if self.jitter_s is not None else min(60, self.interval_s // 2)

    @property
    def annual_amount(self) -> float:
        """Mean annual consumption per meter [kWh for electricity, m3 for gas]."""
        value = self.annual_kwh if self.commodity == "electricity" else self.annual_m3
        assert value is not None
        return value

    @property
    def id_pattern(self) -> IdPattern | None:
        """``id_format`` as ``prefix + format(index, spec) + suffix`` where that is proven; else None."""
        return self._id_pattern

    def meter_id(self, index: int) -> str:
        """The id of the meter whose ``{index}`` is ``index`` (the first meter has ``first_index``)."""
        if self._id_pattern is not None:
            return self._id_pattern.format(index)
        return self.id_format.format(index=index, group=self.name)

    def meter_ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The ids of the meters at positions ``start .. stop - 1`` in the group (default: all of them)."""
        stop = self.count if stop is None else stop
        if not 0 <= start <= stop <= self.count:
            raise ValueError(f"{self.name}: positions {start}..{stop} are not within its {self.count} meters")
        return list(IdSpace.of(self).ids(start, stop))
