"""A minimal protobuf (proto2) wire writer, and the Sparkplug B ``Payload`` message built with it.

The wire format (protobuf.dev/programming-guides/encoding): each field is a key, ``field_number << 3 |
wire_type``, as a base-128 varint, then the value. Wire type 0 is a varint (unsigned integers, bools),
1 a little-endian 64-bit value (doubles), 2 a varint length and that many bytes (strings, bytes and
embedded messages). Unsigned values need no zigzag (that is only for ``sint``); a negative ``int64``
is its 64-bit two's complement as a ten-byte varint.

:func:`encode_payload` writes the ``Payload`` message of the Eclipse Tahu ``sparkplug_b.proto`` (Sparkplug
B 3.0): ``timestamp`` (1), ``metrics`` (2) and ``seq`` (3); of ``Metric``, the fields metersim uses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

VARINT, FIXED64, LENGTH = 0, 1, 2  # wire types

_DOUBLE = struct.Struct("<d")
_U64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """``value`` as a base-128 varint (7 bits per byte, least significant group first)."""
    value &= _U64  # a negative int64 goes on the wire as its two's complement
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    """The key of field ``field`` with ``wire_type``."""
    return varint(field << 3 | wire_type)


def uint_field(field: int, value: int) -> bytes:
    """A ``uint32``/``uint64``/``int64`` field."""
    return key(field, VARINT) + varint(value)


def bool_field(field: int, value: bool) -> bytes:
    return key(field, VARINT) + (b"\x01" if value else b"\x00")


def double_field(field: int, value: float) -> bytes:
    return key(field, FIXED64) + _DOUBLE.pack(value)


def bytes_field(field: int, value: bytes) -> bytes:
    """A ``bytes`` field or an embedded message (already encoded)."""
    return key(field, LENGTH) + varint(len(value)) + value


def string_field(field: int, value: str) -> bytes:
    return bytes_field(field, value.encode("utf-8"))


#: Sparkplug B data types (the ``DataType`` enum of sparkplug_b.proto)
INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64 = 1, 2, 3, 4, 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT = 9, 10, 11, 12, 13, 14

Value = int | float | bool | str


@dataclass(frozen=True, slots=True)
class Metric:
    """One Sparkplug metric; ``timestamp_ms`` [ms since the epoch, UTC], ``unit`` goes out as ``engUnit``."""

    name: str
    datatype: int
    value: Value | None = None  # None: is_null
    alias: int | None = None
    timestamp_ms: int | None = None
    is_historical: bool = False
    unit: str | None = None


def encode_metric(metric: Metric, *, by_alias: bool = False) -> bytes:
    """``Payload.Metric``; ``by_alias`` (DATA messages): the alias without name, datatype or properties."""
    out = b""
    if not by_alias or metric.alias is None:
        out += string_field(1, metric.name)
    if metric.alias is not None:
        out += uint_field(2, metric.alias)
    if metric.timestamp_ms is not None:
        out += uint_field(3, metric.timestamp_ms)
    if not by_alias:
        out += uint_field(4, metric.datatype)
    if metric.is_historical:
        out += bool_field(5, True)
    if not by_alias and metric.unit is not None:
        # PropertySet {keys: ["engUnit"], values: [PropertyValue {type: String, string_value: unit}]}
        value = uint_field(1, STRING) + string_field(8, metric.unit)
        out += bytes_field(9, string_field(1, "engUnit") + bytes_field(2, value))
    return out + _value(metric.datatype, metric.value)


def _value(datatype: int, value: Value | None) -> bytes:
    if value is None:
        return bool_field(7, True)
    if datatype in (FLOAT, DOUBLE):
        return double_field(13, float(value))  # a float too: Double keeps 15 digits for free
    if datatype == BOOLEAN:
        return bool_field(14, bool(value))
    if datatype in (STRING, TEXT):
        return string_field(15, str(value))
    if datatype in (INT8, INT16, INT32, UINT8, UINT16, UINT32):
        return uint_field(10, int(value) & 0xFFFFFFFF)  # signed types: 32-bit two's complement
    if datatype in (INT64, UINT64, DATETIME):
        return uint_field(11, int(value))
    raise ValueError(f"unsupported Sparkplug datatype {datatype}")


def encode_payload(
    metrics: Iterable[Metric], *, timestamp_ms: int | None = None, seq: int | None = None, by_alias: bool = False
) -> bytes:
    """``Payload``: ``timestamp`` [ms since the epoch, UTC], the metrics, ``seq`` (None: left out)."""
    out = uint_field(1, timestamp_ms) if timestamp_ms is not None else b""
    for metric in metrics:
        out += bytes_field(2, encode_metric(metric, by_alias=by_alias))
    return out + (uint_field(3, seq) if seq is not None else b"")
