"""Home Assistant MQTT discovery messages, checked against what HA's MQTT sensor discovery accepts.

The oracle is written out here from Home Assistant's documentation and source, not taken from the
module under test:
- topic shape: HA core ``homeassistant/components/mqtt/discovery.py`` ``TOPIC_MATCHER``
  (``<component>/[<node_id>/]<object_id>/config``, ids ``[a-zA-Z0-9_-]+``), and the MQTT discovery
  docs (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery);
- the keys an MQTT sensor takes: https://www.home-assistant.io/integrations/sensor.mqtt/ (state_topic
  required), device keys from the same page, ``origin`` from the discovery docs; ``default_entity_id``
  replaces the deprecated ``object_id`` since HA 2025.10;
- device class / state class / unit pairings: HA core ``homeassistant/components/sensor/const.py``
  ``DEVICE_CLASS_UNITS`` and ``DEVICE_CLASS_STATE_CLASSES`` (energy and gas: total or total_increasing;
  power: measurement), as in https://developers.home-assistant.io/docs/core/entity/sensor/;
- entity ids: HA core ``homeassistant/core.py`` ``VALID_ENTITY_ID``.
Value templates are rendered with jinja2 (HA's template engine) against real payload v1 messages.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jinja2
import pytest

from metersim.encoders.homeassistant import discovery_messages, removal_messages
from metersim.encoders.topics import TopicCache
from metersim.engine import Observer
from metersim.records import MeterSet, Observation
from metersim.sinks.memory import MemorySink
from tests.conftest import make_scenario, run_to_memory

TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")
VALID_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id",
    "device", "device_class", "enabled_by_default", "encoding", "entity_category", "entity_picture",
    "expire_after", "force_update", "icon", "json_attributes_template", "json_attributes_topic",
    "last_reset_value_template", "name", "object_id", "options", "origin", "payload_available",
    "payload_not_available", "platform", "qos", "state_class", "state_topic", "suggested_display_precision",
    "unique_id", "unit_of_measurement", "value_template",
}  # fmt: skip
REQUIRED_KEYS = {"state_topic"}
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
    "name", "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
#: device class -> (state classes HA accepts, units HA accepts), for the classes a meter uses
CLASSES = {
    "energy": ({"total", "total_increasing"}, {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh"}),
    "power": ({"measurement"}, {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"}),
    "gas": ({"total", "total_increasing"}, {"L", "m³", "ft³", "CCF"}),
}
STATE_TOPIC = MemorySink().topic


class Collect(Observer):
    def __init__(self) -> None:
        self.meter_sets: dict[int, tuple[MeterSet, bool]] = {}

    def observe(self, observation: Observation) -> None:
        for batch in observation.published.batches():
            self.meter_sets[id(batch.meters)] = (batch.meters, batch.registers.export_total is not None)


def _scenario():
    base: dict[str, Any] = {"timezone": "Asia/Karachi", "interval_s": 900}
    return make_scenario(
        {
            "simulation": {"start": "2026-01-10T06:00:00+05:00", "duration": "2h", "seed": 11},
            "fleet": [
                {**base, "name": "homes", "commodity": "electricity", "count": 4, "annual_kwh": 3000},
                {
                    **base,
                    "name": "solar",
                    "commodity": "electricity",
                    "count": 4,
                    "annual_kwh": 3000,
                    "pv": {"fraction": 1.0},
                    "grid": {"substations": 1, "feeders_per_substation": 1, "transformers_per_feeder": 1},
                },
                {**base, "name": "flats", "commodity": "gas", "count": 3, "interval_s": 3600, "annual_m3": 900},
            ],
            "outputs": [{"type": "discard"}],
        }
    )


@pytest.fixture(scope="module")
def run() -> tuple[list[tuple[MeterSet, bool]], MemorySink]:
    collect = Collect()
    sink = run_to_memory(_scenario(), observers=[collect])
    return list(collect.meter_sets.values()), sink


def _discovery(meter_sets: list[tuple[MeterSet, bool]], **options: Any) -> list[tuple[MeterSet, str, dict[str, Any]]]:
    out = []
    for meters, export in meter_sets:
        states = TopicCache().for_meters(meters, STATE_TOPIC)
        for topic, payload in discovery_messages(meters, states, export=export, **options):
            out.append((meters, topic, json.loads(payload)))
    return out


def _check_config(topic: str, config: dict[str, Any]) -> None:
    match = TOPIC_MATCHER.fullmatch(topic.removeprefix("homeassistant/"))
    assert topic.startswith("homeassistant/") and match, topic
    assert match["component"] == "sensor" and match["node_id"]
    assert REQUIRED_KEYS <= set(config) <= SENSOR_KEYS, set(config) - SENSOR_KEYS
    assert "object_id" not in config  # deprecated since HA 2025.10
    assert VALID_ENTITY_ID.match(config["default_entity_id"]) and config["default_entity_id"].startswith("sensor.")
    state_classes, units = CLASSES[config["device_class"]]
    assert config["state_class"] in state_classes
    assert config["unit_of_measurement"] in units
    device = config["device"]
    assert set(device) <= DEVICE_KEYS and device["identifiers"] and device["name"]
    assert config["unique_id"] and config["name"]
    assert set(config["origin"]) <= ORIGIN_KEYS and config["origin"]["name"]


def test_every_message_is_a_valid_ha_sensor_config_on_a_discovery_topic(run):
    meter_sets, _ = run
    messages = _discovery(meter_sets)
    for _, topic, config in messages:
        _check_config(topic, config)
    # the HA energy dashboard's kinds, one set per meter
    kinds = {(meters.commodity, meters.grid_side, config["device_class"]) for meters, _, config in messages}
    assert kinds == {
        ("electricity", False, "energy"),
        ("electricity", False, "power"),
        ("electricity", True, "energy"),
        ("electricity", True, "power"),
        ("gas", False, "gas"),
    }
    per_meter: dict[str, set[str]] = {}
    for _, _, config in messages:
        per_meter.setdefault(config["device"]["name"], set()).add(config["unique_id"].rsplit("_", 1)[-1])
    assert sorted(map(sorted, per_meter.values())) == (
        [["export", "import", "power"]] * 6  # PV homes (4), the grid-side transformer and feeder
        + [["gas"]] * 3
        + [["import", "power"]] * 4
    )


def test_ids_are_unique_and_topics_name_the_meter(run):
    meter_sets, _ = run
    messages = _discovery(meter_sets)
    for field in ("unique_id", "default_entity_id"):
        values = [config[field] for _, _, config in messages]
        assert len(set(values)) == len(values), field
    topics = [topic for _, topic, _ in messages]
    assert len(set(topics)) == len(topics)
    object_ids = [TOPIC_MATCHER.fullmatch(t.removeprefix("homeassistant/"))["object_id"] for t in topics]
    assert len(set(object_ids)) == len(object_ids)  # unique across the fleet, not only per node
    for _, topic, config in messages:
        meter_id = config["device"]["name"]
        assert topic.split("/")[2] == re.sub(r"[^a-zA-Z0-9_-]", "_", meter_id)
        assert config["state_topic"] == STATE_TOPIC.format(
            commodity=config["state_topic"].split("/")[1], meter_id=meter_id
        )


def test_value_templates_read_the_right_numbers_from_real_payloads(run):
    meter_sets, sink = run
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for topic, payload in sink.messages:
        by_topic.setdefault(topic, []).append(json.loads(payload))
    checked = set()
    for _, _, config in _discovery(meter_sets):
        readings = by_topic[config["state_topic"]]
        assert readings
        template = environment.from_string(config["value_template"])
        for reading in readings:
            state = float(template.render(value_json=reading))
            if config["device_class"] == "power":
                expected = reading["power"]["value"]
            else:
                obis = {"energy_import": "1-0:1.8.0", "energy_export": "1-0:2.8.0", "gas": "7-0:3.0.0"}
                expected = reading["registers"][obis[config["unique_id"].split("_", 2)[-1]]]
            assert state == expected
            checked.add(config["unique_id"].rsplit("_", 1)[-1])
    assert checked == {"import", "export", "power", "gas"}


def test_device_details_and_availability_are_passed_through(run):
    meter_sets, _ = run
    messages = _discovery(
        meter_sets,
        availability_topic="metersim/{meter_id}/status",
        manufacturer="Tashkent Meter Works",
        model="TMW-3",
        sw_version="1.4.2",
        prefix="ha",
    )
    for _, topic, config in messages:
        assert topic.startswith("ha/sensor/")
        meter_id = config["device"]["name"]
        assert config["availability_topic"] == f"metersim/{meter_id}/status"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert config["device"] == {
            "identifiers": [f"metersim_{meter_id}"],
            "name": meter_id,
            "manufacturer": "Tashkent Meter Works",
            "model": "TMW-3",
            "sw_version": "1.4.2",
        }
        _check_config("homeassistant/" + topic.removeprefix("ha/"), config)


def test_legacy_object_id_is_sent_only_on_request(run):
    meters, export = run[0][0]
    states = TopicCache().for_meters(meters, STATE_TOPIC)
    for topic, payload in discovery_messages(meters, states, export=export, legacy_object_id=True):
        config = json.loads(payload)
        assert config["object_id"] == topic.split("/")[3]
        assert config["default_entity_id"] == "sensor." + config["object_id"].lower().replace("-", "_")


def test_removal_messages_empty_every_config_topic(run):
    meter_sets, _ = run
    for meters, export in meter_sets:
        states = TopicCache().for_meters(meters, STATE_TOPIC)
        configs = [topic for topic, _ in discovery_messages(meters, states, export=export)]
        removals = removal_messages(meters, export=export)
        assert [topic for topic, _ in removals] == configs
        assert all(payload == b"" for _, payload in removals)


def _meters(ids: list[str]) -> MeterSet:
    return MeterSet("g", "electricity", "UTC", "", len(ids), make_ids=lambda: ids)


def test_ids_are_sanitised_and_clashes_are_refused():
    meters = _meters(["PK.LESCO 01", "X--1"])
    messages = discovery_messages(meters, ["a/1", "a/2"])
    topics = [topic for topic, _ in messages]
    assert topics[0] == "homeassistant/sensor/PK_LESCO_01/PK_LESCO_01_energy_import/config"
    assert json.loads(messages[2][1])["default_entity_id"] == "sensor.x_1_energy_import"
    for topic, payload in messages:
        _check_config(topic, json.loads(payload))
    with pytest.raises(ValueError, match="both become"):
        discovery_messages(_meters(["A.1", "a_1"]), ["a/1", "a/2"])
    with pytest.raises(ValueError, match="state topics"):
        discovery_messages(_meters(["A"]), [])
