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
TOPIC_FIELDS = ("meter_id", "commodity", "group")


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
    profile: Literal["household"] = "household"
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
    max_inflight: int = Field(1000, ge=1, le=65_000, description="QoS>=1 messages awaiting acknowledgement")
    buffer_messages: int = Field(
        10_000, ge=1, le=65_000, description="bounded buffer (in messages) while the broker is away"
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
    fleet: list[MeterGroup] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)

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
        problems.extend(_check_meter_ids(self.fleet))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def meter_count(self) -> int:
        return sum(g.count for g in self.fleet)


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
