"""SenML packs (RFC 8428) checked by an independent resolver and a JSON Schema written here from the RFC.

The oracles are this file's own: the JSON Schema transcribes the CDDL of RFC 8428 §11 for the JSON
representation (§5), ``resolve`` implements the resolution rules of §4.6, and the SenML units are the
IANA registry's (RFC 8428 §12.1 with RFC 8798 §2). The packs of a real simulation must resolve to the
names, absolute times and values that payload v1 carries for the same readings.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import jsonschema
import numpy as np
import pytest

from metersim.encoders.json import JsonEncoder
from metersim.encoders.senml import CONTENT_TYPE, SenmlEncoder, name_problem
from metersim.engine import Observer
from metersim.records import Instantaneous, MeterSet, Observation, ReadingBatch, RegisterValues
from tests.conftest import make_scenario, run_to_memory

# --- RFC 8428 §11 (CDDL), JSON representation (§5): binary values are base64url strings -------------
NUMBER = {"type": "number"}
STRING = {"type": "string"}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bn": STRING,
        "bt": NUMBER,
        "bu": STRING,
        "bv": NUMBER,
        "bs": NUMBER,
        "bver": {"type": "integer", "minimum": 0},  # uint
        "n": STRING,
        "u": STRING,
        "s": NUMBER,
        "t": NUMBER,
        "ut": NUMBER,
        "v": NUMBER,
        "vs": STRING,
        "vb": {"type": "boolean"},
        "vd": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
    },
    # `* key-value-pair`: non-b-label "[A-Zac-z][-_:.A-Za-z0-9]*" or b-label "b[-_:.A-Za-z0-9]+"
    "propertyNames": {"pattern": "^([A-Zac-z][-_:.A-Za-z0-9]*|b[-_:.A-Za-z0-9]+)$"},
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    # `? ( v // vs // vb // vd )`: at most one value field
    "dependentSchemas": {
        field: {"not": {"anyOf": [{"required": [other]} for other in ("v", "vs", "vb", "vd") if other != field]}}
        for field in ("v", "vs", "vb", "vd")
    },
}
PACK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "minItems": 1,
    "items": RECORD_SCHEMA,
}
VALIDATOR = jsonschema.Draft202012Validator(PACK_SCHEMA)

# --- the IANA "SenML Units" registry: RFC 8428 §12.1 plus the primary units of RFC 8798 §2 -----------
REGISTRY = """
m kg g s A K cd mol Hz rad sr N Pa J W C V F Ohm S Wb T H Cel lm lx Bq Gy Sv kat m2 m3 l m/s m/s2 m3/s l/s
W/m2 cd/m2 bit bit/s lat lon pH dB dBW Bspl count / % %RH %EL EL 1/s 1/min beat/min beats S/m
B VA VAs var vars J/m kg/m3 deg
"""
PRIMARY_UNITS = set(REGISTRY.split())
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-:./_]*$")  # §4.5.1
RELATIVE_LIMIT = 2**28  # §4.5.3: smaller times are relative to "now"
BASE_FIELDS = ("bn", "bt", "bu", "bv", "bs", "bver")


def resolve(pack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RFC 8428 §4.6: the records of ``pack`` with base fields applied, each self-contained."""
    base: dict[str, Any] = {"bn": "", "bt": 0, "bu": None, "bv": 0, "bs": 0, "bver": 10}
    out = []
    for record in pack:
        unknown = [k for k in record if k.endswith("_")]
        assert not unknown, f"must-understand fields {unknown}"  # §4.4: we understand none
        for field in BASE_FIELDS:
            if field in record:
                base[field] = record[field]
        assert base["bver"] == 10, "a later version needs features this resolver lacks"
        resolved: dict[str, Any] = {"n": base["bn"] + record.get("n", "")}
        assert NAME.match(resolved["n"]), resolved["n"]
        resolved["t"] = base["bt"] + record.get("t", 0)
        unit = record.get("u", base["bu"])
        if unit is not None:
            resolved["u"] = unit
        if "v" in record:
            resolved["v"] = base["bv"] + record["v"]
        for field in ("vs", "vb", "vd"):
            if field in record:
                resolved[field] = record[field]
        if "s" in record:
            resolved["s"] = base["bs"] + record["s"]
        assert {"v", "vs", "vb", "vd", "s"} & set(resolved), f"no value and no sum in {record}"
        out.append(resolved)
    return out


class Collect(Observer):
    def __init__(self) -> None:
        self.batches: list[ReadingBatch] = []

    def observe(self, observation: Observation) -> None:
        for batch in observation.published.batches():
            self.batches.append(batch.take(np.flatnonzero(batch.published)))


def fleet_scenario():
    """Bands, PV, three- and one-phase instantaneous values, grid-side meters, failure counters, gas converters."""
    homes = {
        "name": "homes",
        "commodity": "electricity",
        "count": 8,
        "timezone": "Asia/Karachi",
        "interval_s": 900,
        "annual_kwh": 3000,
        "tariff": "tou",
        "pv": {"fraction": 0.5},
        "instantaneous": {"phases": 3},
        "grid": {"substations": 1, "feeders_per_substation": 2, "transformers_per_feeder": 1},
        "supply": {
            "load_shedding": [
                {"name": "shed", "feeders": ["homes-SS01-F01"], "windows": [{"start": "02:00", "end": "03:00"}]}
            ]
        },
    }
    farms = {
        "name": "farms",
        "commodity": "electricity",
        "count": 4,
        "timezone": "America/Chicago",
        "interval_s": 1800,
        "annual_kwh": 9000,
        "instantaneous": {"phases": 1, "nominal_v": 120, "frequency_hz": 60},
    }
    flats = {
        "name": "flats",
        "commodity": "gas",
        "count": 10,
        "timezone": "Asia/Tashkent",
        "interval_s": 3600,
        "annual_m3": 1500,
        "converter_fraction": 0.5,
    }
    tou = {
        "bands": [{"name": "peak", "windows": [{"start": "01:00", "end": "02:00"}]}, {"name": "offpeak"}],
        "prices": {"peak": 40, "offpeak": 25},
    }
    return make_scenario(
        {
            "simulation": {"start": "2026-01-10T00:00:00+05:00", "duration": "4h", "seed": 5},
            "tariffs": {"tou": tou},
            "fleet": [homes, farms, flats],
            "outputs": [{"type": "discard"}],
        }
    )


@pytest.fixture(scope="module")
def batches() -> list[ReadingBatch]:
    collect = Collect()
    run_to_memory(fleet_scenario(), observers=[collect])
    return [b for b in collect.batches if len(b)]


@pytest.fixture(scope="module")
def packs(batches) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """(SenML pack, payload v1 reading) of every published reading."""
    senml, reference = SenmlEncoder(), JsonEncoder()
    out = []
    for batch in batches:
        for pack, reading in zip(senml.encode(batch), reference.encode(batch), strict=True):
            out.append((json.loads(pack), json.loads(reading)))
    return out


def test_every_pack_is_valid_against_the_rfc_structure(packs):
    assert len(packs) > 100
    for pack, _ in packs:
        VALIDATOR.validate(pack)
        assert set(pack[0]) >= {"bn", "bt"}  # the first record carries the base fields
        assert all(not set(BASE_FIELDS) & set(record) for record in pack[1:])


def test_the_schema_rejects_two_value_fields_and_an_empty_pack():
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate([{"n": "x", "v": 1, "vs": "1"}])
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate([])


def _expected(reading: dict[str, Any]) -> dict[str, tuple[str | None, str, Any]]:
    """Payload v1's reading as SenML should carry it: name -> (unit, field, value), by the module's rules."""
    gas = reading["commodity"] == "gas"

    def energy(value: float) -> int | float:
        return value if gas else round(value * 1000) * 3600  # kWh with three decimals -> Wh -> J

    out: dict[str, tuple[str | None, str, Any]] = {}
    for obis, value in reading["registers"].items():
        if obis.startswith("0-0:96.7."):
            out[obis] = ("count", "v", value)
        else:
            out[obis] = ("m3/s" if gas else "W", "s", energy(value))
    unit = "m3" if gas else "J"
    out["interval"] = (unit, "v", energy(reading["interval"]["value"]))
    if "export" in reading:
        out["export"] = (unit, "v", energy(reading["export"]["value"]))
    if "power" in reading:
        out["power"] = ("W", "v", round(reading["power"]["value"] * 1000))
    units = {"32": "V", "52": "V", "72": "V", "31": "A", "51": "A", "71": "A", "91": "A", "13": "/", "14": "Hz"}
    for obis, value in reading.get("instantaneous", {}).items():
        out[obis] = (units[obis[4:6]], "v", value)
    if "battery_pct" in reading:
        out["battery"] = ("%EL", "v", reading["battery_pct"])
    if "band" in reading:
        out["band"] = (None, "vs", reading["band"])
    out["seq"] = (None, "v", reading["seq"])
    out["quality"] = (None, "vs", reading["quality"])
    return out


def test_packs_resolve_to_the_names_times_and_values_of_payload_v1(packs):
    kinds = set()
    for pack, reading in packs:
        records = resolve(pack)
        prefix = f"urn:dev:os:32473-{reading['meter_id']}:"
        end_s = datetime.fromisoformat(reading["ts"]).timestamp()
        got = {}
        for record in records:
            assert record["n"].startswith(prefix)
            assert record["t"] == end_s and record["t"] >= RELATIVE_LIMIT  # absolute: the interval end
            field = next(f for f in ("v", "vs", "s") if f in record)
            got[record["n"].removeprefix(prefix)] = (record.get("u"), field, record[field])
        assert len(got) == len(records)  # one record per name
        assert got == _expected(reading)
        kinds.add((reading["commodity"], "device" in reading, "instantaneous" in reading))
        kinds.add(("failures", "0-0:96.7.21" in reading["registers"]))
        kinds.add(("converted", "7-0:3.2.0" in reading["registers"]))
    assert kinds >= {("electricity", True, False), ("electricity", False, True), ("gas", False, False)}
    assert {("failures", True), ("converted", True), ("converted", False)} <= kinds


def test_a_register_sum_grows_by_the_interval_value_it_integrates(packs):
    """``s`` is the time integral of the record's rate (§4.2): reading to reading, it grows by the interval."""
    last: dict[str, tuple[int, dict[str, Any]]] = {}
    steps = 0
    for pack, reading in sorted(packs, key=lambda p: (p[1]["meter_id"], p[1]["seq"])):
        prefix = f"urn:dev:os:32473-{reading['meter_id']}:"
        records = {r["n"].removeprefix(prefix): r for r in resolve(pack)}
        register = records["7-0:3.0.0" if reading["commodity"] == "gas" else "1-0:1.8.0"]
        interval = records["interval"]
        previous = last.get(reading["meter_id"])
        if previous is not None and previous[0] == reading["seq"] - 1:
            scale = 1000 if reading["commodity"] == "gas" else 1  # m3 -> litres; J stays J
            grown = round(register["s"] * scale) - round(previous[1]["s"] * scale)
            assert grown == round(interval["v"] * scale)
            steps += 1
        last[reading["meter_id"]] = (reading["seq"], register)
    assert steps > 100


def test_every_unit_is_a_primary_senml_unit_and_energy_is_in_joules(packs):
    units = {record["u"] for pack, _ in packs for record in resolve(pack) if "u" in record}
    assert units <= PRIMARY_UNITS
    assert "kWh" not in units and "Wh" not in units  # RFC 8798 secondary units: not used
    assert {"J", "W", "m3", "m3/s", "V", "A", "/", "Hz", "%EL", "count"} <= units


def _meters(ids: list[str]) -> MeterSet:
    return MeterSet("g", "electricity", "UTC", "", len(ids), make_ids=lambda: ids)


def _hand_batch(ids: list[str]) -> ReadingBatch:
    one = np.array([0])
    return ReadingBatch(
        meters=_meters(ids),
        meters_at=one,
        interval_s=900,
        seq=np.array([7]),
        end_s=np.array([1_767_225_600]),  # 2026-01-01T00:00:00Z
        sent_s=np.array([1_767_225_630]),
        band=np.array([0], dtype=np.int8),
        true_milli=np.array([250]),
        import_milli=np.array([250]),
        registers=RegisterValues(total=np.array([1_234_567])),
        quality=np.array([1], dtype=np.int8),
        published=np.array([True]),
        instantaneous=Instantaneous(np.array([[230.1]]), np.array([[4.52]]), np.array([0.96]), np.array([50.01])),
    )


def test_a_hand_worked_reading():
    (payload,) = SenmlEncoder().encode(_hand_batch(["M-1"]))
    # 1234.567 kWh = 1 234 567 Wh = 4 444 441 200 J; 0.250 kWh in 900 s = 900 000 J at 1000 W
    assert json.loads(payload) == [
        {"bn": "urn:dev:os:32473-M-1:", "bt": 1_767_225_600, "n": "1-0:1.8.0", "u": "W", "s": 4_444_441_200},
        {"n": "interval", "u": "J", "v": 900_000},
        {"n": "power", "u": "W", "v": 1000},
        {"n": "1-0:32.7.0", "u": "V", "v": 230.1},
        {"n": "1-0:31.7.0", "u": "A", "v": 4.52},
        {"n": "1-0:13.7.0", "u": "/", "v": 0.96},
        {"n": "1-0:14.7.0", "u": "Hz", "v": 50.01},
        {"n": "seq", "v": 7},
        {"n": "quality", "vs": "late"},
    ]


def test_the_base_name_template_is_configurable_and_must_be_a_senml_name():
    (payload,) = SenmlEncoder(base_name="urn:dev:os:99999-{meter_id}:").encode(_hand_batch(["M-1"]))
    assert json.loads(payload)[0]["bn"] == "urn:dev:os:99999-M-1:"
    assert name_problem("urn:dev:os:32473-M 1:") is not None
    assert name_problem("-M1") is not None  # must start with a letter or digit
    assert name_problem("urn:dev:os:32473-M_1.a/b:") is None
    with pytest.raises(ValueError, match="not a valid SenML name"):
        SenmlEncoder().encode(_hand_batch(["meter one"]))


def test_topics_render_the_template_and_the_content_type_is_senml_json():
    encoder = SenmlEncoder()
    assert encoder.format == "senml"
    assert encoder.topics(_hand_batch(["M-1"]), "metersim/{commodity}/{meter_id}/senml") == [
        "metersim/electricity/M-1/senml"
    ]
    assert CONTENT_TYPE == encoder.content_type == "application/senml+json"  # RFC 8428 §12.3.1
