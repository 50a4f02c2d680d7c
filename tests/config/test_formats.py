"""What the wire formats need of the fleet and the outputs, refused at load with one line and a path."""

from __future__ import annotations

from typing import Any

import pytest

from metersim.config.formats import encoder_options
from metersim.errors import ConfigError
from tests.conftest import make_scenario, scenario_dict

PAIRED = {"gas_group": "tashkent"}
FIVE_DIGITS = {"register_digits": 5}


def _data(output: dict[str, Any], electricity: dict[str, Any] | None = None, gas: dict[str, Any] | None = None):
    data = scenario_dict()
    data["fleet"][0].update(electricity or {})
    data["fleet"][1].update(gas or {})
    data["outputs"] = [output]
    return data


@pytest.mark.parametrize(
    ("output", "electricity", "gas", "expected"),
    [
        ({"type": "file", "path": "x", "format": "dsmr-p1"}, {}, FIVE_DIGITS,
         "outputs[0].format: dsmr-p1 carries gas only through a home's electricity meter: pair fleet[1]"),
        ({"type": "file", "path": "x", "format": "dsmr-p1"}, PAIRED, {},
         "fleet[1].register_digits: outputs[0] is dsmr-p1, whose gas registers have 5 integer digits"),
        ({"type": "file", "path": "x", "format": "dsmr-p1"}, {**PAIRED, "register_digits": 7}, FIVE_DIGITS,
         "fleet[0].register_digits: outputs[0] is dsmr-p1, whose electricity registers have 6 integer digits"),
        ({"type": "discard"}, {"gas_group": "nope"}, {}, "fleet[0].gas_group: 'nope' is not a gas group of this fleet"),
        ({"type": "discard"}, {}, {"gas_group": "lahore"}, "fleet[1].gas_group: only an electricity group has a gas"),
        ({"type": "discard"}, {"count": 3, **PAIRED}, {},
         "fleet[0].gas_group: 'tashkent' has 10 meters, more than the 3 homes"),
        ({"type": "mqtt", "format": "batch", "topic": "m/{meter_id}"}, {}, {},
         "outputs[0].topic: a batch is about many meters: use only {commodity} {concentrator} {group} {region}"),
        ({"type": "mqtt", "topic": "m/{concentrator}/{meter_id}"}, {}, {},
         "outputs[0].topic: uses {concentrator} but fleet[0] has no `concentrator`"),
        ({"type": "mqtt", "topic": "m/{model}/{meter_id}"}, {}, {},
         "outputs[0].topic: uses hardware fields but fleet[0] has no `hardware`"),
        ({"type": "mqtt", "format": "senml", "homeassistant": {}}, {}, {},
         "Home Assistant discovery reads payload v1: it needs format: json"),
        ({"type": "mqtt", "batch": {"size": 5}}, {}, {}, "`batch` options need format: batch"),
        ({"type": "file", "path": "x", "format": "batch", "batch": {"compression": "gzip"}}, {}, {},
         "a file holds lines of text: compressed batches go to MQTT only"),
        ({"type": "file", "path": "x", "format": "sparkplug-b"}, {}, {},
         "outputs[0].format: must be 'json', 'senml', 'dsmr-p1' or 'batch'"),
        ({"type": "mqtt", "format": "batch", "topic": "m/{group}", "connections": "per-meter"}, {}, {},
         "a batch is sent by a concentrator"),
        ({"type": "mqtt", "connections": "per-meter", "connections_options": {"client_id": "same"}}, {}, {},
         "needs {sender} or {index} so that client ids differ"),
    ],
)  # fmt: skip
def test_what_a_format_cannot_do_is_refused_at_load(output, electricity, gas, expected):
    with pytest.raises(ConfigError) as caught:
        make_scenario(_data(output, electricity, gas))
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_a_mixed_fleet_can_batch_by_concentrator_and_pair_its_homes():
    data = _data(
        {"type": "mqtt", "format": "batch", "topic": "m/{group}/{concentrator}", "batch": {"size": 50}},
        {**PAIRED, "concentrator": {"meters": 5, "upload_every_s": 3600}},
        FIVE_DIGITS,
    )
    scenario = make_scenario(data)
    assert encoder_options(scenario.fleet, scenario.outputs[0]) == (("compression", "none"), ("size", 50))
    dsmr = make_scenario(_data({"type": "file", "path": "x", "format": "dsmr-p1"}, PAIRED, FIVE_DIGITS))
    assert encoder_options(dsmr.fleet, dsmr.outputs[0]) == (("gas_pairs", (("lahore", "tashkent"),)),)
