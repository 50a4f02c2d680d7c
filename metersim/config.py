"""The scenario file: pydantic models, loading, ``--set`` overrides and error paths.

Everything is validated once, at load; afterwards the rest of metersim trusts the types. Units are in
the field names (``interval_s``, ``annual_kwh``). Every problem is reported at once, each with its
dotted path, e.g. ``fleet[2].interval_s: must divide 86400``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from metersim.errors import ConfigError
from metersim.timebase import SECONDS_PER_DAY, parse_duration, parse_instant, zone

_FORBIDDEN_IN_TOPIC_LEVEL = re.compile(r"[+#/\x00]")
_FORMAT_FIELD = re.compile(r"\{(\w+)")
ID_FIELDS = ("index", "group")
TOPIC_FIELDS = ("meter_id", "commodity", "group", "region", "substation", "feeder", "transformer")
GRID_FIELDS = ("substation", "feeder", "transformer")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[int, Field(ge=1)]


class Simulation(_Model):
    """When the run happens, how fast, and from which seed."""

    start: str = Field("now", description='ISO 8601 with a UTC offset, or "now"')
    duration: str | int | None = Field(None, description="e.g. 90s, 15m, 2h, 1d; or give `end`")
    end: str | None = Field(None, description="ISO 8601 with a UTC offset; instead of `duration`")
    seed: int = Field(0, ge=0, description="root of every random stream")
    speed: Literal["max"] | Annotated[float, Field(gt=0)] = Field(
        "max", description="max = as fast as the sinks accept; a number = simulated s per wall s"
    )

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        if v != "now":
            parse_instant(v)
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            parse_duration(v)
        return v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str | None) -> str | None:
        if v is not None:
            parse_instant(v)
        return v

    @model_validator(mode="after")
    def _one_of_duration_or_end(self) -> Simulation:
        if (self.duration is None) == (self.end is None):
            raise ValueError("give exactly one of `duration` and `end`")
        if self.end is not None:
            if self.start == "now":
                raise ValueError('`end` needs a fixed `start`, not "now"; use `duration`')
            if parse_instant(self.end) <= parse_instant(self.start):
                raise ValueError("`end` must be after `start`")
        return self

    @property
    def duration_s(self) -> int:
        """Length of the run [s]."""
        if self.duration is not None:
            return parse_duration(self.duration)
        assert self.end is not None
        return parse_instant(self.end) - parse_instant(self.start)


# --- realism: climate regions, tariffs, PV, solar water heaters, grid ------------------------------

DayType = Literal["weekday", "saturday", "sunday_holiday"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def clock_minutes(text: str) -> int:
    """``"HH:MM"`` (``"24:00"`` allowed) as minutes after midnight."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Climate(_Model):
    """A weather region: the parameters of its synthetic temperature and irradiance."""

    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    country: str | None = Field(None, description="ISO 3166 alpha-2 code, for public holidays")
    temp_mean_c: float = Field(description="annual mean daily temperature [degC]")
    temp_amplitude_c: float = Field(ge=0, description="half the warmest-minus-coldest daily mean [degC]")
    coldest_day: int = Field(15, ge=1, le=366, description="day of year of the coldest climatological day")
    diurnal_range_c: float = Field(10, ge=0, description="daily max minus daily min [degC]")
    temp_noise_c: float = Field(2.0, ge=0, description="sd of the AR(1) daily anomaly [degC]")
    temp_noise_phi: float = Field(default=0.7, ge=0, lt=1, description="day-to-day persistence of the anomaly")
    clearness_mean: float = Field(0.7, gt=0, lt=1, description="mean daily clearness (fraction of clear-sky)")
    clearness_sd: float = Field(0.12, ge=0, lt=0.5)
    monthly_load_factors: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, min_length=12, max_length=12, description="electricity seasonality Jan..Dec (normalised to mean 1)"
    )


DEFAULT_REGIONS: dict[str, Climate] = {
    # Summer-peaking electricity (fans, air conditioning), mild winters.
    "lahore": Climate(
        latitude_deg=31.55, longitude_deg=74.34, country="PK", temp_mean_c=24.5, temp_amplitude_c=10.5,
        coldest_day=12, diurnal_range_c=12, temp_noise_c=1.8, clearness_mean=0.68, clearness_sd=0.14,
        monthly_load_factors=[0.62, 0.62, 0.75, 0.95, 1.25, 1.42, 1.45, 1.40, 1.27, 0.98, 0.70, 0.60],
    ),
    "karachi": Climate(
        latitude_deg=24.86, longitude_deg=67.0, country="PK", temp_mean_c=26.5, temp_amplitude_c=5.5,
        coldest_day=15, diurnal_range_c=8, temp_noise_c=1.2, clearness_mean=0.70, clearness_sd=0.12,
        monthly_load_factors=[0.75, 0.78, 0.90, 1.05, 1.20, 1.25, 1.18, 1.12, 1.12, 1.05, 0.85, 0.75],
    ),
    # Cold winters: gas heating dominates; electricity slightly winter-peaking.
    "tashkent": Climate(
        latitude_deg=41.3, longitude_deg=69.24, country="UZ", temp_mean_c=14.8, temp_amplitude_c=13.5,
        coldest_day=12, diurnal_range_c=12, temp_noise_c=2.5, clearness_mean=0.66, clearness_sd=0.16,
        monthly_load_factors=[1.22, 1.15, 1.00, 0.88, 0.85, 0.92, 1.00, 0.98, 0.85, 0.90, 1.05, 1.20],
    ),
    # Central Europe: winter-peaking electricity.
    "amsterdam": Climate(
        latitude_deg=52.37, longitude_deg=4.9, country="NL", temp_mean_c=10.5, temp_amplitude_c=7.0,
        coldest_day=20, diurnal_range_c=7, temp_noise_c=2.5, clearness_mean=0.50, clearness_sd=0.18,
        monthly_load_factors=[1.20, 1.12, 1.05, 0.95, 0.88, 0.84, 0.84, 0.86, 0.92, 1.02, 1.12, 1.20],
    ),
}  # fmt: skip


class BandWindow(_Model):
    """A span of the day in which a band applies; ``end`` before ``start`` wraps past midnight."""

    start: str = Field(description='"HH:MM"')
    end: str = Field(description='"HH:MM" or "24:00"')
    months: list[Annotated[int, Field(ge=1, le=12)]] | None = Field(None, description="default: all")
    day_types: list[DayType] | None = Field(None, description="default: all")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        if not _CLOCK.match(v):
            raise ValueError(f'expected "HH:MM", got {v!r}')
        return v


class Band(_Model):
    """A tariff band. Bands are tried in order; the last one has no windows and takes the rest."""

    name: str = Field(min_length=1)
    windows: list[BandWindow] = Field(default_factory=list)


class SlabBlock(_Model):
    """A consumption block: units up to ``up_to`` (per billing period) cost ``price`` each."""

    up_to: float | None = Field(None, gt=0, description="upper bound of the block [kWh or m3]; omit for the last")
    price: float = Field(ge=0, description="per kWh or m3")


class SlabSchedule(_Model):
    """Marginal block prices for a billing period, optionally only in some months."""

    months: list[Annotated[int, Field(ge=1, le=12)]] | None = None
    blocks: list[SlabBlock] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> SlabSchedule:
        bounds = [b.up_to for b in self.blocks]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("every block but the last needs `up_to`; the last has none")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(set(finite)):
            raise ValueError("`up_to` must increase from block to block")
        return self


class Tax(_Model):
    name: str
    percent: float = Field(ge=0, le=100)


class Tariff(_Model):
    """How a meter's consumption is split into bands and billed."""

    commodity: Literal["electricity", "gas"] = "electricity"
    currency: str = "PKR"
    timezone: str | None = Field(
        None, description="clock of the band windows (e.g. Etc/GMT for Economy 7); default: the meter's zone"
    )
    bands: list[Band] = Field(default_factory=lambda: [Band(name="all")], min_length=1, max_length=8)
    prices: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="energy price per kWh or m3 for each band"
    )
    slabs: list[SlabSchedule] | None = Field(None, description="block prices on the period total, instead of prices")
    standing_charge_per_day: float = Field(0, ge=0)
    taxes: list[Tax] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            zone(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Tariff:
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
        return self


class PvConfig(_Model):
    """Rooftop PV on a fraction of the group's meters."""

    fraction: float = Field(ge=0, le=1, description="share of meters with PV")
    kwp_mean: float = Field(4.0, gt=0, description="mean installed peak power [kWp]")
    kwp_sd: float = Field(1.5, ge=0, description="sd of installed peak power [kWp]")
    performance_ratio: float = Field(0.8, gt=0, le=1, description="AC output per kWp per kW/m2 of irradiance")


class SolarWaterHeaterConfig(_Model):
    """Solar water heaters on a fraction of homes: they cover part of the hot-water energy."""

    fraction: float = Field(ge=0, le=1)
    collector_m2: float = Field(3.0, gt=0, description="collector area [m2]")
    efficiency: float = Field(0.5, gt=0, le=1, description="collector efficiency")


class InstantaneousConfig(_Model):
    """Per-phase voltage, current, power factor and frequency on each electricity reading."""

    phases: Literal[1, 3] = 1
    nominal_v: float = Field(230, gt=0)
    frequency_hz: float = Field(50, gt=0)


class GridConfig(_Model):
    """Place the group's meters in region -> substation -> feeder -> transformer -> meter."""

    substations: int = Field(1, ge=1)
    feeders_per_substation: int = Field(2, ge=1)
    transformers_per_feeder: int = Field(4, ge=1)
    feeder_meters: bool = Field(True, description="publish a grid-side meter per feeder")
    transformer_meters: bool = Field(True, description="publish a grid-side meter per transformer")
    feeder_losses_pct: float = Field(6.0, ge=0, le=50, description="technical losses at mean load [% of load]")
    transformer_losses_pct: float = Field(2.5, ge=0, le=50, description="technical losses at mean load [%]")
    unmetered_pct: float = Field(0.0, ge=0, le=500, description="unmetered consumption [% of metered]")


class TruthConfig(_Model):
    """The ground-truth ledger: what really happened, per meter per interval."""

    path: str = Field(description="file to write; .csv or .parquet")
    format: Literal["csv", "parquet"] | None = Field(None, description="default: from the file suffix")
    weather_path: str | None = Field(None, description="also write hourly weather per region here (CSV)")

    @property
    def resolved_format(self) -> str:
        if self.format is not None:
            return self.format
        return "parquet" if self.path.endswith(".parquet") else "csv"


#: the weather region a group gets when it names none, by its time zone
REGION_BY_TIMEZONE = {"Asia/Karachi": "lahore", "Asia/Tashkent": "tashkent", "Europe/Amsterdam": "amsterdam"}


class MeterGroup(_Model):
    """Meters that share a commodity, time zone, interval and load model."""

    name: str = Field(min_length=1)
    commodity: Literal["electricity", "gas"]
    count: int = Field(ge=1, le=50_000_000)
    id_format: str = Field("{group}-{index:06d}", description="fields: {index}, {group}")
    first_index: int = Field(1, ge=0, description="`{index}` of the first meter")
    timezone: str = "UTC"
    interval_s: Seconds = 900
    jitter_s: int | None = Field(
        None,
        ge=0,
        description="reports spread over [0, jitter_s) after the interval end; default min(60, interval_s/2)",
    )
    annual_kwh: float | None = Field(None, gt=0, description="electricity: mean annual import per meter [kWh]")
    annual_m3: float | None = Field(None, gt=0, description="gas: mean annual volume per meter [m3]")
    profile: Literal["household", "commercial", "agricultural"] = "household"
    region: str | None = Field(
        None,
        description="weather region (see `regions`); needed for gas, PV and solar water heaters; default: "
        "lahore for Asia/Karachi, tashkent for Asia/Tashkent, amsterdam for Europe/Amsterdam, else none",
    )
    country: str | None = Field(None, description="ISO 3166 code for public holidays; default: the region's")
    monthly_factors: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, min_length=12, max_length=12, description="electricity seasonality Jan..Dec; default: the region's"
    )
    tariff: str | None = Field(None, description="name in `tariffs`; gives band registers and bills")
    phase_shift_s: int = Field(3600, ge=0, le=21600, description="per-meter daily-curve shift, uniform in +-this [s]")
    noise_phi: float = Field(0.85, ge=0, lt=1, description="interval-to-interval persistence of the AR(1) noise")
    spikes_per_day: float = Field(1.0, ge=0, description="appliance spikes (kettle, pump) per meter per day")
    spike_kw: float = Field(2.5, ge=0, description="mean power of a spike [kW]")
    hot_water_share: float = Field(0.15, ge=0, lt=1, description="share of consumption that heats water")
    cooking_share: float = Field(0.15, ge=0, lt=1, description="gas: share used for cooking (meal-time peaks)")
    converter_fraction: float = Field(0.0, ge=0, le=1, description="gas: share of meters with a volume converter")
    pv: PvConfig | None = None
    solar_water_heater: SolarWaterHeaterConfig | None = None
    instantaneous: InstantaneousConfig | None = None
    grid: GridConfig | None = None
    register_digits: int = Field(6, ge=3, le=9, description="integer digits of the registers; they roll over")
    scale_sigma: float = Field(0.3, ge=0, le=2, description="lognormal sigma of the per-meter annual scale")
    noise_sigma: float = Field(0.25, ge=0, le=2, description="lognormal sigma of the per-interval noise")
    initial_register_max: float = Field(
        5_000, ge=0, description="initial registers are uniform in [0, this) [kWh or m3]"
    )

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

    @field_validator("id_format")
    @classmethod
    def _id_format(cls, v: str) -> str:
        unknown = sorted(set(_FORMAT_FIELD.findall(v)) - set(ID_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {{index}}, {{group}}")
        if "{index" not in v:
            raise ValueError("must contain {index} so that ids are unique")
        return v

    @model_validator(mode="after")
    def _cross(self) -> MeterGroup:
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
        if self.commodity == "gas" and self.hot_water_share + self.cooking_share >= 1:
            raise ValueError("`hot_water_share` + `cooking_share` must leave a share for heating")
        if self.jitter_s is not None and self.jitter_s >= self.interval_s:
            raise ValueError(f"`jitter_s` ({self.jitter_s}) must be less than `interval_s` ({self.interval_s})")
        try:
            self.meter_id(self.first_index)
        except (ValueError, KeyError, IndexError) as exc:
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

    def meter_id(self, index: int) -> str:
        return self.id_format.format(index=index, group=self.name)

    def meter_ids(self) -> list[str]:
        fmt, name = self.id_format.format, self.name
        return [fmt(index=i, group=name) for i in range(self.first_index, self.first_index + self.count)]


class TlsConfig(_Model):
    """TLS for ``mqtts://``. Verification is on unless ``insecure`` is set."""

    ca_file: str | None = Field(None, description="PEM CA bundle; default: the system store")
    cert_file: str | None = Field(None, description="PEM client certificate")
    key_file: str | None = Field(None, description="PEM client key")
    insecure: bool = Field(False, description="skip certificate and hostname verification (testing only)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both `cert_file` and `key_file`, or neither")
        return self


class MqttOutput(_Model):
    """Publish each reading as one MQTT message."""

    type: Literal["mqtt"]
    url: str = Field("mqtt://127.0.0.1:1883", description='mqtt://host[:port], mqtts://host[:port], or "embedded"')
    embedded_port: int | None = Field(None, ge=0, le=65535, description='port for url "embedded"; default: a free one')
    topic: str = "metersim/{commodity}/{meter_id}/reading"
    qos: Literal[0, 1, 2] = 1
    retain: bool = False
    client_id: str | None = Field(None, description="default: metersim-<random>")
    keepalive_s: Seconds = 60
    username_env: str | None = Field(None, description="name of the environment variable holding the username")
    password_env: str | None = Field(None, description="name of the environment variable holding the password")
    tls: TlsConfig | None = None
    max_inflight: int = Field(
        1000, ge=1, le=65_000, description="QoS 1 messages awaiting acknowledgement (QoS 2 is capped at 20)"
    )
    buffer_messages: int = Field(
        10_000, ge=1, le=65_000, description="bounded buffer (in messages) while the broker is away"
    )
    max_rate_msg_s: float | None = Field(
        5_000,
        gt=0,
        description="publish at most this many messages/s; null = as fast as the broker accepts. The default "
        "protects subscribers: Mosquitto silently drops QoS 1 messages for a client more than "
        "max_queued_messages (1000) behind, and a Python paho subscriber sharing two cores falls behind "
        "well below 10,000 messages/s",
    )
    connect_timeout_s: float = Field(10, gt=0)
    reconnect_max_s: float = Field(30, gt=0, description="longest pause between reconnect attempts")
    give_up_s: float = Field(300, gt=0, description="fail the run after the broker has been away this long")
    drain_timeout_s: float = Field(60, gt=0, description="how long close waits for outstanding acknowledgements")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == "embedded":
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f'expected mqtt://host[:port], mqtts://host[:port] or "embedded", got {v!r}')
        parts.port  # noqa: B018 - raises ValueError on a bad port
        return v

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        unknown = sorted(set(_FORMAT_FIELD.findall(v)) - set(TOPIC_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {', '.join('{' + f + '}' for f in TOPIC_FIELDS)}")
        if "+" in v or "#" in v or "\x00" in v:
            raise ValueError("a topic to publish to cannot contain + or # wildcards")
        return v

    @model_validator(mode="after")
    def _env(self) -> MqttOutput:
        for field in ("username_env", "password_env"):
            name = getattr(self, field)
            if name is not None and name not in os.environ:
                raise ValueError(f"`{field}` names ${name}, which is not set in the environment")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def uses_tls(self) -> bool:
        return self.url.startswith("mqtts://") or self.tls is not None


class FileOutput(_Model):
    """Append readings to a JSON Lines file (one payload per line)."""

    type: Literal["file"]
    path: str


class StdoutOutput(_Model):
    """Write readings to standard output, one JSON payload per line."""

    type: Literal["stdout"]


class DiscardOutput(_Model):
    """Count readings and drop them: for benchmarks."""

    type: Literal["discard"]


Output = Annotated[MqttOutput | FileOutput | StdoutOutput | DiscardOutput, Field(discriminator="type")]


class Scenario(_Model):
    """A whole scenario file."""

    simulation: Simulation
    regions: dict[str, Climate] = Field(default_factory=dict, description="added to (or replacing) the defaults")
    tariffs: dict[str, Tariff] = Field(default_factory=dict)
    fleet: list[MeterGroup] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)
    truth: TruthConfig | None = None

    @model_validator(mode="after")
    def _fleet(self) -> Scenario:
        problems: list[str] = []
        names = [g.name for g in self.fleet]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append(f"fleet[{i}].name: duplicate group name {name!r}")
        duration_s = self.simulation.duration_s
        for i, group in enumerate(self.fleet):
            if duration_s % group.interval_s:
                problems.append(
                    f"simulation.duration: {duration_s} s is not a whole number of fleet[{i}].interval_s "
                    f"({group.interval_s} s)"
                )
        for i, group in enumerate(self.fleet):
            if group.region is not None and group.region not in self.all_regions:
                problems.append(
                    f"fleet[{i}].region: unknown region {group.region!r}; known: {sorted(self.all_regions)}"
                )
            if group.tariff is not None:
                tariff = self.tariffs.get(group.tariff)
                if tariff is None:
                    problems.append(
                        f"fleet[{i}].tariff: unknown tariff {group.tariff!r}; known: {sorted(self.tariffs)}"
                    )
                elif tariff.commodity != group.commodity:
                    problems.append(f"fleet[{i}].tariff: {group.tariff!r} is a {tariff.commodity} tariff")
        for j, output in enumerate(self.outputs):
            if not isinstance(output, MqttOutput):
                continue
            fields = set(_FORMAT_FIELD.findall(output.topic))
            for i, group in enumerate(self.fleet):
                if fields & set(GRID_FIELDS) and group.grid is None:
                    problems.append(f"outputs[{j}].topic: uses grid fields but fleet[{i}] has no `grid`")
                elif "region" in fields and group.region is None:
                    problems.append(f"outputs[{j}].topic: uses {{region}} but fleet[{i}] has no `region`")
        problems.extend(_check_meter_ids(self.fleet))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def meter_count(self) -> int:
        return sum(g.count for g in self.fleet)

    @property
    def all_regions(self) -> dict[str, Climate]:
        """The default regions, overridden and extended by the scenario's own."""
        return {**DEFAULT_REGIONS, **self.regions}


def _check_meter_ids(fleet: list[MeterGroup]) -> list[str]:
    """Ids must be unique across the fleet and valid as one MQTT topic level."""
    problems: list[str] = []
    owner: dict[str, int] = {}
    for i, group in enumerate(fleet):
        ids = group.meter_ids()
        bad = next((m for m in ids if not m or _FORBIDDEN_IN_TOPIC_LEVEL.search(m)), None)
        if bad is not None:
            problems.append(f"fleet[{i}].id_format: meter id {bad!r} is not a valid MQTT topic level (no + # / NUL)")
            continue
        seen = set(ids)
        if len(seen) != len(ids):
            problems.append(f"fleet[{i}].id_format: produces duplicate meter ids")
        clash = next((m for m in ids if m in owner), None) if owner else None
        if clash is not None:
            problems.append(f"fleet[{i}].id_format: meter id {clash!r} is also used by fleet[{owner[clash]}]")
        owner.update(dict.fromkeys(seen, i))
    return problems


# --- loading -------------------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Raises ConfigError with every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {where}{reason}", source) from None
    if not isinstance(data, dict):
        raise ConfigError("the scenario must be a YAML mapping with simulation, fleet and outputs", source)
    for item in overrides or []:
        apply_override(data, item, source)
    return parse_scenario(data, source)


def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Validate an already-parsed mapping."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), source) from None


def apply_override(data: dict[str, Any], item: str, source: str | None = None) -> None:
    """Apply one ``dotted.path=value`` override in place; list items are addressed by index."""
    path, sep, raw = item.partition("=")
    if not sep or not path:
        raise ConfigError(f"--set {item!r}: expected dotted.path=value", source)
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    keys = path.split(".")
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {path}: {where} is not an item of a list of {len(node)}", source)
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise ConfigError(f"--set {path}: {'.'.join(keys[:depth])} is a value, not a mapping or list", source)


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``dotted.path: reason`` line per problem."""
    lines: list[str] = []
    for err in exc.errors():
        loc = _dotted(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        # Model-level checks at the root already name their own paths, one problem per line.
        lines.extend(f"{loc}: {part}" if loc else part for part in message.split("\n"))
    return lines


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and loc[i - 2 : i - 1] == ("outputs",):
            continue  # the discriminator tag pydantic inserts after an outputs[i]
        else:
            out += f".{part}" if out else part
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario file, for editors and `metersim schema`."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "metersim scenario"
    return schema
