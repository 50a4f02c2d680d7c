"""Event payload v1: checked against the published JSON Schema (an independent oracle) and hand-worked local times."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import jsonschema
import numpy as np
import orjson
import pytest

from metersim.config.topics import EVENT_TOPIC_FIELDS
from metersim.encoders import DEFAULT_EVENT_TOPIC, EVENT_ENCODERS, event_encoder_for
from metersim.encoders.events import JsonEventEncoder
from metersim.records import EVENT_CODES, EVENT_NAMES, EventBatch, MeterSet
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "event-v1.json").read_text())
READING_SCHEMA = json.loads((ROOT / "schemas" / "reading-v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

JAN_1_UTC = 1_767_225_600  # 2026-01-01T00:00:00Z
SPRING_UTC = 1_774_746_000  # 2026-03-29T01:00:00Z: Amsterdam goes from +01:00 to +02:00
AUTUMN_UTC = 1_792_890_000  # 2026-10-25T01:00:00Z: Amsterdam goes back from +02:00 to +01:00


def meters(
    timezone: str = "Asia/Karachi",
    count: int = 4,
    *,
    group: str = "lahore",
    commodity: str = "electricity",
    region: str = "",
    places: list[dict[str, str]] | None = None,
    prefix: str = "PK-LESCO-",
) -> MeterSet:
    return MeterSet(
        group=group,
        commodity=commodity,
        timezone=timezone,
        region=region,
        count=count,
        make_ids=lambda: [f"{prefix}{k + 1:06d}" for k in range(count)],
        places=places,
    )


def batch(meter_set: MeterSet, at: list[int], time_s: list[int], names: list[str]) -> EventBatch:
    return EventBatch(
        meters=meter_set,
        meters_at=np.array(at, dtype=np.int64),
        time_s=np.array(time_s, dtype=np.int64),
        code=np.array([EVENT_CODES[n] for n in names], dtype=np.int16),
        sent_s=np.array(time_s, dtype=np.int64),
    )


def decoded(events: EventBatch) -> list[dict[str, object]]:
    return [orjson.loads(p) for p in JsonEventEncoder().encode(events)]


def test_one_event_is_compact_json_with_fixed_key_order():
    events = batch(meters(), [2], [JAN_1_UTC + 900], ["power_down"])
    assert JsonEventEncoder().encode(events) == [
        b'{"meter_id":"PK-LESCO-000003","schema":"metersim/event/v1","group":"lahore","commodity":"electricity",'
        b'"ts":"2026-01-01T05:15:00+05:00","code":1,"event":"power_down"}'
    ]


def test_every_event_code_encodes_to_a_payload_valid_against_the_schema():
    names = list(EVENT_CODES)
    events = batch(
        meters(count=len(names)), list(range(len(names))), [JAN_1_UTC + 60 * k for k in range(len(names))], names
    )
    payloads = decoded(events)
    assert [p["event"] for p in payloads] == names
    assert [p["code"] for p in payloads] == [EVENT_CODES[n] for n in names]
    for payload in payloads:
        VALIDATOR.validate(payload)


def test_gas_meters_and_other_groups_validate_too():
    gas = meters("Asia/Tashkent", 2, group="tashkent", commodity="gas", prefix="UZ-GAS-")
    payloads = decoded(batch(gas, [0, 1], [JAN_1_UTC, JAN_1_UTC], ["power_up", "magnetic_field_detected"]))
    assert [(p["meter_id"], p["group"], p["commodity"]) for p in payloads] == [
        ("UZ-GAS-000001", "tashkent", "gas"),
        ("UZ-GAS-000002", "tashkent", "gas"),
    ]
    assert {p["ts"] for p in payloads} == {"2026-01-01T05:00:00+05:00"}  # Tashkent is UTC+5 all year
    for payload in payloads:
        VALIDATOR.validate(payload)


def test_karachi_is_five_hours_ahead():
    payloads = decoded(batch(meters(), [0, 1], [JAN_1_UTC, JAN_1_UTC + 19 * 3600 + 1], ["power_down", "power_up"]))
    assert [p["ts"] for p in payloads] == ["2026-01-01T05:00:00+05:00", "2026-01-02T00:00:01+05:00"]


@pytest.mark.parametrize(
    ("epoch_s", "local"),
    [
        (SPRING_UTC - 1, "2026-03-29T01:59:59+01:00"),  # the last second of winter time
        (SPRING_UTC, "2026-03-29T03:00:00+02:00"),  # 02:00-03:00 local never happens
        (AUTUMN_UTC - 1800, "2026-10-25T02:30:00+02:00"),  # 02:30 the first time ...
        (AUTUMN_UTC + 1800, "2026-10-25T02:30:00+01:00"),  # ... and again an hour later: told apart by the offset
    ],
)
def test_amsterdam_offsets_follow_daylight_saving_time(epoch_s, local):
    nl = meters("Europe/Amsterdam", 1, group="amsterdam", prefix="NL-")
    (payload,) = decoded(batch(nl, [0], [epoch_s], ["meter_cover_removed"]))
    assert payload["ts"] == local
    assert datetime.fromisoformat(local) == datetime.fromtimestamp(epoch_s, timezone.utc)  # the same instant
    assert datetime.fromtimestamp(epoch_s, ZoneInfo("Europe/Amsterdam")).isoformat() == local  # zoneinfo agrees
    VALIDATOR.validate(payload)


def test_the_schema_pairs_each_code_with_its_name_only():
    assert {(b["properties"]["code"]["const"], b["properties"]["event"]["const"]) for b in SCHEMA["oneOf"]} == set(
        EVENT_NAMES.items()
    )
    (good,) = decoded(batch(meters(), [0], [JAN_1_UTC], ["power_down"]))
    for broken in (
        dict(good, event="power_up"),  # name of another code
        dict(good, code=999),  # no such code
        dict(good, ts="2026-01-01T05:00:00"),  # no offset
        dict(good, schema="metersim/event/v2"),
        {k: v for k, v in good.items() if k != "schema"},
        dict(good, extra=1),
    ):
        with pytest.raises(jsonschema.ValidationError):
            VALIDATOR.validate(broken)


def test_an_event_is_never_a_valid_reading():
    (event,) = decoded(batch(meters(), [0], [JAN_1_UTC], ["power_down"]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, READING_SCHEMA)
    # what lets a reader of a mixed stream tell them apart
    assert READING_SCHEMA["properties"]["schema"]["const"] != event["schema"]


def test_an_empty_batch_encodes_to_nothing():
    empty = batch(meters(), [], [], [])
    encoder = JsonEventEncoder()
    assert encoder.encode(empty) == []
    assert encoder.topics(empty, DEFAULT_EVENT_TOPIC) == []


def test_default_topic_and_the_event_field():
    events = batch(meters(), [1, 3], [JAN_1_UTC, JAN_1_UTC], ["power_down", "terminal_cover_removed"])
    encoder = JsonEventEncoder()
    assert encoder.topics(events, DEFAULT_EVENT_TOPIC) == [
        "metersim/electricity/PK-LESCO-000002/event",
        "metersim/electricity/PK-LESCO-000004/event",
    ]
    assert encoder.topics(events, "{group}/{meter_id}/{event}") == [
        "lahore/PK-LESCO-000002/power_down",
        "lahore/PK-LESCO-000004/terminal_cover_removed",
    ]


def test_topics_take_the_places_of_the_reading_topics():
    places = [{"region": "lahore", "substation": "S1", "feeder": "F1", "transformer": f"T{k}"} for k in range(2)]
    gridded = meters(count=2, places=places)
    template = "{region}/{substation}/{feeder}/{transformer}/{meter_id}/{event}"
    events = batch(gridded, [1], [JAN_1_UTC], ["current_mismatch"])
    assert JsonEventEncoder().topics(events, template) == ["lahore/S1/F1/T1/PK-LESCO-000002/current_mismatch"]
    # without a grid: the group's region, the rest empty (as for readings)
    plain = batch(meters(count=2, region="punjab"), [0], [JAN_1_UTC], ["power_up"])
    assert JsonEventEncoder().topics(plain, "{region}|{substation}|{meter_id}") == ["punjab||PK-LESCO-000001"]


def test_every_topic_field_renders():
    template = "/".join("{" + f + "}" for f in EVENT_TOPIC_FIELDS)
    (topic,) = JsonEventEncoder().topics(batch(meters(region="r"), [0], [JAN_1_UTC], ["power_up"]), template)
    assert topic == "PK-LESCO-000001/electricity/lahore/r////////power_up"  # no grid, DCU or hardware: empty


def test_the_registry_has_a_json_event_encoder_and_none_for_unknown_formats():
    assert EVENT_ENCODERS["json"] is JsonEventEncoder
    assert isinstance(event_encoder_for("json"), JsonEventEncoder)
    assert event_encoder_for("dsmr") is None
