"""Home Assistant MQTT discovery: retained config messages that make meters appear as HA sensors.

HA's MQTT integration subscribes to ``<prefix>/<component>/[<node_id>/]<object_id>/config`` (prefix
``homeassistant`` by default) and creates one entity per retained config message. Each meter is one
HA device (``node_id`` = the meter id) with these ``sensor`` entities, which read the meter's
payload v1 reading topic with a ``value_template``:

============== ================ =================== ====== ========================================
object id      device_class     state_class         unit   value_template
============== ================ =================== ====== ========================================
energy_import  energy           total_increasing    kWh    ``value_json.registers['1-0:1.8.0']``
energy_export  energy           total_increasing    kWh    ``value_json.registers['1-0:2.8.0']``
power          power            measurement         kW     ``value_json.power.value``
gas            gas              total_increasing    m³     ``value_json.registers['7-0:3.0.0']``
============== ================ =================== ====== ========================================

Electricity meters get ``energy_import`` and ``power``, and ``energy_export`` when they have an
export register (PV, grid-side meters); gas meters get ``gas``. These are the pairings HA's energy
dashboard accepts: energy and gas need ``total`` or ``total_increasing`` and an energy (volume) unit,
power needs ``measurement``. A rolled-over register reads as a new meter cycle under
``total_increasing``, which is what HA does with a real meter's rollover.

Example (topic, then payload)::

    homeassistant/sensor/PK-LESCO-000001/PK-LESCO-000001_energy_import/config
    {"name":"Energy import","unique_id":"metersim_PK-LESCO-000001_energy_import",
     "default_entity_id":"sensor.pk_lesco_000001_energy_import",
     "state_topic":"metersim/electricity/PK-LESCO-000001/reading",
     "value_template":"{{ value_json.registers['1-0:1.8.0'] }}","device_class":"energy",
     "state_class":"total_increasing","unit_of_measurement":"kWh",
     "device":{"identifiers":["metersim_PK-LESCO-000001"],"name":"PK-LESCO-000001"},
     "origin":{"name":"metersim"}}

Ids: ``node_id`` and ``object_id`` are the meter id and ``<meter id>_<key>`` with every character
outside ``[a-zA-Z0-9_-]`` replaced by ``_`` (the characters HA accepts in discovery topics); the
object id includes the meter id so that it is unique across the fleet, not only per node.
``default_entity_id`` is ``sensor.`` + the object id as an HA slug (lower case, runs of other
characters as one ``_``). HA 2025.10 deprecated the ``object_id`` option in its favour and said
``object_id`` stops working in HA 2026.4; pass ``legacy_object_id=True`` to send ``object_id`` too,
for HA older than 2025.10. Two meters whose ids make the same slug (``A.1``, ``a_1``) raise ValueError.

Publish every message retained (QoS 1), before the readings: HA then finds the entities after its
own restart too. :func:`removal_messages` gives the same topics with empty retained payloads, which
remove the entities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from metersim.encoders.json import EXPORT_OBIS, GAS_OBIS, IMPORT_OBIS
from metersim.encoders.topics import TopicCache
from metersim.records import MeterSet

DEFAULT_PREFIX = "homeassistant"
PAYLOAD_AVAILABLE, PAYLOAD_NOT_AVAILABLE = "online", "offline"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Entity:
    """One HA sensor of a meter."""

    key: str  # object id suffix
    name: str  # entity name, shown after the device name
    device_class: str
    state_class: str
    unit: str
    value_template: str


def _register(obis: str) -> str:
    """The value template that reads register ``obis`` of a payload v1 reading."""
    return "{{ value_json.registers['" + obis + "'] }}"


IMPORT = Entity("energy_import", "Energy import", "energy", "total_increasing", "kWh", _register(IMPORT_OBIS))
EXPORT = Entity("energy_export", "Energy export", "energy", "total_increasing", "kWh", _register(EXPORT_OBIS))
POWER = Entity("power", "Power", "power", "measurement", "kW", "{{ value_json.power.value }}")
GAS = Entity("gas", "Gas", "gas", "total_increasing", "m³", _register(GAS_OBIS))


def sanitise(text: str) -> str:
    """``text`` with every character outside ``[a-zA-Z0-9_-]`` replaced by ``_``."""
    return _UNSAFE.sub("_", text)


def entity_id(object_id: str) -> str:
    """``sensor.<slug>``: HA entity ids are lower case ``[a-z0-9_]``, without ``__`` or an ``_`` at either end."""
    return "sensor." + _NOT_SLUG.sub("_", object_id.lower()).strip("_")


def entities(meters: MeterSet, *, export: bool = False) -> tuple[Entity, ...]:
    """The sensors of each meter of ``meters``; ``export``: whether they have an export register."""
    if meters.commodity == "gas":
        return (GAS,)
    return (IMPORT, EXPORT, POWER) if export else (IMPORT, POWER)


def _config_topics(meters: MeterSet, kinds: tuple[Entity, ...], prefix: str) -> list[list[tuple[str, str]]]:
    """Per meter, ``(config topic, object id)`` of each entity; raises ValueError on a sanitising clash."""
    nodes = [sanitise(m) for m in meters.ids]
    # the entity id is the node in lower case, so it is the stricter test of two meters staying apart
    slugs = [entity_id(node) for node in nodes]
    if len(set(slugs)) != len(slugs):
        seen: dict[str, str] = {}
        for meter_id, slug in zip(meters.ids, slugs):
            if slug in seen:
                raise ValueError(f"homeassistant: meter ids {seen[slug]!r} and {meter_id!r} both become {slug!r}")
            seen[slug] = meter_id
    return [
        [(f"{prefix}/sensor/{node}/{node}_{kind.key}/config", f"{node}_{kind.key}") for kind in kinds] for node in nodes
    ]


def discovery_messages(
    meters: MeterSet,
    state_topics: list[str],
    *,
    prefix: str = DEFAULT_PREFIX,
    export: bool = False,
    availability_topic: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    sw_version: str | None = None,
    legacy_object_id: bool = False,
) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` of every config message for ``meters``, to be published retained.

    ``state_topics`` holds each meter's payload v1 reading topic (``TopicCache().for_meters(meters,
    template)``). ``export``: the meters have an export register (``batch.registers.export_total is not
    None``). ``availability_topic`` is a topic template like the reading topic's (``{meter_id}``, ...),
    whose messages are ``online`` / ``offline``; None: HA shows the entities as always available.
    """
    if len(state_topics) != meters.count:
        raise ValueError(f"homeassistant: {len(state_topics)} state topics for {meters.count} meters")
    kinds = entities(meters, export=export)
    available = TopicCache().for_meters(meters, availability_topic) if availability_topic is not None else None
    device_extra = {
        k: v for k, v in (("manufacturer", manufacturer), ("model", model), ("sw_version", sw_version)) if v is not None
    }
    out = []
    for row, (meter_id, topics) in enumerate(zip(meters.ids, _config_topics(meters, kinds, prefix))):
        device = {"identifiers": [f"metersim_{meter_id}"], "name": meter_id, **device_extra}
        for kind, (topic, object_id) in zip(kinds, topics):
            config: dict[str, Any] = {
                "name": kind.name,
                "unique_id": f"metersim_{meter_id}_{kind.key}",
                "default_entity_id": entity_id(object_id),
            }
            if legacy_object_id:
                config["object_id"] = object_id
            config |= {
                "state_topic": state_topics[row],
                "value_template": kind.value_template,
                "device_class": kind.device_class,
                "state_class": kind.state_class,
                "unit_of_measurement": kind.unit,
                "device": device,
                "origin": {"name": "metersim"},
            }
            if available is not None:
                config["availability_topic"] = available[row]
                config["payload_available"] = PAYLOAD_AVAILABLE
                config["payload_not_available"] = PAYLOAD_NOT_AVAILABLE
            out.append((topic, orjson.dumps(config)))
    return out


def removal_messages(
    meters: MeterSet, *, prefix: str = DEFAULT_PREFIX, export: bool = False
) -> list[tuple[str, bytes]]:
    """The config topics of :func:`discovery_messages` with empty payloads: published retained, they
    remove the entities from HA and clear the retained configs from the broker."""
    kinds = entities(meters, export=export)
    return [(topic, b"") for topics in _config_topics(meters, kinds, prefix) for topic, _ in topics]
