"""Where readings go: MQTT (with TLS), a JSON Lines file, standard output, or nowhere.

:data:`Output` is a union discriminated by ``type``.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Float, Model, NotBool, Seconds, StrictInt, format_fields, no_nul

TOPIC_FIELDS = ("meter_id", "commodity", "group", "region", "substation", "feeder", "transformer")
EVENT_TOPIC_FIELDS = (*TOPIC_FIELDS, "event")
GRID_FIELDS = ("substation", "feeder", "transformer")
EMBEDDED: Literal["embedded"] = "embedded"
_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_PORT = {"mqtt": 1883, "mqtts": 8883}
#: MQTT's limit on a topic and on a client id [bytes of UTF-8]
MQTT_MAX_BYTES = 65_535
#: the longest timeout or wait an output may be given [s]: a year (longer ones overflow the OS's timers)
MAX_WAIT_S = 31_536_000
_NUMBERS = re.compile(r"\d+")
_SAMPLE = "x"


def topic_template_problem(template: str, fields: tuple[str, ...] = TOPIC_FIELDS) -> str | None:
    """Why ``template`` cannot be a topic template over ``fields`` (None if it can), without their values."""
    if not template:
        return "must not be empty"
    try:
        items = list(Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    for _, field, spec, conversion in items:
        if field is None:
            continue
        if field == "" or field.isdigit():
            return "positional fields ({} or {0}) are not allowed; name a field, e.g. {meter_id}"
        if not field.isidentifier():
            return f"{{{field}}}: attribute or index access is not allowed; use the plain field name"
        if spec and "{" in spec:
            return f"{{{field}:{spec}}}: nested fields in a format spec are not allowed"
        if conversion:
            return f"{{{field}!{conversion}}}: conversions are not allowed"
        if any(int(n) > MQTT_MAX_BYTES for n in _NUMBERS.findall(spec or "")):
            return f"{{{field}:{spec}}}: pads or cuts to more than MQTT's limit of {MQTT_MAX_BYTES} bytes"
    unknown = sorted(format_fields(template) - set(fields))
    if unknown:
        return f"unknown field(s) {unknown}; allowed: {', '.join('{' + f + '}' for f in fields)}"
    try:
        template.format(**dict.fromkeys(fields, _SAMPLE))
    except (ValueError, TypeError) as exc:
        return f"has a bad format spec: {exc}"
    if "+" in template or "#" in template:
        return "a topic to publish to cannot contain + or # wildcards"
    if "\x00" in template:
        return "must not contain a NUL character"
    if len(template.format(**dict.fromkeys(fields, "")).encode()) > MQTT_MAX_BYTES:
        return f"is longer than MQTT's limit of {MQTT_MAX_BYTES} bytes"
    return None


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


#: wire formats of ``format:``; each names an encoder in ``metersim.encoders.ENCODERS`` (a test keeps them equal)
Format = Literal["json"]
_FORMAT_HELP = "wire format of the payloads: json (payload v1)"


class MqttOutput(Model):
    """Publish each reading as one MQTT message."""

    # ``url`` keeps the text; it is parsed once, into ``scheme``, ``host`` and ``port``.

    type: Literal["mqtt"]
    format: Format = Field("json", description=_FORMAT_HELP)
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

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str | None) -> str | None:
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

    @property
    def uses_tls(self) -> bool:
        return self._scheme == "mqtts" or self.tls is not None


class FileOutput(Model):
    """Append readings to a JSON Lines file (one payload per line)."""

    type: Literal["file"]
    format: Format = Field("json", description=_FORMAT_HELP)
    path: str

    _path = field_validator("path")(no_nul)


class StdoutOutput(Model):
    """Write readings to standard output, one JSON payload per line."""

    type: Literal["stdout"]
    format: Format = Field("json", description=_FORMAT_HELP)


class DiscardOutput(Model):
    """Count readings and drop them: for benchmarks."""

    type: Literal["discard"]


Output = Annotated[MqttOutput | FileOutput | StdoutOutput | DiscardOutput, Field(discriminator="type")]
