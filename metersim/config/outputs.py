"""Where readings go: MQTT (with TLS), a JSON Lines file, standard output, or nowhere.

:data:`Output` is a union discriminated by ``type``.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from metersim.config.base import Model, Seconds, format_fields

TOPIC_FIELDS = ("meter_id", "commodity", "group", "region", "substation", "feeder", "transformer")
GRID_FIELDS = ("substation", "feeder", "transformer")
EMBEDDED: Literal["embedded"] = "embedded"
_DEFAULT_HOST = "127.0.0.1"
_DEFAULT_PORT = {"mqtt": 1883, "mqtts": 8883}


class TlsConfig(Model):
    """TLS for ``mqtts://``. Verification is on unless ``insecure`` is set."""

    ca_file: str | None = Field(None, description="PEM CA bundle; default: the system store")
    cert_file: str | None = Field(None, description="PEM client certificate")
    key_file: str | None = Field(None, description="PEM client key")
    insecure: bool = Field(False, description="skip certificate and hostname verification (testing only)")

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

    _scheme: Literal["mqtt", "mqtts", "embedded"] = PrivateAttr("mqtt")
    _host: str = PrivateAttr(_DEFAULT_HOST)
    _port: int = PrivateAttr(_DEFAULT_PORT["mqtt"])

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == EMBEDDED:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f'expected mqtt://host[:port], mqtts://host[:port] or "embedded", got {v!r}')
        parts.port  # noqa: B018 - raises ValueError on a bad port
        return v

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        unknown = sorted(format_fields(v) - set(TOPIC_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {', '.join('{' + f + '}' for f in TOPIC_FIELDS)}")
        if "+" in v or "#" in v or "\x00" in v:
            raise ValueError("a topic to publish to cannot contain + or # wildcards")
        return v

    @model_validator(mode="after")
    def _env(self) -> Self:
        for field in ("username_env", "password_env"):
            name = getattr(self, field)
            if name is not None and name not in os.environ:
                raise ValueError(f"`{field}` names ${name}, which is not set in the environment")
        return self

    def _derive(self) -> None:
        if self.url == EMBEDDED:
            self._scheme, self._host, self._port = EMBEDDED, _DEFAULT_HOST, _DEFAULT_PORT["mqtt"]
            return
        parts = urlsplit(self.url)
        scheme: Literal["mqtt", "mqtts"] = "mqtts" if parts.scheme == "mqtts" else "mqtt"
        self._scheme = scheme
        self._host = parts.hostname or _DEFAULT_HOST
        self._port = parts.port or _DEFAULT_PORT[scheme]

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


class StdoutOutput(Model):
    """Write readings to standard output, one JSON payload per line."""

    type: Literal["stdout"]
    format: Format = Field("json", description=_FORMAT_HELP)


class DiscardOutput(Model):
    """Count readings and drop them: for benchmarks."""

    type: Literal["discard"]


Output = Annotated[MqttOutput | FileOutput | StdoutOutput | DiscardOutput, Field(discriminator="type")]
