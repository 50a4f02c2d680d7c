"""Where readings go: MQTT (with TLS), a JSON Lines file, standard output, Parquet partitions, or nowhere.

:data:`Output` is a union discriminated by ``type``.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, NotBool, Seconds, StrictInt, format_fields, no_nul
from metersim.config.commands import CommandsConfig
from metersim.config.topics import EVENT_TOPIC_FIELDS, MQTT_MAX_BYTES, topic_template_problem
from metersim.config.wire import (
    FORMAT_HELP,
    BatchOptions,
    ConnectionsOptions,
    Format,
    HomeAssistantOptions,
    SparkplugOptions,
    StreamFormat,
)

GRID_FIELDS = ("substation", "feeder", "transformer")
EMBEDDED: Literal["embedded"] = "embedded"
_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_PORT = {"mqtt": 1883, "mqtts": 8883}
#: the longest timeout or wait an output may be given [s]: a year (longer ones overflow the OS's timers)
MAX_WAIT_S = 31_536_000
#: MQTT 5's Four Byte Integer properties (message expiry, session expiry) top out here [s]
MQTT5_MAX_INTERVAL_S = 4_294_967_295
#: the only field of ``status_topic``
STATUS_TOPIC_FIELDS = ("client_id",)


class TlsConfig(Model):
    """TLS for ``mqtts://``. Verification is on unless ``insecure`` is set."""

    ca_file: str | None = Field(None, description="PEM CA bundle; default: the system store")
    cert_file: str | None = Field(None, description="PEM client certificate")
    key_file: str | None = Field(None, description="PEM client key")
    insecure: bool = Field(False, description="skip certificate and hostname verification (testing only)")

    _paths = field_validator("ca_file", "cert_file", "key_file")(no_nul)

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both `cert_file` and `key_file`, or neither")
        return self


class MqttOutput(Model):
    """Publish each reading as one MQTT message.

    ``protocol: "5"`` adds, per message, the Content Type of the format, the meter group's user
    properties (manufacturer, model, firmware) and ``message_expiry_s``; MQTT 3.1.1 has no
    properties, so there they are not sent (and setting ``message_expiry_s`` is an error).
    ``status_topic`` carries a retained ``online``/``offline`` status, ``offline`` being the will.
    """

    # ``url`` keeps the text; it is parsed once, into ``scheme``, ``host`` and ``port``.

    type: Literal["mqtt"]
    format: Format = Field("json", description=FORMAT_HELP)
    batch: BatchOptions | None = Field(None, description="format batch: readings per message, compression")
    sparkplug: SparkplugOptions | None = Field(None, description="format sparkplug-b: group and edge node ids")
    homeassistant: HomeAssistantOptions | None = Field(None, description="publish Home Assistant discovery configs")
    connections: Literal["single", "per-concentrator", "per-meter"] = Field(
        "single",
        description="one connection for the fleet, one per concentrator (DCU), or one per meter (a broker's "
        "connection-load test)",
    )
    connections_options: ConnectionsOptions | None = Field(
        None, description="many connections: client ids, connect ramp and network loops (defaults when null)"
    )
    commands: CommandsConfig | None = Field(None, description="answer head-end commands (two-way meters)")
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        description='mqtt://[user[:password]@]host[:port], mqtts://..., or "embedded"; credentials in the URL are '
        "used only where `username_env` / `password_env` are not given",
    )
    embedded_port: StrictInt | None = Field(
        None, ge=0, le=65535, description='port for url "embedded"; default: a free one'
    )
    topic: str = "metersim/{commodity}/{meter_id}/reading"
    events_topic: str = Field(
        "metersim/{commodity}/{meter_id}/event",
        description="topic of meter events (power down/up, tamper); the fields of `topic` and {event}",
    )
    qos: Annotated[Literal[0, 1, 2], NotBool] = 1
    retain: bool = False
    protocol: Literal["3.1.1", "5"] = Field(
        "3.1.1", description='MQTT version: "3.1.1" or "5" (5 adds message properties and session expiry)'
    )
    session_expiry_s: StrictInt = Field(
        3600,
        ge=0,
        le=MQTT5_MAX_INTERVAL_S,
        description="MQTT 5: how long the broker keeps the session after a lost connection, so that a reconnect "
        "resumes it (QoS 2 completes exactly once); ended at a clean close. Unused on 3.1.1",
    )
    message_expiry_s: StrictInt | None = Field(
        None,
        ge=1,
        le=MQTT5_MAX_INTERVAL_S,
        description="MQTT 5 Message Expiry Interval: the broker drops a message not delivered within this time; "
        "null = never. Needs protocol 5",
    )
    status_topic: str | None = Field(
        None,
        description="retained status: payload `online` at every (re)connect, `offline` at a clean close and as the "
        "last will (QoS 1, retained) on an unclean one; field {client_id}, e.g. metersim/status/{client_id}; "
        "null (the default) = no status, so that runs with random client ids leave no retained messages",
    )
    client_id: str | None = Field(
        None, description="default: metersim-<random>; unique among the outputs to one broker"
    )
    keepalive_s: Seconds = Field(60, le=65_535)
    username_env: str | None = Field(
        None,
        description="name of the environment variable holding the username (read when the run starts); "
        "takes precedence over a user in `url`",
    )
    password_env: str | None = Field(
        None,
        description="name of the environment variable holding the password (read when the run starts); "
        "takes precedence over a password in `url`",
    )
    tls: TlsConfig | None = None
    max_inflight: StrictInt = Field(
        1000, ge=1, le=65_000, description="QoS 1 messages awaiting acknowledgement (QoS 2 is capped at 20)"
    )
    buffer_messages: StrictInt = Field(
        10_000, ge=1, le=65_000, description="bounded buffer (in messages) while the broker is away"
    )
    max_rate_msg_s: Float | None = Field(
        5_000,
        gt=0,
        description="publish at most this many messages/s; null = as fast as the broker accepts. The default "
        "protects subscribers: Mosquitto silently drops QoS 1 messages for a client more than "
        "max_queued_messages (1000) behind, and a Python paho subscriber sharing two cores falls behind "
        "well below 10,000 messages/s",
    )
    connect_timeout_s: Float = Field(10, gt=0, le=MAX_WAIT_S)
    reconnect_max_s: Float = Field(30, gt=0, le=MAX_WAIT_S, description="longest pause between reconnect attempts")
    give_up_s: Float = Field(
        300, gt=0, le=MAX_WAIT_S, description="fail the run after the broker has been away this long"
    )
    drain_timeout_s: Float = Field(
        60, gt=0, le=MAX_WAIT_S, description="how long close waits for outstanding acknowledgements"
    )

    _scheme: Literal["mqtt", "mqtts", "embedded"] = PrivateAttr("mqtt")
    _host: str = PrivateAttr(_DEFAULT_HOST)
    _port: int = PrivateAttr(_DEFAULT_PORT["mqtt"])
    _url_username: str | None = PrivateAttr(None)
    _url_password: str | None = PrivateAttr(None)
    _display_url: str = PrivateAttr("")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == EMBEDDED:
            return v
        if any(c.isspace() or not c.isprintable() for c in v):
            raise ValueError(f"must not contain spaces or control characters, got {v!r}")
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f'expected mqtt://host[:port], mqtts://host[:port] or "embedded", got {v!r}')
        parts.port  # noqa: B018 - raises ValueError on a bad port
        return v

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        problem = topic_template_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("events_topic")
    @classmethod
    def _events_topic(cls, v: str) -> str:
        problem = topic_template_problem(v, EVENT_TOPIC_FIELDS)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, v: object) -> object:
        # YAML reads an unquoted `protocol: 5` as a number; 3.1.1 is text either way
        return "5" if type(v) is int and v == 5 else v

    # Cross-field checks as field validators (of the later field, which sees the earlier ones in
    # ``info.data``), so that each error carries its field's path.

    @field_validator("protocol")
    @classmethod
    def _protocol_broker(cls, v: str, info: ValidationInfo) -> str:
        if v == "5" and info.data.get("url") == EMBEDDED:
            raise ValueError("the embedded broker (amqtt) speaks MQTT 3.1.1 only, not 5")
        return v

    @field_validator("message_expiry_s")
    @classmethod
    def _expiry_needs_mqtt5(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("protocol", "5") != "5":
            raise ValueError('needs protocol: "5" (MQTT 3.1.1 has no message expiry)')
        return v

    @field_validator("commands")
    @classmethod
    def _commands_single(cls, v: CommandsConfig | None, info: ValidationInfo) -> CommandsConfig | None:
        if v is not None and info.data.get("connections", "single") != "single":
            raise ValueError("commands are answered on `connections: single` only")
        return v

    @field_validator("status_topic")
    @classmethod
    def _status_topic(cls, v: str | None) -> str | None:
        problem = None if v is None else topic_template_problem(v, STATUS_TOPIC_FIELDS)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str | None, info: ValidationInfo) -> str | None:
        status_topic = info.data.get("status_topic")
        if v is not None and status_topic is not None and "{client_id}" in status_topic:
            unsafe = [c for c in ("+", "#") if c in v]
            if unsafe:
                raise ValueError(f"contains {' '.join(unsafe)}, which `status_topic` cannot carry")
        if v is not None and "\x00" in v:
            raise ValueError("must not contain a NUL character (MQTT forbids it)")
        if v is not None and len(v.encode()) > MQTT_MAX_BYTES:
            raise ValueError(f"is longer than MQTT's limit of {MQTT_MAX_BYTES} bytes (UTF-8)")
        return v

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not v or "=" in v or "\x00" in v):
            raise ValueError(f"must be the name of an environment variable (no = or NUL), got {v!r}")
        return v

    def _derive(self) -> None:
        self._url_username = self._url_password = None
        if self.url == EMBEDDED:
            self._scheme, self._host, self._port = EMBEDDED, _DEFAULT_HOST, _DEFAULT_PORT["mqtt"]
            self._display_url = EMBEDDED
            return
        parts = urlsplit(self.url)
        scheme: Literal["mqtt", "mqtts"] = "mqtts" if parts.scheme == "mqtts" else "mqtt"
        self._scheme = scheme
        self._host = parts.hostname or _DEFAULT_HOST
        self._port = parts.port or _DEFAULT_PORT[scheme]
        userinfo, at, hostport = parts.netloc.rpartition("@")
        if at:
            user, colon, password = userinfo.partition(":")
            self._url_username = unquote(user)
            self._url_password = unquote(password) if colon else None
            netloc = f"{user}@{hostport}"
        else:
            netloc = hostport
        self._display_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def scheme(self) -> Literal["mqtt", "mqtts", "embedded"]:
        """``mqtt``, ``mqtts``, or ``embedded`` for the in-process broker."""
        return self._scheme

    @property
    def embedded(self) -> bool:
        """Whether readings go to an in-process broker started for the run (``url: embedded``)."""
        return self._scheme == EMBEDDED

    @property
    def host(self) -> str:
        """The broker host of ``url`` (127.0.0.1 for ``embedded``)."""
        return self._host

    @property
    def port(self) -> int:
        """The broker port of ``url``: as given, else 1883 for mqtt:// and 8883 for mqtts://."""
        return self._port

    @property
    def url_username(self) -> str | None:
        """The user name in ``url`` (``mqtt://user:pass@host``), percent-decoded; None when absent.

        Used only when ``username_env`` is not given.
        """
        return self._url_username

    @property
    def url_password(self) -> str | None:
        """The password in ``url``, percent-decoded; None when absent. Never show it: see :attr:`display_url`.

        Used only when ``password_env`` is not given.
        """
        return self._url_password

    @property
    def display_url(self) -> str:
        """``url`` without its password (``mqtt://user@host:1883``), for logs and messages."""
        return self._display_url

    @property
    def broker_key(self) -> tuple[str, int] | None:
        """What identifies the broker: ``(host, port)``, or ``("embedded", port)``; None for an embedded
        broker on a free port (each such output gets its own)."""
        if self.embedded:
            return None if self.embedded_port is None else (EMBEDDED, self.embedded_port)
        return (self._host, self._port)

    @property
    def topic_fields(self) -> frozenset[str]:
        """The ``{fields}`` that ``topic`` uses."""
        return frozenset(format_fields(self.topic))

    def status_topic_of(self, client_id: str) -> str | None:
        """The rendered ``status_topic`` for a connection's client id; None when the status is off."""
        return None if self.status_topic is None else self.status_topic.format(client_id=client_id)

    @property
    def uses_tls(self) -> bool:
        return self._scheme == "mqtts" or self.tls is not None

    @model_validator(mode="after")
    def _format_options(self) -> Self:
        _check_options(self.format, self.batch, self.sparkplug)
        if self.connections != "single" and self.format == "sparkplug-b":
            raise ValueError("sparkplug-b over many connections is not supported yet: use connections: single")
        if self.homeassistant is not None and self.format != "json":
            raise ValueError("Home Assistant discovery reads payload v1: it needs format: json")
        if self.connections == "per-meter" and self.format == "batch":
            raise ValueError("a batch is sent by a concentrator: use connections: per-concentrator or single")
        return self


def _check_options(fmt: str, batch: BatchOptions | None, sparkplug: SparkplugOptions | None = None) -> None:
    if batch is not None and fmt != "batch":
        raise ValueError(f"`batch` options need format: batch (this output's format is {fmt})")
    if sparkplug is not None and fmt != "sparkplug-b":
        raise ValueError(f"`sparkplug` options need format: sparkplug-b (this output's format is {fmt})")


class FileOutput(Model):
    """Append readings to a file, one payload per line (a DSMR telegram is several CRLF lines)."""

    type: Literal["file"]
    format: StreamFormat = Field("json", description=FORMAT_HELP)
    batch: BatchOptions | None = Field(None, description="format batch: readings per line (uncompressed only)")
    path: str

    _path = field_validator("path")(no_nul)

    @model_validator(mode="after")
    def _format_options(self) -> Self:
        _check_options(self.format, self.batch)
        if self.batch is not None and self.batch.compression != "none":
            raise ValueError("a file holds lines of text: compressed batches go to MQTT only")
        return self


class StdoutOutput(Model):
    """Write readings to standard output, one payload per line."""

    type: Literal["stdout"]
    format: StreamFormat = Field("json", description=FORMAT_HELP)


class ParquetOutput(Model):
    """Readings as Hive-partitioned Parquet, from the numbers (docs/parquet.md); needs pyarrow. No events."""

    type: Literal["parquet"]
    path: str = Field(description="directory of the partitions date=YYYY-MM-DD/shard=K/ (made if missing)")
    row_group_rows: StrictInt = Field(1_000_000, ge=1_000, le=100_000_000, description="rows per Parquet row group")
    compression_level: StrictInt = Field(1, ge=1, le=22, description="zstd level: 1 is fastest, 22 smallest")

    _path = field_validator("path")(no_nul)


class DiscardOutput(Model):
    """Count readings and drop them: for benchmarks."""

    type: Literal["discard"]


Output = Annotated[MqttOutput | FileOutput | StdoutOutput | ParquetOutput | DiscardOutput, Field(discriminator="type")]
