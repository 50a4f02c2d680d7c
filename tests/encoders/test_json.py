import json

import jsonschema
import pytest

from tests.conftest import ROOT, make_scenario, run_to_memory

SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())


@pytest.fixture(scope="module")
def readings():
    return run_to_memory(make_scenario(duration="2h")).readings()


def test_every_payload_is_valid_against_the_published_schema(readings):
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    for reading in readings:
        validator.validate(reading)


def test_payload_matches_the_documented_example_shape(readings):
    first = next(r for r in readings if r["meter_id"] == "PK-LESCO-000001")
    assert first["commodity"] == "electricity"
    assert first["ts"] == "2026-01-01T00:15:00+05:00"
    assert first["interval_s"] == 900
    assert first["seq"] == 0
    assert set(first["registers"]) == {"1-0:1.8.0"}
    assert first["interval"]["unit"] == "kWh"
    assert first["power"]["value"] == pytest.approx(first["interval"]["value"] * 4, abs=0.001)
    gas = next(r for r in readings if r["commodity"] == "gas")
    assert set(gas["registers"]) == {"7-0:3.0.0"}
    assert gas["interval"]["unit"] == "m3"
    assert gas["ts"].endswith("+05:00")  # Asia/Tashkent


def test_numbers_carry_at_most_three_decimals():
    payloads = run_to_memory(make_scenario(duration="1h")).messages
    for _, payload in payloads:
        for number in json.loads(payload, parse_float=str)["registers"].values():
            assert len(number.partition(".")[2]) <= 3


def test_schema_rejects_a_broken_payload(readings):
    broken = dict(readings[0], seq=-1)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
