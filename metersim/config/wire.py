"""How an output puts readings on the wire: its format and the format's options, Home Assistant
discovery, and how many MQTT connections the fleet uses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from metersim.config.base import Float, Model, StrictInt, format_fields

#: wire formats of ``format:``; each names an encoder in ``metersim.encoders.ENCODERS`` (a test keeps them equal)
Format = Literal["json", "senml", "dsmr-p1", "sparkplug-b", "batch"]
#: the formats a file or standard output can hold: text, one message per line (Sparkplug B is binary protobuf)
StreamFormat = Literal["json", "senml", "dsmr-p1", "batch"]
FORMAT_HELP = (
    "wire format: json (payload v1), senml (RFC 8428), dsmr-p1 (ESMR 5.0 telegrams; gas through the paired "
    "electricity meter), sparkplug-b (MQTT only), batch (many readings a message, per concentrator upload)"
)
#: fields of ``connections_client_id``
CLIENT_ID_FIELDS = frozenset({"client_id", "sender", "index"})


class BatchOptions(Model):
    """``format: batch``: how many readings a message carries, and how it is compressed."""

    size: StrictInt = Field(100, ge=1, le=100_000, description="most readings in one message")
    compression: Literal["none", "gzip", "zstd"] = Field(
        "none", description="gzip (RFC 1952) or zstd (RFC 8878, needs `pip install 'metersim[zstd]'`)"
    )


class SparkplugOptions(Model):
    """``format: sparkplug-b``: the Sparkplug group and edge node this output's connection is."""

    group_id: str = Field("metersim", description="Sparkplug group id of the node (e.g. the utility, PK-LESCO)")
    edge_node: str = Field(
        "metersim", min_length=1, description="edge node id of the connection (its NDEATH is the will)"
    )

    @field_validator("group_id", "edge_node")
    @classmethod
    def _level(cls, v: str) -> str:
        if not v or any(c in v for c in "/+#\x00"):
            raise ValueError(f"must be one topic level (no / + # or NUL), got {v!r}")
        return v


class HomeAssistantOptions(Model):
    """Home Assistant MQTT discovery: retained config messages that make each meter a device with energy
    (or gas) and power sensors, published before the meter's first reading."""

    prefix: str = Field("homeassistant", min_length=1, description="HA's discovery prefix")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if any(c in v for c in "+#\x00"):
            raise ValueError(f"must not contain + # or NUL, got {v!r}")
        return v


class ConnectionsOptions(Model):
    """With more than one MQTT connection (``connections: per-concentrator`` or ``per-meter``): their
    client ids and the connect ramp. One epoll loop on the run's thread drives them all (no thread per
    connection: paho's per-message Python work, not the sockets, is what costs)."""

    client_id: str = Field(
        "{client_id}-{sender}",
        description="client id of each connection: {client_id} (the output's), {sender} (the concentrator or "
        "meter id), {index} (from 0)",
    )
    connect_rate_per_s: Float = Field(200, gt=0, le=1_000_000, description="new connections per second (ramp-up)")

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str) -> str:
        unknown = sorted(set(format_fields(v)) - CLIENT_ID_FIELDS)
        if unknown or ("{sender}" not in v and "{index}" not in v):
            raise ValueError(
                f"needs {{sender}} or {{index}} so that client ids differ; fields: {sorted(CLIENT_ID_FIELDS)}"
                + (f" (unknown: {unknown})" if unknown else "")
            )
        return v
